// The `thingsboard-out` node: msg → ThingsBoard telemetry or client attributes through the
// shared connection of its `thingsboard-device` config node. done() when ThingsBoard has the
// message (PUBACK for QoS 1, written for QoS 0, 2.xx for CoAP), done(err) saying why not.
import { batchShapeOf } from '../device/batch';
import type { DeviceError, DeviceUser } from '../device/connection';
import { statusView, type DeviceStatus } from '../device/status';
import { shapePayload, type PayloadMessage } from '../payload';
import { redact } from '../transports/redact';
import type { DataKind, OutboundMessage } from '../transports/transport';
import type { Node, NodeStatus, RED, ThingsboardDeviceNode } from './red';

interface OutConfig {
  name?: string;
  device?: string;
  kind?: unknown;
  qos?: unknown;
  key?: unknown;
}

/** Stands for the number in the translated "queued" text (no translation contains it). */
const COUNT_MARK = '\u0000#';

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

    // Translating (i18next) costs ~17 µs: texts are cached per key and parameter, and
    // node.status is only called when what it shows changes.
    const texts = new Map<string, string>();
    const translate = (key: string, params?: Record<string, string | number>): string => {
      const id = params ? `${key}|${Object.values(params).join('|')}` : key;
      let text = texts.get(id);
      if (text === undefined) {
        if (texts.size >= 64) texts.clear(); // counts and seconds vary: keep it small
        text = RED._(`status.${key}`, params);
        texts.set(id, text);
      }
      return text;
    };
    // The queue count changes all the time under load: translate its text once, fill in the number.
    let queuedTemplate: string | undefined;
    const queuedText = (count: number): string => {
      if (queuedTemplate === undefined) queuedTemplate = RED._('status.queued', { count: COUNT_MARK });
      return queuedTemplate.includes(COUNT_MARK) ? queuedTemplate.replace(COUNT_MARK, String(count)) : RED._('status.queued', { count });
    };
    let shown: NodeStatus | undefined;
    const showStatus = (status: DeviceStatus): void => {
      const view = statusView(status);
      let next: NodeStatus = {};
      if (view) {
        let text = translate(view.key, view.params);
        if (view.queued > 0) text += ` · ${queuedText(view.queued)}`;
        if (view.lastFailure) text += ` · ${translate('lastFailed', { code: view.lastFailure })}`;
        next = { fill: view.fill, shape: view.shape, text: redact(text, token()) };
      }
      if (shown && shown.fill === next.fill && shown.shape === next.shape && shown.text === next.text) return;
      shown = next;
      node.status(next);
    };
    const user: DeviceUser = { onStatus: showStatus };

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
      // A message without a ts of its own that goes out in an array publish carries this one.
      const receivedAt = Date.now();
      let message: OutboundMessage;
      try {
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
