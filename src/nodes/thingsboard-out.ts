// The `thingsboard-out` node: msg → ThingsBoard telemetry, client attributes or a claiming
// request through the shared connection of its `thingsboard-device` config node. done() when
// ThingsBoard has the message (PUBACK for QoS 1, written for QoS 0, 2.xx for CoAP), done(err)
// saying why not. On a gateway, msg.device names a sub-device (nodes/gateway.ts).
import { batchShapeOf, parseOutOptions, type DeviceError, type DeviceMessage, type GatewayTarget } from '../device';
import { claimBody, shapePayload, type PayloadMessage } from '../payload';
import { wrapperBytes } from '../payload/gateway';
import { bindDevice } from './device-binding';
import { gatewayDefaults, gatewayTarget, type Evaluate } from './gateway';
import type { Node, RED } from './red';

interface OutConfig {
  name?: string;
  device?: string;
  kind?: unknown;
  qos?: unknown;
  key?: unknown;
  deviceName?: unknown;
  deviceType?: unknown;
  deviceNameType?: unknown;
  deviceTypeType?: unknown;
}

/** Room for `{"ts":<13 digits>,"values":…}` around a reading that goes into an array. */
const TS_WRAPPER_BYTES = 32;

export = function (RED: RED) {
  function ThingsboardOut(this: Node, config: OutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const { kind, qos, key } = parseOutOptions(config);
    const { device, connection, configError, error } = bindDevice(RED, node, config.device, { queued: true });
    // A gateway's Sub-device / Profile given as msg.x, flow.x, global.x or env X: looked up per
    // message. Made only on a gateway's out node (most devices are no gateway).
    const defaults = device?.gateway ? gatewayDefaults(config) : undefined;
    const evaluate: Evaluate | undefined = defaults && RED.util
      ? (value, type, msg) => RED.util?.evaluateNodeProperty(value, type, node, msg)
      : undefined;
    const ended = (done: (err?: Error) => void) => (err?: DeviceError) => (err ? done(error(err)) : done());

    node.on('input', (msg, _send, done) => {
      if (!connection || !device) {
        done(new Error(configError));
        return;
      }
      // A message without a ts of its own that goes out in an array publish carries this one.
      const receivedAt = Date.now();
      let message: DeviceMessage;
      let target: GatewayTarget | undefined;
      try {
        // A gateway message may name a sub-device (nodes/gateway.ts); its body then goes into
        // {"<name>":[…]} (claims on v1/gateway/claim), so the reading must leave room for that.
        target = defaults ? gatewayTarget(msg, defaults, evaluate) : undefined;
        if (target?.disconnect) {
          connection.submit({ kind: 'attributes', body: Buffer.alloc(0), qos }, ended(done), target);
          return;
        }
        let maxBytes = device.maxPayloadBytes;
        if (target) {
          target.wrapper = wrapperBytes(target.device);
          maxBytes -= target.wrapper + 2 + (kind === 'telemetry' ? TS_WRAPPER_BYTES : 0);
        }
        if (kind === 'claim') {
          // Claiming: msg.payload {secretKey, durationMs} (both optional); never batched.
          message = { kind, body: claimBody(msg.payload), qos, receivedAt };
        } else {
          const shaped = shapePayload(msg as unknown as PayloadMessage, { kind, key, maxBytes });
          // Only the shape of `value` is kept: it may be the user's object (see device/batch.ts).
          const batchShape = kind === 'telemetry' ? batchShapeOf(shaped.value) : undefined;
          message = { kind, body: shaped.body, qos, receivedAt, batchShape };
        }
      } catch (err) {
        done(error(err instanceof Error ? err : String(err)));
        return;
      }
      connection.submit(message, ended(done), target);
    });
  }

  RED.nodes.registerType('thingsboard-out', ThingsboardOut);
};
