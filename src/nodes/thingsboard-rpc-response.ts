// The `thingsboard-rpc-response` node (like core `http response`): sends msg.payload as the reply
// to the server-side RPC in msg.rpc, over the connection of the device it came from (msg.rpc.device,
// the config node's id), so it needs no device setting. done() when ThingsBoard has the reply
// (PUBACK / 2.xx), done(err) saying why not.
import type { DeviceError } from '../device';
import { encodeJsonValue } from '../payload';
import { deviceName } from '../payload/gateway';
import { redact } from '../shared';
import type { Node, RED, ThingsboardDeviceNode } from './red';

interface RpcInfo {
  id: number;
  device: string;
}

function rpcInfo(value: unknown): RpcInfo | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { id, device } = value as { id?: unknown; device?: unknown };
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return undefined;
  if (typeof device !== 'string' || device === '') return undefined;
  return { id, device };
}

export = function (RED: RED) {
  function ThingsboardRpcResponse(this: Node, config: { name?: string }) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;

    node.on('input', (msg, _send, done) => {
      const rpc = rpcInfo(msg.rpc);
      if (!rpc) {
        done(new Error(RED._(msg.rpc === undefined ? 'errors.noRpc' : 'errors.badRpc')));
        return;
      }
      const device = RED.nodes.getNode(rpc.device) as ThingsboardDeviceNode | null;
      const connection = device?.connection;
      if (!device || !connection) {
        done(new Error(RED._('errors.deviceGone', { id: rpc.id })));
        return;
      }
      const token = device.secrets ?? String(device.credentials?.accessToken ?? '');
      let body: Buffer;
      try {
        body = encodeJsonValue(msg.payload, device.maxPayloadBytes, 'RPC reply');
      } catch (err) {
        done(new Error(redact(`reply not sent: ${(err as Error).message}`, token)));
        return;
      }
      // A gateway's sub-device RPC (thingsboard-in set msg.device): the reply names the sub-device.
      let replying: Promise<void>;
      if (connection.gateway && msg.device !== undefined) {
        let name: string;
        try {
          name = deviceName(msg.device, 'msg.device');
        } catch (err) {
          done(new Error(`reply not sent: ${(err as Error).message}`));
          return;
        }
        replying = connection.gateway.downlink.reply(name, rpc.id, body);
      } else {
        replying = connection.downlink.reply(rpc.id, body);
      }
      replying.then(
        () => done(),
        (err: DeviceError) => done(new Error(redact(err.message, token))),
      );
    });
  }

  RED.nodes.registerType('thingsboard-rpc-response', ThingsboardRpcResponse);
};
