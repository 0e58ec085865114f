// The `thingsboard-out` node: msg → ThingsBoard telemetry or client attributes through the
// shared connection of its `thingsboard-device` config node. done() when ThingsBoard has the
// message (PUBACK for QoS 1, written for QoS 0, 2.xx for CoAP), done(err) saying why not.
import { batchShapeOf, type DeviceError, type DeviceMessage, type DeviceUser } from '../device';
import { claimBody, shapePayload, type PayloadMessage } from '../payload';
import { redact, type DataKind } from '../shared';
import { findDevice, statusShower } from './device-status';
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
    const configured = String(config.kind ?? 'telemetry').trim();
    const kind: DataKind = configured === 'attributes' || configured === 'claim' ? configured : 'telemetry';
    const qos: 0 | 1 = String(config.qos ?? '1').trim() === '0' ? 0 : 1;
    const key = config.key === undefined || config.key === null ? '' : String(config.key).trim();
    const { device, connection, configError, token } = findDevice(RED, node, config.device);
    const user: DeviceUser = { onStatus: statusShower(RED, node, token, { queued: true }).show };
    if (connection) connection.register(user);

    node.on('input', (msg, _send, done) => {
      if (configError || !connection || !device) {
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
          connection.submit(message, (err?: DeviceError) => (err ? done(new Error(redact(err.message, token()))) : done()));
          return;
        }
        const shaped = shapePayload(msg as unknown as PayloadMessage, { kind, key, maxBytes: device.maxPayloadBytes });
        // Only the shape of `value` is kept: it may be the user's object (see device/batch.ts).
        const batchShape = kind === 'telemetry' ? batchShapeOf(shaped.value) : undefined;
        message = { kind, body: shaped.body, qos, receivedAt, batchShape };
      } catch (err) {
        done(new Error(redact(err instanceof Error ? err.message : String(err), token())));
        return;
      }
      connection.submit(message, (err?: DeviceError) => {
        if (err) done(new Error(redact(err.message, token())));
        else done();
      });
    });

    node.on('close', (_removed, done) => {
      if (!connection) return done();
      connection.deregister(user).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('thingsboard-out', ThingsboardOut);
};
