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
// Memory: a Map entry per known name (the type string is shared between names that use the same
// profile) and a Set entry per connected one: well under 2 KB per idle sub-device.
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

export interface SubDevicesHost {
  warn(text: string): void;
  /** The number of known sub-devices changed (status shows it). */
  changed(): void;
  /** `name` was connected within a session by its first use (not by the re-announcement). */
  announced?(name: string): void;
}

export class SubDevices {
  /** name → device profile; kept across sessions (announced again after a reconnect). */
  private readonly known = new Map<string, string>();
  /** Names connected in the current session. */
  private connectedNames = new Set<string>();
  /** Names whose connect ThingsBoard acknowledged in this session (it has the device): their
   *  data may share a publish with other sub-devices' (send.ts). */
  private readyNames = new Set<string>();
  /** Bumped per session: a late connect answer from an older session changes nothing. */
  private session = 0;

  constructor(private readonly host: SubDevicesHost) {}

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
    for (const [name, type] of this.known) this.announce(transport, name, type);
  }

  /** The session is gone: nothing is connected any more (ThingsBoard forgets them too). */
  down(): void {
    this.session++;
    this.connectedNames = new Set();
    this.readyNames = new Set();
  }

  /** Before data for `name` is sent on `transport`: connect it first, once per session. */
  prepare(transport: Transport, name: string, type: string): void {
    const known = this.known.get(name);
    if (known !== type) {
      this.known.set(name, type);
      if (known === undefined) this.host.changed();
    }
    if (this.connectedNames.has(name)) return;
    this.announce(transport, name, type);
    this.host.announced?.(name);
  }

  /** The device profile `name` was connected with (undefined: not known). */
  typeOf(name: string): string | undefined {
    return this.known.get(name);
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
    const before = this.known.size;
    if (!this.known.has(name) || (type !== undefined && this.known.get(name) !== type)) this.known.set(name, type ?? DEFAULT_DEVICE_TYPE);
    this.connectedNames.add(name);
    if (this.known.size !== before) this.host.changed();
  }

  /** The flow disconnected `name`: it is not announced again. */
  forget(name: string): void {
    this.connectedNames.delete(name);
    this.readyNames.delete(name);
    if (this.known.delete(name)) this.host.changed();
  }

  /** Every known name (announced again after a reconnect), in first-use order. */
  names(): string[] {
    return [...this.known.keys()];
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
