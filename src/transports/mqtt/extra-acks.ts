// The extra PUBACKs of a packed gateway publish (gateway-acks.ts: ThingsBoard acknowledges it once
// per device entry, all with the packet's id), counted where they arrive on the socket and taken
// out of the byte stream before mqtt.js parses them. mqtt.js would parse each into a packet
// object, queue it through a nextTick, look the id up in its outgoing store (not there any
// more: the first PUBACK took it), re-arm its keep-alive timer and emit two events: per reading
// of a packed publish, a third of what the gateway's own process spends on it. Only those are
// taken: a PUBACK whose id is a pack's whose first PUBACK went through to mqtt.js already, in
// its 4-byte form (no reason code: success, MQTT 3.1.1 §3.4 and MQTT 5 §3.4.2.1). Everything
// else goes through untouched and in order: the first PUBACK of each pack (mqtt.js's own
// callback and its store need it), PUBACKs with a reason code (a refused part: gateway-acks.ts
// reads them from mqtt.js), every other packet.
//
// The socket is read by mqtt.js through pipe(); the chunks a socket hands to its readable side
// (Readable#push, what net and tls call for each read) are filtered, so nothing else of the
// stream (writes, errors, close, backpressure) changes.
import type { Duplex } from 'node:stream';

/** PUBACK, fixed header byte (MQTT 3.1.1 §3.4.1, MQTT 5 §3.4.1). */
const PUBACK = 0x40;

/**
 * Splits an MQTT byte stream into packets as it arrives and drops the PUBACKs `acks` claims.
 * `acks.extraAck(id)` is asked once per 4-byte PUBACK, in stream order; true: counted, drop it.
 * An object, not a callback: PackedAcks passes itself (no closure per connection).
 */
export class ExtraAckFilter {
  /** Bytes of the packet being passed through that are still to come. */
  private skip = 0;
  /** The start of a packet whose header (or PUBACK id) the last chunk cut off. */
  private carry: Buffer | undefined;

  constructor(private readonly acks: { extraAck(id: number): boolean }) {}

  /** `chunk` without the extra PUBACKs: the same Buffer when it has none. */
  filter(input: Buffer): Buffer {
    let chunk = input;
    if (this.carry) {
      chunk = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    const len = chunk.length;
    let kept: Buffer[] | undefined;
    let keepFrom = 0;
    let i = 0;
    while (i < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - i);
        i += n;
        this.skip -= n;
        continue;
      }
      // Fixed header: type byte, then the remaining length (1-4 bytes, 7 bits each).
      let remaining = 0;
      let at = i + 1;
      let shift = 0;
      let complete = false;
      while (at < len && at - i <= 4) {
        const b = chunk[at++];
        remaining += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) {
          complete = true;
          break;
        }
      }
      if (!complete && at - i > 4) {
        // Not MQTT (a length over 4 bytes): pass everything on, let mqtt.js report it.
        this.skip = Infinity;
        continue;
      }
      const isAck = complete && chunk[i] === PUBACK && remaining === 2;
      if (!complete || (isAck && at + 2 > len)) {
        // Cut off: judged with the next chunk.
        this.carry = Buffer.from(chunk.subarray(i));
        kept ??= [];
        if (i > keepFrom) kept.push(chunk.subarray(keepFrom, i));
        keepFrom = len;
        break;
      }
      if (isAck && this.acks.extraAck(chunk[at] * 256 + chunk[at + 1])) {
        kept ??= [];
        if (i > keepFrom) kept.push(chunk.subarray(keepFrom, i));
        i = at + 2;
        keepFrom = i;
        continue;
      }
      const end = at + remaining;
      if (end <= len) i = end;
      else {
        this.skip = end - len;
        i = len;
      }
    }
    if (!kept) return chunk;
    if (keepFrom < len) kept.push(chunk.subarray(keepFrom, len));
    return kept.length === 1 ? kept[0] : Buffer.concat(kept);
  }
}

/** Filters what `socket` hands to its readers from now on (see the top of this file). */
export function filterIncoming(socket: Duplex, filter: ExtraAckFilter): void {
  const push = socket.push;
  socket.push = function pushFiltered(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (!Buffer.isBuffer(chunk)) return push.call(this, chunk, encoding);
    const rest = filter.filter(chunk);
    // Nothing left: a zero-length push reads on, as an empty read does.
    return push.call(this, rest, encoding);
  };
}
