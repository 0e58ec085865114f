// The `thingsboard-out` node: msg → ThingsBoard telemetry, client attributes or a claiming
// request through the shared connection of its `thingsboard-device` config node. done() when
// ThingsBoard has the message (PUBACK for QoS 1, written for QoS 0, 2.xx for CoAP), done(err)
// saying why not.
import { batchShapeOf, parseOutOptions, type DeviceMessage } from '../device';
import { claimBody, shapePayload, type PayloadMessage } from '../payload';
import { bindDevice } from './device-binding';
import type { Node, RED } from './red';

interface OutConfig {
  name?: string;
  device?: string;
  kind?: unknown;
  qos?: unknown;
  key?: unknown;
}

export = function (RED: RED) {
  function ThingsboardOut(this: Node, config: OutConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const { kind, qos, key } = parseOutOptions(config);
    const { device, connection, configError, error } = bindDevice(RED, node, config.device, { queued: true });

    node.on('input', (msg, _send, done) => {
      if (!connection || !device) {
        done(new Error(configError));
        return;
      }
      // A message without a ts of its own that goes out in an array publish carries this one.
      const receivedAt = Date.now();
      let message: DeviceMessage;
      try {
        if (kind === 'claim') {
          // Claiming: msg.payload {secretKey, durationMs} (both optional); never batched.
          message = { kind, body: claimBody(msg.payload), qos, receivedAt };
        } else {
          const shaped = shapePayload(msg as unknown as PayloadMessage, { kind, key, maxBytes: device.maxPayloadBytes });
          // Only the shape of `value` is kept: it may be the user's object (see device/batch.ts).
          const batchShape = kind === 'telemetry' ? batchShapeOf(shaped.value) : undefined;
          message = { kind, body: shaped.body, qos, receivedAt, batchShape };
        }
      } catch (err) {
        done(error(err instanceof Error ? err : String(err)));
        return;
      }
      connection.submit(message, (err) => {
        if (err) done(error(err));
        else done();
      });
    });
  }

  RED.nodes.registerType('thingsboard-out', ThingsboardOut);
};
