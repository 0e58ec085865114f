// The sub-devices of one gateway connection (ThingsBoard's gateway API, MQTT only): which names
// the flow has used, with their device profile (type), and which of them are connected in the
// current MQTT session.
//
// WHY it exists: ThingsBoard routes RPC and shared-attribute updates to a sub-device only while
// it is connected in the gateway's CURRENT session, and forgets every sub-device when the gateway
// reconnects. So
// - before the first data for a name in a session, `v1/gateway/connect {"device","type"}` goes
//   out, once per name per session (prepare());
// - after every reconnect, every known name is announced again before anything else is sent
//   (connected(), called before the queue is pumped, on the same ordered MQTT stream);
// - a name the server sent RPC or attributes for counts as connected too (seen()).
// Memory: a Map entry and a small record per known name (the type string is shared between names
// that use the same profile) and a Set entry per connected one: well under 2 KB per idle
// sub-device. The known names are bounded (maxKnown, roughly least recently used first out): a
// flow that names devices from changing data (serial numbers, addresses) must not grow the heap
// without end. A name with work pending (data queued or in flight, an RPC awaiting the flow's
// reply, an attribute request) is never the one forgotten; a forgotten name is announced again by
// its next data.
//
// The order of use is approximate, so that a message costs no Map delete + set: a name moves to
// the end of the order only when its last move was maxKnown/2 or more uses ago (remember()).
// The guarantee kept: a name used within the last maxKnown/2 uses is never evicted ahead of the
// names in front of it that are not busy. Its last move was under maxKnown/2 uses before that
// use, so under maxKnown uses ago; the Map is in the order of moves and every name behind it moved
// at a later, distinct use, so fewer than maxKnown names are behind it, and evict() takes names
// from the front (passing over busy ones) only while more than maxKnown are known.
import type { SendCallback, Transport } from '../../transports/transport';
import { asTransportError } from '../errors';
import { connectBody, DEFAULT_DEVICE_TYPE } from '../../payload/gateway';

/** Where one queued message goes on a gateway: a sub-device's data, or its disconnect. */
export interface GatewayTarget {
  device: string;
  type: string;
  /** v1/gateway/disconnect: the flow says the sub-device is gone (it is not announced again). */
  disconnect?: boolean;
  /** Bytes of `{"<device>":…}` around its data (payload/gateway.ts wrapperBytes), computed once. */
  wrapper?: number;
}

/** A known name: its device profile and the use count at its last move in the order (remember()). */
interface Known {
  type: string;
  moved: number;
}

export interface SubDevicesHost {
  warn(text: string): void;
  /** The number of known sub-devices changed (status shows it). */
  changed(): void;
  /** `name` was connected within a session by its first use (not by the re-announcement). */
  announced?(name: string): void;
  /** Work for `name` the host keeps (an RPC awaiting the flow's reply): it is not forgotten. */
  busy?(name: string): boolean;
}

/** Sub-device names remembered per gateway by default (about 17 MB of heap at this many). */
export const MAX_KNOWN_SUB_DEVICES = 100_000;

export class SubDevices {
  /** name → device profile; kept across sessions (announced again after a reconnect). The
   *  Map's order is the (approximate) order of use: the first names are the ones to forget. */
  private readonly known = new Map<string, Known>();
  /** remember() calls so far: the clock of the order of use. */
  private uses = 0;
  /** name → units of work pending for it (hold/release). A count that drops to 0 stays (an
   *  update in place costs less than a delete and a new entry per message) until the name is
   *  forgotten, or until there are more zeros than known names (names held but never sent:
   *  failed while queued) and they are half the Map (sweep(), amortised O(1) per hold). */
  private readonly pending = new Map<string, number>();
  /** Entries of `pending` at 0. */
  private zeros = 0;
  /** Names connected in the current session. */
  private connectedNames = new Set<string>();
  /** Names whose connect ThingsBoard acknowledged in this session (it has the device): their
   *  data may share a publish with other sub-devices' (send.ts). */
  private readyNames = new Set<string>();
  /** Bumped per session: a late connect answer from an older session changes nothing. */
  private session = 0;

  constructor(
    private readonly host: SubDevicesHost,
    /** At most this many known names (roughly least recently used forgotten first, never a busy one). */
    private readonly maxKnown: number = MAX_KNOWN_SUB_DEVICES,
  ) {}

  get size(): number {
    return this.known.size;
  }

  has(name: string): boolean {
    return this.known.has(name);
  }

  isConnected(name: string): boolean {
    return this.connectedNames.has(name);
  }

  /** ThingsBoard acknowledged `name`'s connect in this session: the device exists there. */
  isReady(name: string): boolean {
    return this.readyNames.has(name);
  }

  /** A new MQTT session is up: announce every known sub-device before anything else goes. */
  connected(transport: Transport): void {
    this.session++;
    this.connectedNames = new Set();
    this.readyNames = new Set();
    for (const [name, known] of this.known) this.announce(transport, name, known.type);
  }

  /** The session is gone: nothing is connected any more (ThingsBoard forgets them too). */
  down(): void {
    this.session++;
    this.connectedNames = new Set();
    this.readyNames = new Set();
  }

  /** Before data for `name` is sent on `transport`: connect it first, once per session. */
  prepare(transport: Transport, name: string, type: string): void {
    this.remember(name, type);
    if (this.connectedNames.has(name)) return;
    this.announce(transport, name, type);
    this.host.announced?.(name);
  }

  /** The device profile `name` was connected with (undefined: not known). */
  typeOf(name: string): string | undefined {
    return this.known.get(name)?.type;
  }

  /** ThingsBoard ended `name`'s session (MQTT 5): its next data connects it again. */
  dropped(name: string): void {
    this.connectedNames.delete(name);
    this.readyNames.delete(name);
  }

  /**
   * ThingsBoard sent RPC or attributes for `name`, or the flow replied or asked for it: it is
   * connected in this session (ThingsBoard connects a name implicitly on a request or a reply).
   */
  seen(name: string, type?: string): void {
    this.remember(name, type ?? this.known.get(name)?.type ?? DEFAULT_DEVICE_TYPE);
    this.connectedNames.add(name);
  }

  /** Work for `name` begins (a message queued, a request sent): it is not forgotten until release(). */
  hold(name: string): void {
    const pending = this.pending;
    const n = pending.get(name);
    if (n === 0) this.zeros--;
    else if (n === undefined && this.zeros > this.known.size + 64 && 2 * this.zeros > pending.size) this.sweep();
    pending.set(name, (n ?? 0) + 1);
  }

  /** One unit of work for `name` ended. */
  release(name: string): void {
    const n = this.pending.get(name);
    if (n === undefined || n <= 0) return;
    this.pending.set(name, n - 1);
    if (n === 1) this.zeros++;
  }

  /** `name`'s zero count goes (it is forgotten); a pending count stays. */
  private dropZero(name: string): void {
    if (this.pending.get(name) !== 0) return;
    this.pending.delete(name);
    this.zeros--;
  }

  /** Whether work for `name` is pending (hold() without its release()). */
  private isPending(name: string): boolean {
    return (this.pending.get(name) ?? 0) > 0;
  }

  /** Drops the zero counts: names held once and never known (or forgotten since) go. */
  private sweep(): void {
    for (const [name, n] of this.pending) if (n === 0) this.pending.delete(name);
    this.zeros = 0;
  }

  /** The flow disconnected `name`: it is not announced again. */
  forget(name: string): void {
    this.connectedNames.delete(name);
    this.readyNames.delete(name);
    this.dropZero(name);
    if (this.known.delete(name)) this.host.changed();
  }

  /** Every known name (announced again after a reconnect), in the (approximate) order of use, oldest first. */
  names(): string[] {
    return [...this.known.keys()];
  }

  /**
   * `name` was used now, with profile `type`. It moves to the end of the order of use only when
   * its last move was maxKnown/2 uses ago or more (the guarantee: top of this file).
   */
  private remember(name: string, type: string): void {
    const uses = ++this.uses;
    const known = this.known.get(name);
    if (known !== undefined) {
      known.type = type;
      if (uses - known.moved < this.maxKnown / 2) return;
      known.moved = uses;
      this.known.delete(name);
      this.known.set(name, known);
      return;
    }
    this.known.set(name, { type, moved: uses });
    if (this.known.size > this.maxKnown) this.evict(name);
    this.host.changed();
  }

  /** Forgets the names above maxKnown from the front of the order of use, passing over busy ones (and `used`). */
  private evict(used: string): void {
    let over = this.known.size - this.maxKnown;
    for (const name of this.known.keys()) {
      if (over <= 0) return;
      if (name === used || this.isPending(name) || this.host.busy?.(name)) continue;
      this.known.delete(name);
      this.dropZero(name);
      this.connectedNames.delete(name);
      this.readyNames.delete(name);
      over--;
    }
  }

  private announce(transport: Transport, name: string, type: string): void {
    if (typeof transport.publishGateway !== 'function') return;
    this.connectedNames.add(name);
    const session = this.session;
    const done: SendCallback = (err) => {
      if (session !== this.session) return;
      if (!err) {
        if (this.connectedNames.has(name)) this.readyNames.add(name);
        return;
      }
      const e = asTransportError(err);
      // Cut off by a drop: the next session announces it again.
      if (e.kind === 'closed' || e.kind === 'unreachable') return;
      this.connectedNames.delete(name);
      this.host.warn(`ThingsBoard refused to connect sub-device ${JSON.stringify(name)} (type ${JSON.stringify(type)}): ${e.message}`);
    };
    transport.publishGateway('connect', connectBody(name, type), 1, done);
  }
}
