// How queued messages for sub-devices go out on a gateway connection (the outbox calls this).
// ThingsBoard acknowledges a multi-device publish once per device entry, every PUBACK with the
// same packet id, so the first PUBACK proves only the first device's part. So: one sub-device per
// publish (sendGateway: its PUBACK proves every message in it), or, for telemetry on a transport
// that counts one PUBACK per entry (packsDevices, mqtt/gateway-acks.ts), several sub-devices in
// one publish (packCount, sendGatewayPack) that is done only when every entry was acknowledged.
// The sub-device is connected first (sub-devices.ts: once per name per session), on the same
// ordered MQTT stream, so ThingsBoard creates it with its profile before the data arrives.
import type { SendCallback, Transport } from '../../transports/transport';
import { TransportError } from '../../transports/transport';
import { deviceBody, disconnectBody, wrapperBytes } from '../../payload/gateway';
import { batchable, batchBodyBytes, buildBatchBody, entryBytes, fitsAlone, writeBatchBody } from '../batch';
import type { Entry } from '../outbox';
import type { GatewayTarget, SubDevices } from './sub-devices';

/**
 * Publishes in flight at once on a gateway. Readings of many sub-devices rarely queue next to
 * one another, so they seldom coalesce into arrays as one device's do: the pipeline has to be
 * deeper to keep the link busy. ThingsBoard queues per sub-device session (100 messages by
 * default, getSessionLimits' maxInflightMessages), so 64 stays below it even for one sub-device.
 */
export const GATEWAY_MAX_IN_FLIGHT = 64;
/**
 * Once the server has shown that it acknowledges every device entry (transport.packsProven),
 * fewer publishes in flight: readings then wait a little and go out together, many sub-devices
 * per publish, which costs far less per reading than a deep pipeline of single ones.
 */
export const GATEWAY_PACKING_IN_FLIGHT = 32;

/** Publishes in flight at once on a gateway connection. */
export function gatewayInFlight(transport: Transport): number {
  return transport.packsProven ? GATEWAY_PACKING_IN_FLIGHT : GATEWAY_MAX_IN_FLIGHT;
}

/** Both for the device itself, or both data for the same sub-device (never a disconnect). */
export function sameTarget(a: Entry, b: Entry): boolean {
  const x = a.gateway;
  const y = b.gateway;
  if (!x || !y) return x === y;
  return x.device === y.device && !x.disconnect && !y.disconnect;
}

/** The largest array body of one sub-device: the payload limit less its `{"<name>":…}` wrapper. */
export function gatewayBatchLimit(target: GatewayTarget, maxPayloadBytes: number): number {
  return maxPayloadBytes - (target.wrapper ?? wrapperBytes(target.device));
}

/** Entries of different sub-devices looked at for one packed publish, at most. */
export const MAX_PACK = 256;

/** Whether `entry` may share a publish with other sub-devices' readings. */
function packable(entry: Entry, subDevices: SubDevices, proven: boolean): boolean {
  const target = entry.gateway;
  return !!target && !target.disconnect && !entry.solo && entry.message.qos === 1 && batchable(entry) && (proven || subDevices.isReady(target.device));
}

/**
 * How many queued entries, from the head, go out in ONE telemetry publish for several
 * sub-devices ({"A":[..],"B":[..]}), or 0 when that does not apply (then the head goes as one
 * sub-device's publish). Only on a transport that proves such a publish entry by entry
 * (transport.packsDevices, mqtt/gateway-acks.ts), only QoS 1 readings that can join an array,
 * and never more than maxPayloadBytes. Until the server has shown that it acknowledges every
 * entry (transport.packsProven), only sub-devices whose connect it acknowledged: no device is
 * created while the first pack waits to tell what kind of server this is. At most `maxDevices`
 * sub-devices (what the gateway's rate limits allow in one go).
 */
export function packCount(queue: readonly Entry[], transport: Transport, subDevices: SubDevices, maxPayloadBytes: number, maxDevices = Infinity): number {
  const proven = transport.packsProven === true;
  if (!transport.packsDevices || queue.length < 2 || !packable(queue[0], subDevices, proven)) return 0;
  const seen = new Set<string>();
  let bytes = 2; // {}
  let count = 0;
  const limit = Math.min(queue.length, MAX_PACK);
  for (let i = 0; i < limit; i++) {
    const entry = queue[i];
    if (!packable(entry, subDevices, proven)) break;
    const target = entry.gateway as GatewayTarget;
    const name = target.device;
    // Each device's part counts against the gateway's message limits (gateway/pacing.ts).
    if (!seen.has(name) && seen.size >= maxDevices) break;
    // A new device adds `,"name":[]`; every entry its bytes and a comma.
    const add = entryBytes(entry) + 1 + (seen.has(name) ? 0 : (target.wrapper ?? wrapperBytes(name)) + 2);
    if (bytes + add > maxPayloadBytes) break;
    bytes += add;
    seen.add(name);
    count++;
  }
  return seen.size >= 2 ? count : 0;
}

/** One telemetry publish for the sub-devices of `entries` (sized by packCount); `callback` once. */
export function sendGatewayPack(transport: Transport, subDevices: SubDevices, entries: Entry[], callback: SendCallback): void {
  const groups = new Map<string, Entry[]>();
  for (const entry of entries) {
    const name = (entry.gateway as GatewayTarget).device;
    const group = groups.get(name);
    if (group) group.push(entry);
    else groups.set(name, [entry]);
  }
  // {"A":[..],"B":[..]} written into one buffer: the names' JSON first, to size it.
  const keys: string[] = [];
  let total = 1 + groups.size; // { and } plus a comma between groups
  for (const [name, group] of groups) {
    // Connected first, on the same ordered stream, as for a publish of its own.
    subDevices.prepare(transport, name, (group[0].gateway as GatewayTarget).type);
    const key = `${JSON.stringify(name)}:`;
    keys.push(key);
    total += Buffer.byteLength(key, 'utf8') + batchBodyBytes(group, group.length);
  }
  const body = Buffer.allocUnsafe(total);
  let at = 0;
  let i = 0;
  body[at++] = 0x7b; // {
  for (const group of groups.values()) {
    if (i > 0) body[at++] = 0x2c; // ,
    at += body.write(keys[i++], at, 'utf8');
    at = writeBatchBody(group, group.length, body, at);
  }
  body[at++] = 0x7d; // }
  transport.publishGateway?.('telemetry', body, 1, callback, groups.size);
}

/** Sends `entries` (one sub-device, sized by the outbox) on v1/gateway/*; `callback` once. */
export function sendGateway(transport: Transport, subDevices: SubDevices, entries: Entry[], maxPayloadBytes: number, callback: SendCallback): void {
  const first = entries[0];
  const target = first.gateway as GatewayTarget;
  if (typeof transport.publishGateway !== 'function') {
    process.nextTick(callback, new TransportError(`${transport.name.toUpperCase()} has no gateway API (ThingsBoard's gateway API is MQTT only)`, 'rejected', 'NO_GATEWAY'));
    return;
  }
  if (target.disconnect) {
    subDevices.forget(target.device);
    transport.publishGateway('disconnect', disconnectBody(target.device), first.message.qos, callback);
    return;
  }
  subDevices.prepare(transport, target.device, target.type);
  const message = first.message;
  let body: Buffer;
  if (message.kind !== 'telemetry') {
    body = deviceBody(target.device, message.body, false);
  } else if (entries.length > 1 || (batchable(first) && fitsAlone(first, gatewayBatchLimit(target, maxPayloadBytes)))) {
    // Each reading keeps its own ts (the time the node received it, when it had none).
    body = deviceBody(target.device, buildBatchBody(entries, entries.length), false);
  } else {
    body = deviceBody(target.device, message.body, true);
  }
  transport.publishGateway(message.kind, body, message.qos, callback);
}
