// The `thingsboard-in` node: what ThingsBoard pushes to its device, as messages. Shared
// attributes (the keys it names, or all; on every (re)connect the current values once, marked
// msg.initial) or server-side RPC commands (the methods it names, or all), which a
// thingsboard-rpc-response node answers through msg.rpc. It rides on the device's one connection.
import { nameList, parseInOptions, type DownlinkListener, type GatewayListener } from '../device';
import { redact } from '../shared';
import { bindDevice } from './device-binding';
import type { Node, RED } from './red';

interface InConfig {
  name?: string;
  device?: string;
  receive?: unknown;
  keys?: unknown;
  initial?: unknown;
  methods?: unknown;
  /** Gateway: the sub-device names to take (empty = the gateway's own and every sub-device). */
  devices?: unknown;
}

type Sender = { send(msg: unknown): void };

export = function (RED: RED) {
  function ThingsboardIn(this: Node & Sender, config: InConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const { channel, names, initial } = parseInOptions(config);
    const deviceId = String(config.device);
    let lastError: string | undefined;
    const listener: DownlinkListener = {
      channel,
      names,
      initial,
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
        binding.status.clearProblem();
      },
      onError(err) {
        const text = redact(err.message, binding.token());
        if (err.subscriptionRefused) binding.status.problem('subscriptionRefused');
        // Once per distinct failure: a refusal repeated on every reconnect is one log line.
        if (text === lastError) return;
        lastError = text;
        // With a msg, so a Catch node sees it.
        node.error(text, { topic: channel, code: err.code });
      },
    };
    // On a gateway: the gateway's own downlink (as on any device) unless the node names
    // sub-devices, and the sub-devices' (msg.device = the name).
    const devices = nameList(config.devices);
    const subListener: GatewayListener = {
      channel,
      devices,
      names,
      initial,
      onAttributes(name, values, deleted, isInitial) {
        const msg: Record<string, unknown> = { topic: 'attributes', payload: values, device: name };
        if (deleted) msg.deleted = deleted;
        if (isInitial) msg.initial = true;
        node.send(msg);
      },
      onRpc(request) {
        node.send({ topic: request.method, payload: request.params, device: request.device, rpc: { id: request.id, method: request.method, device: deviceId } });
      },
      onReady: () => listener.onReady?.(),
      onError: (err) => listener.onError(err),
    };
    const binding = bindDevice(RED, node, config.device, {
      onClose: () => {
        binding.connection?.downlink.unlisten(listener);
        binding.connection?.gateway?.downlink.unlisten(subListener);
      },
    });
    const gateway = binding.connection?.gateway;
    if (!gateway || devices.length === 0) binding.connection?.downlink.listen(listener);
    gateway?.downlink.listen(subListener);
  }

  RED.nodes.registerType('thingsboard-in', ThingsboardIn);
};
