// The `thingsboard-in` node: what ThingsBoard pushes to its device, as messages. Shared
// attributes (the keys it names, or all; on every (re)connect the current values once, marked
// msg.initial) or server-side RPC commands (the methods it names, or all), which a
// thingsboard-rpc-response node answers through msg.rpc. It rides on the device's one connection.
import type { DeviceUser, DownlinkListener } from '../device';
import { redact } from '../shared';
import { findDevice, nameList, statusShower } from './device-status';
import type { Node, RED } from './red';

interface InConfig {
  name?: string;
  device?: string;
  receive?: unknown;
  keys?: unknown;
  initial?: unknown;
  methods?: unknown;
}

type Sender = { send(msg: unknown): void };

export = function (RED: RED) {
  function ThingsboardIn(this: Node & Sender, config: InConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const receive = String(config.receive ?? 'attributes').trim() === 'rpc' ? 'rpc' : 'attributes';
    const names = nameList(receive === 'rpc' ? config.methods : config.keys);
    // Default on: a flow should start from the real state (hand-written flows may omit it).
    const initial = !(config.initial === false || String(config.initial).trim() === 'false');
    const { connection, configError, token } = findDevice(RED, node, config.device);
    if (configError || !connection) {
      node.on('close', (_removed, done) => done());
      return;
    }
    const deviceId = String(config.device);
    const status = statusShower(RED, node, token);
    const user: DeviceUser = { onStatus: (s) => status.show(s) };
    let lastError: string | undefined;

    const listener: DownlinkListener = {
      channel: receive,
      names,
      initial: receive === 'attributes' && initial,
      onAttributes(values, deleted, isInitial) {
        const msg: Record<string, unknown> = { topic: 'attributes', payload: values };
        if (deleted) msg.deleted = deleted;
        if (isInitial) msg.initial = true;
        node.send(msg);
      },
      onRpc(request) {
        // Plain data: it survives Node-RED's message cloning on its way to the response node.
        node.send({ topic: request.method, payload: request.params, rpc: { id: request.id, method: request.method, device: deviceId } });
      },
      onReady() {
        lastError = undefined;
        status.clearProblem();
      },
      onError(err) {
        const text = redact(err.message, token());
        if (err.subscriptionRefused) status.problem('subscriptionRefused');
        // Once per distinct failure: a refusal repeated on every reconnect is one log line.
        if (text === lastError) return;
        lastError = text;
        // With a msg, so a Catch node sees it.
        node.error(text, { topic: receive, code: err.code });
      },
    };
    connection.downlink.listen(listener);
    connection.register(user);

    node.on('close', (_removed, done) => {
      connection.downlink.unlisten(listener);
      connection.deregister(user).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('thingsboard-in', ThingsboardIn);
};
