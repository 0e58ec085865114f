// The `thingsboard-out` node: msg → ThingsBoard telemetry or client attributes through the
// shared connection of its `thingsboard-device` config node. done() when ThingsBoard has the
// message (PUBACK for QoS 1, written for QoS 0, 2.xx for CoAP), done(err) saying why not.
import type { DeviceUser } from '../device/connection';
import { statusView, type DeviceStatus } from '../device/status';
import { shapePayload, type PayloadMessage } from '../payload';
import { redact } from '../transports/redact';
import type { DataKind } from '../transports/transport';
import type { Node, NodeStatus, RED, ThingsboardDeviceNode } from './red';

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
    const kind: DataKind = String(config.kind ?? 'telemetry').trim() === 'attributes' ? 'attributes' : 'telemetry';
    const qos: 0 | 1 = String(config.qos ?? '1').trim() === '0' ? 0 : 1;
    const key = config.key === undefined || config.key === null ? '' : String(config.key).trim();
    const device = (config.device ? RED.nodes.getNode(config.device) : null) as ThingsboardDeviceNode | null;
    const connection = device?.connection;
    const token = () => String(device?.credentials?.accessToken ?? '');

    const statusText = (status: DeviceStatus): NodeStatus => {
      const view = statusView(status);
      if (!view) return {};
      let text = RED._(`status.${view.key}`, view.params);
      if (view.queued > 0) text += ` · ${RED._('status.queued', { count: view.queued })}`;
      return { fill: view.fill, shape: view.shape, text: redact(text, token()) };
    };
    const user: DeviceUser = { onStatus: (status) => node.status(statusText(status)) };

    let configError: string | undefined;
    if (!device) {
      configError = RED._('errors.noDevice');
      node.status({ fill: 'red', shape: 'dot', text: RED._('status.noDevice') });
    } else if (!connection) {
      const problems = device.problems.join('; ');
      configError = RED._('errors.configProblems', { problems });
      node.status({ fill: 'red', shape: 'dot', text: RED._('status.configError', { problem: device.problems[0] ?? '' }) });
    } else {
      connection.register(user);
    }

    node.on('input', (msg, _send, done) => {
      if (configError || !connection || !device) {
        done(new Error(configError));
        return;
      }
      let body: Buffer;
      try {
        body = shapePayload(msg as unknown as PayloadMessage, { kind, key, maxBytes: device.maxPayloadBytes }).body;
      } catch (err) {
        done(new Error(redact(err instanceof Error ? err.message : String(err), token())));
        return;
      }
      connection.send({ kind, body, qos }).then(
        () => done(),
        (err: unknown) => done(new Error(redact(err instanceof Error ? err.message : String(err), token()))),
      );
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
