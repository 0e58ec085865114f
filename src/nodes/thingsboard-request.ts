// The `thingsboard-request` node (like core `http request`): asks ThingsBoard and sends the same
// msg on with msg.payload = the answer. An attribute request ({client, shared}) or a client-side
// RPC (the rule chain's result). No answer within the timeout → done(err), nothing sent; while
// the connection is down a request waits for it, within the same timeout.
import type { DeviceError, DeviceUser } from '../device';
import { encodeJsonValue } from '../payload';
import { redact } from '../shared';
import { findDevice, nameList, statusShower } from './device-status';
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

const DEFAULT_TIMEOUT_S = 10;
/** ThingsBoard's own client-side RPC timeout is 60 s; a day is the sane ceiling. */
const MAX_TIMEOUT_S = 86_400;

export = function (RED: RED) {
  function ThingsboardRequest(this: Node, config: RequestConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const kind = String(config.request ?? 'attributes').trim() === 'rpc' ? 'rpc' : 'attributes';
    const clientKeys = nameList(config.clientKeys);
    const sharedKeys = nameList(config.sharedKeys);
    const method = config.method === undefined || config.method === null ? '' : String(config.method).trim();
    const rawTimeout = config.timeout === undefined || config.timeout === null || String(config.timeout).trim() === '' ? DEFAULT_TIMEOUT_S : Number(config.timeout);
    const timeoutProblem = !Number.isFinite(rawTimeout) || rawTimeout <= 0 || rawTimeout > MAX_TIMEOUT_S;
    const timeoutMs = Math.round((timeoutProblem ? DEFAULT_TIMEOUT_S : rawTimeout) * 1000);
    const { connection, device, configError, token } = findDevice(RED, node, config.device);
    if (timeoutProblem) node.warn(RED._('errors.badTimeout', { value: String(config.timeout), seconds: DEFAULT_TIMEOUT_S }));
    const status = statusShower(RED, node, token);
    const user: DeviceUser = { onStatus: (s) => status.show(s) };
    if (connection && !configError) connection.register(user);

    node.on('input', (msg, send, done) => {
      if (configError || !connection || !device) {
        done(new Error(configError));
        return;
      }
      const fail = (err: Error | DeviceError) => done(new Error(redact(err.message, token())));
      const answered = (answer: unknown) => {
        msg.payload = answer;
        send(msg);
        done();
      };
      if (kind === 'attributes') {
        // msg.payload {clientKeys, sharedKeys} overrides the node's lists (each on its own).
        const p = msg.payload && typeof msg.payload === 'object' && !Array.isArray(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
        const query = {
          clientKeys: p.clientKeys !== undefined ? nameList(p.clientKeys) : clientKeys,
          sharedKeys: p.sharedKeys !== undefined ? nameList(p.sharedKeys) : sharedKeys,
        };
        connection.downlink.requestAttributes(query, timeoutMs, node).then((a) => {
          // Both parts always present, so a flow can read msg.payload.shared.x without checks.
          answered({ client: a?.client ?? {}, shared: a?.shared ?? {} });
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

    node.on('close', (_removed, done) => {
      if (!connection || configError) return done();
      // Its waiting requests end now (done(err)), not at their timeout after the node is gone.
      connection.downlink.cancel(node);
      connection.deregister(user).then(
        () => done(),
        () => done(),
      );
    });
  }

  RED.nodes.registerType('thingsboard-request', ThingsboardRequest);
};
