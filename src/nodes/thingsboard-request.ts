// The `thingsboard-request` node (like core `http request`): asks ThingsBoard and sends the same
// msg on with msg.payload = the answer. An attribute request ({client, shared}) or a client-side
// RPC (the rule chain's result). No answer within the timeout → done(err), nothing sent; while
// the connection is down a request waits for it, within the same timeout.
import { nameList, parseRequestOptions, REQUEST_TIMEOUT_S } from '../device';
import { encodeJsonValue } from '../payload';
import { deviceName } from '../payload/gateway';
import { bindDevice } from './device-binding';
import type { Node, RED } from './red';

interface RequestConfig {
  name?: string;
  device?: string;
  request?: unknown;
  clientKeys?: unknown;
  sharedKeys?: unknown;
  method?: unknown;
  timeout?: unknown;
}

export = function (RED: RED) {
  function ThingsboardRequest(this: Node, config: RequestConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const { request, clientKeys, sharedKeys, method, timeoutMs, badTimeout } = parseRequestOptions(config);
    // A gateway's sub-device requests end with the node too (bindDevice cancels the device's own).
    const { connection, device, configError, error } = bindDevice(RED, node, config.device, { onClose: () => connection?.gateway?.downlink.cancel(node) });
    if (badTimeout !== undefined) node.warn(RED._('errors.badTimeout', { value: badTimeout, seconds: REQUEST_TIMEOUT_S.default }));

    node.on('input', (msg, send, done) => {
      if (!connection || !device) {
        done(new Error(configError));
        return;
      }
      const fail = (err: Error) => done(error(err));
      const answered = (answer: unknown) => {
        msg.payload = answer;
        send(msg);
        done();
      };
      // A gateway's sub-device (msg.device): attributes through v1/gateway/attributes/request.
      let subDevice: string | undefined;
      if (connection.gateway && msg.device !== undefined) {
        try {
          subDevice = deviceName(msg.device, 'msg.device');
        } catch (err) {
          fail(new Error(`request not sent: ${(err as Error).message}`));
          return;
        }
        if (request === 'rpc') {
          fail(new Error(`request not sent: ThingsBoard has no client-side RPC for a gateway's sub-device (msg.device ${JSON.stringify(subDevice)}); send it without msg.device as the gateway's own RPC, or use server-side RPC for the sub-device`));
          return;
        }
      }
      if (request === 'attributes') {
        // msg.payload {clientKeys, sharedKeys} overrides the node's lists (each on its own).
        const p = msg.payload && typeof msg.payload === 'object' && !Array.isArray(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
        const query = {
          clientKeys: p.clientKeys !== undefined ? nameList(p.clientKeys) : clientKeys,
          sharedKeys: p.sharedKeys !== undefined ? nameList(p.sharedKeys) : sharedKeys,
        };
        if (subDevice !== undefined && connection.gateway) {
          connection.gateway.downlink.requestAttributes(subDevice, query, timeoutMs, node).then(answered, fail);
          return;
        }
        connection.downlink.requestAttributes(query, timeoutMs, node).then((a) => {
          // Both parts always present, so a flow can read msg.payload.shared.x without checks.
          answered({ client: a.client ?? {}, shared: a.shared ?? {} });
        }, fail);
        return;
      }
      const name = typeof msg.topic === 'string' && msg.topic.trim() !== '' ? msg.topic.trim() : method;
      if (!name) {
        done(new Error(RED._('errors.noMethod')));
        return;
      }
      let params: unknown;
      try {
        // Checked by the telemetry value rules (no NaN, cycles, functions ...); none → {}.
        params = msg.payload === undefined ? {} : JSON.parse(encodeJsonValue(msg.payload, device.maxPayloadBytes, 'RPC params').toString('utf8'));
      } catch (err) {
        fail(new Error(`request not sent: ${(err as Error).message}`));
        return;
      }
      connection.downlink.callRpc(name, params, timeoutMs, node).then(answered, fail);
    });
  }

  RED.nodes.registerType('thingsboard-request', ThingsboardRequest);
};
