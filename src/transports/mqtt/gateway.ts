// ThingsBoard's gateway API on MQTT: the downlink bodies ThingsBoard sends on v1/gateway/*,
// parsed STRICTLY. A body that is not exactly one of ThingsBoard's shapes is not a command: a
// broker such as mosquitto sends a client its own publishes back on the topics it subscribed,
// and the gateway itself publishes on v1/gateway/attributes (client attributes {"A":{..}}) and
// v1/gateway/rpc (replies {"device","id","data"}), which must never turn into updates or RPC.
import type { GatewayAttributes, GatewayRpc } from '../transport';
import type { Waiting } from '../../deadline';
import type { MqttDownlinkHost as DownlinkHost } from './downlink';

export const GATEWAY_TOPICS = {
  attributes: 'v1/gateway/attributes',
  rpc: 'v1/gateway/rpc',
  attributesResponse: 'v1/gateway/attributes/response',
  disconnect: 'v1/gateway/disconnect',
} as const;

/** An attribute request of a sub-device waiting for its answer. */
export interface GatewayWaiting extends Waiting<unknown> {
  device: string;
  /** The one key asked with "key": ThingsBoard's {"value": v} does not repeat its name. */
  key?: string;
}

/**
 * A message on a v1/gateway/* topic: sub-device RPC, shared-attribute updates, answers to
 * attribute requests, MQTT 5 disconnect notices. `seenRpc` (`device\u0000id`) holds the RPCs
 * delivered on this connection (a DUP redelivery is not a new command).
 */
export function receiveGateway(topic: string, payload: Buffer, host: DownlinkHost, seenRpc: Set<string>, answers: Map<number, GatewayWaiting>): void {
  const isRpc = topic === GATEWAY_TOPICS.rpc;
  const isAttributes = topic === GATEWAY_TOPICS.attributes;
  const isAnswer = topic === GATEWAY_TOPICS.attributesResponse;
  const isDisconnect = topic === GATEWAY_TOPICS.disconnect;
  if (!isRpc && !isAttributes && !isAnswer && !isDisconnect) return;
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    host.emit('debug', `dropped a message on ${topic}: its body is not JSON (${payload.length} bytes)`);
    return;
  }
  if (isAnswer) return receiveAnswer(value, host, answers);
  if (isDisconnect) {
    // MQTT 5: ThingsBoard ended one sub-device's session ({"device","reason"}), e.g. its rate limit.
    const body = value as { device?: unknown; reason?: unknown } | null;
    if (body && typeof body.device === 'string' && body.device !== '') host.emit('gateway-disconnect', { device: body.device, reason: body.reason });
    return;
  }
  const parsed = isRpc ? parseGatewayRpc(value) : parseGatewayAttributes(value);
  if (!parsed.ok) {
    // Most often the broker echoing our own publish on this topic (mosquitto does).
    host.emit('debug', `dropped a message on ${topic} that is not ThingsBoard's shape (${parsed.reason}): not a command`);
    return;
  }
  if (isRpc) {
    const rpc = parsed.value as GatewayRpc;
    const seen = `${rpc.device}\u0000${rpc.id}`;
    if (seenRpc.has(seen)) return; // a redelivery (DUP) of a command the flow has
    seenRpc.add(seen);
    host.emit('gateway-rpc', rpc);
    return;
  }
  host.emit('gateway-attributes', parsed.value as GatewayAttributes);
}

function receiveAnswer(value: unknown, host: DownlinkHost, answers: Map<number, GatewayWaiting>): void {
  const parsed = parseGatewayAttributesResponse(value);
  if (!parsed.ok) {
    host.emit('debug', `dropped a message on ${GATEWAY_TOPICS.attributesResponse} that is not ThingsBoard's shape (${parsed.reason})`);
    return;
  }
  const { id, device } = parsed.value;
  const w = answers.get(id);
  if (!w || w.device !== device) return; // late (timed out) or not ours: dropped
  answers.delete(id);
  if (parsed.value.values) return w.resolve(parsed.value.values);
  w.resolve(w.key !== undefined && Object.prototype.hasOwnProperty.call(parsed.value, 'value') ? { [w.key]: parsed.value.value } : {});
}

/** Why a body is not ThingsBoard's downlink shape (brokers echo a gateway's own publishes). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactlyKeys(o: Record<string, unknown>, keys: string[]): boolean {
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
}

/** v1/gateway/rpc from the server: {"device":"A","data":{"id":7,"method":"m","params":..}}. */
export function parseGatewayRpc(value: unknown): Parsed<GatewayRpc> {
  if (!isRecord(value) || !exactlyKeys(value, ['device', 'data'])) return { ok: false, reason: 'not {"device","data"}' };
  const { device, data } = value;
  if (typeof device !== 'string' || device === '') return { ok: false, reason: '"device" is not a name' };
  if (!isRecord(data)) return { ok: false, reason: '"data" is not an object' };
  const { id, method } = data;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { ok: false, reason: 'no numeric data.id' };
  if (typeof method !== 'string' || method === '') return { ok: false, reason: 'no data.method' };
  return { ok: true, value: { device, id, method, params: data.params } };
}

/** v1/gateway/attributes from the server: {"device":"A","data":{"k":v,"deleted":[..]}}. */
export function parseGatewayAttributes(value: unknown): Parsed<GatewayAttributes> {
  if (!isRecord(value) || !exactlyKeys(value, ['device', 'data'])) return { ok: false, reason: 'not {"device","data"}' };
  const { device, data } = value;
  if (typeof device !== 'string' || device === '') return { ok: false, reason: '"device" is not a name' };
  if (!isRecord(data)) return { ok: false, reason: '"data" is not an object' };
  const values = { ...data };
  const out: GatewayAttributes = { device, values };
  if (Array.isArray(values.deleted)) {
    out.deleted = values.deleted.map(String);
    delete values.deleted;
  }
  return { ok: true, value: out };
}

/**
 * v1/gateway/attributes/response: {"id":1,"device":"A","value":v} (one key asked) or
 * {"id":1,"device":"A","values":{..}} (several). Returns the id, the device and the values as an
 * object; `key` is the single key the request named (ThingsBoard's "value" form does not name it).
 */
export function parseGatewayAttributesResponse(value: unknown): Parsed<{ id: number; device: string; value?: unknown; values?: Record<string, unknown> }> {
  if (!isRecord(value)) return { ok: false, reason: 'not an object' };
  const { id, device } = value;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return { ok: false, reason: 'no numeric "id"' };
  if (typeof device !== 'string' || device === '') return { ok: false, reason: '"device" is not a name' };
  if (Object.prototype.hasOwnProperty.call(value, 'values')) {
    if (!isRecord(value.values)) return { ok: false, reason: '"values" is not an object' };
    return { ok: true, value: { id, device, values: value.values } };
  }
  if (Object.prototype.hasOwnProperty.call(value, 'value')) return { ok: true, value: { id, device, value: value.value } };
  // Nothing found for the keys asked: ThingsBoard sends the id and device alone.
  return { ok: true, value: { id, device, values: {} } };
}
