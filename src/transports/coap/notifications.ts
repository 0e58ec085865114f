// What ThingsBoard's CoAP notifications hold, and RFC 7641 §3.4 ordering: pure functions, so the
// observation logic in coap/downlink.ts stays about the protocol's states.
//
// Payloads (ThingsBoard JsonCoapAdaptor / JsonConverter, read from its sources):
// - attributes: `{"key": value, ...}` plus `"deleted": ["k", ...]` when keys were removed. The
//   first response of a registration carries ALL current shared attributes in the same form
//   (ThingsBoard answers the registration with a shared-only attribute request).
// - rpc: `{"id": N, "method": "m", "params": ...}`. The first response of a registration is
//   2.03 Valid with an empty payload.
import type { AttributesAnswer, AttributesUpdate, RpcRequest } from '../transport';
import { diagnosticText } from './codes';

/** Why a notification's or answer's body was not taken; the caller turns it into a (redacted) 'warning'. */
export class NotificationError extends Error {}

function parseJson(payload: Buffer | undefined, what: string): unknown {
  const text = payload ? payload.toString('utf8') : '';
  try {
    return JSON.parse(text);
  } catch {
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new NotificationError(`${what} is not JSON: ${JSON.stringify(shown)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A shared-attribute notification → the contract's AttributesUpdate. */
export function parseAttributesUpdate(payload: Buffer | undefined): AttributesUpdate {
  const body = parseJson(payload, 'a shared-attribute notification');
  if (!isObject(body)) throw new NotificationError('a shared-attribute notification is not a JSON object');
  const { deleted, ...values } = body;
  const update: AttributesUpdate = { values };
  if (Array.isArray(deleted)) update.deleted = deleted.map(String);
  else if (deleted !== undefined) values.deleted = deleted; // an attribute that happens to be called "deleted"
  return update;
}

/** A server-side RPC notification → the contract's RpcRequest. */
export function parseRpcRequest(payload: Buffer | undefined): RpcRequest {
  const body = parseJson(payload, 'an RPC command');
  if (!isObject(body)) throw new NotificationError('an RPC command is not a JSON object');
  const id = typeof body.id === 'number' ? body.id : typeof body.id === 'string' && /^\d+$/.test(body.id) ? Number(body.id) : NaN;
  if (!Number.isSafeInteger(id) || id < 0) throw new NotificationError('an RPC command has no numeric "id"');
  if (typeof body.method !== 'string' || body.method === '') throw new NotificationError(`RPC command ${id} has no "method"`);
  return { id, method: body.method, params: body.params };
}

/** The answer to GET .../attributes?clientKeys=..&sharedKeys=.. */
export function parseAttributesAnswer(payload: Buffer | undefined): AttributesAnswer {
  if (!payload || payload.length === 0) return {};
  const body = parseJson(payload, 'the attribute answer');
  if (!isObject(body)) throw new NotificationError('the attribute answer is not a JSON object');
  const answer: AttributesAnswer = {};
  if (isObject(body.client)) answer.client = body.client;
  if (isObject(body.shared)) answer.shared = body.shared;
  return answer;
}

/** A client-side RPC answer: parsed JSON, or the text when it is not JSON (contract). */
export function parseRpcAnswer(payload: Buffer | undefined): unknown {
  const text = payload ? payload.toString('utf8') : '';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The Observe option's value (0–3 bytes, big-endian; RFC 7641 §2), undefined when absent. */
export function observeNumber(options: ObserveOptions | undefined): number | undefined {
  const option = options?.find((o) => o.name === 'Observe' || o.name === 6);
  if (!option) return undefined;
  // The library converts option values in place once it has read them (Observe → number).
  if (typeof option.value === 'number') return option.value;
  if (!Buffer.isBuffer(option.value)) return undefined;
  let n = 0;
  for (const byte of option.value.subarray(0, 3)) n = (n << 8) | byte;
  return n;
}

const WRAP = 1 << 23;

/**
 * RFC 7641 §3.4: is notification V2 (received at T2) newer than V1 (at T1)? Sequence numbers are
 * 24-bit and wrap; after 128 s without a notification any number counts as new.
 */
export function isFresher(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < WRAP) || (v1 > v2 && v1 - v2 > WRAP) || t2 > t1 + 128_000;
}

/** Options as the library hands them over (names once it has read them, else numbers). */
export type ObserveOptions = ReadonlyArray<{ name: string | number; value: unknown }>;

/** What the Agent hands to an Observe stream's append(): a parsed coap-packet. */
export interface NotificationPacket {
  code: string;
  messageId: number;
  options?: ObserveOptions;
  payload?: Buffer;
}

export function hasOption(packet: NotificationPacket, name: string): boolean {
  return !!packet.options?.some((o) => o.name === name);
}

/** The server's diagnostic payload, for a message. */
export function diagnostic(packet: NotificationPacket): string {
  const text = diagnosticText(packet.payload);
  return text ? ` — server says: ${text}` : '';
}
