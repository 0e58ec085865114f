// The downlink of one device connection: what ThingsBoard pushes to the device and
// the exchanges that wait for its answers. It lives beside the connection (connection.ts), which
// tells it when a transport is made (attach), when a connection is up (connected) and when it is
// gone (down / stopped); transports implement the receive side of transport.ts.
//
// - Listeners (thingsboard-in nodes) register per channel. A channel is subscribed while at
//   least one listener needs it, on every connect again (subscriptions do not survive a
//   reconnect), and unsubscribed when the last one goes. A refused subscription is an error on
//   exactly the listeners of that channel.
// - Shared attributes: every listener gets the keys it asked for (all when it named none).
//   Listeners with `initial` get the current values after every (re)connect, fetched with one
//   attribute request for all of them, marked initial. After a CoAP re-registration the values
//   are fetched again (changes made while the old observation was dead never arrived), and each
//   listener gets only what changed since it last heard (attribute-memory.ts), as a change.
// - Server-side RPC: delivered once (rpc-book.ts) to every listener that takes the method; a
//   method no listener takes is logged once per method and left unanswered, so ThingsBoard
//   times it out as it would for a device that does not know it. Replies go through reply().
// - Attribute requests, client-side RPC and replies are exchanges (requests.ts): they wait for a
//   connection until their deadline and bypass the telemetry queue.
import { EMPTY_SET } from '../empty';
import type { AttributesAnswer, AttributesQuery, AttributesUpdate, DownlinkChannel, RpcRequest, Transport } from '../transports/transport';
import type { Background } from '../background';
import { AttributeMemory } from './attribute-memory';
import { TransportError } from '../transports/transport';
import { DeviceError } from './errors';
import { Exchanges, type ExchangeHost } from './requests';
import { RpcBook } from './rpc-book';

export interface DownlinkListener {
  channel: DownlinkChannel;
  /** attributes: the shared keys to pass on; rpc: the methods. Empty = all. */
  names: string[];
  /** attributes: fetch the current values of `names` on every (re)connect. */
  initial?: boolean;
  onAttributes?(values: Record<string, unknown>, deleted: string[] | undefined, initial: boolean): void;
  onRpc?(request: RpcRequest): void;
  /** The channel works now (its subscription was granted). */
  onReady?(): void;
  /** Something this listener needs failed (subscription refused, initial values not fetched). */
  onError(err: DeviceError): void;
}

export interface DeviceDownlinkHost extends ExchangeHost {
  warn(text: string): void;
  /** Fire-and-forget work and listener calls: what they throw is logged (background.ts). */
  readonly work: Background;
}

/** How long the initial-values request may take before the listeners are told it failed. */
export const INITIAL_TIMEOUT_MS = 10_000;
/** How long a reply waits for a connection (ThingsBoard's own RPC timeout is 10 s by default). */
export const REPLY_TIMEOUT_MS = 10_000;

const CHANNEL_TEXT: Record<DownlinkChannel, string> = {
  attributes: 'shared-attribute updates',
  rpc: 'server-side RPC',
};

export class DeviceDownlink {
  /** Made by the first listener (thingsboard-in): an out node alone never listens. */
  private listenersSet: Set<DownlinkListener> | undefined;
  private readonly exchanges: Exchanges;
  // The RPC book and the attribute memory are made on first use (a thingsboard-in's first
  // command or initial values): most connections have no thingsboard-in.
  private rpcBookMade: RpcBook | undefined;
  private unknownMethodsLogged: Set<string> | undefined;
  /** What each initial-values listener was last given (for the re-fetch after a CoAP renewal). */
  private memoryMade: AttributeMemory<DownlinkListener> | undefined;
  /** Shared-attribute pushes delivered so far: a re-fetch that a push overtook may be stale. */
  private pushes = 0;
  /** Bumped per connection (and on down): work for an older connection does nothing. */
  private generation = 0;
  private live: Transport | undefined;
  /** The current session's transport (attach), and the one whose pushes are listened to. */
  private attached: Transport | undefined;
  private hooked: { transport: Transport; unhook: () => void } | undefined;

  constructor(private readonly host: DeviceDownlinkHost) {
    this.exchanges = new Exchanges(host);
  }

  private get rpcBook(): RpcBook {
    return (this.rpcBookMade ??= new RpcBook());
  }

  private get memory(): AttributeMemory<DownlinkListener> {
    return (this.memoryMade ??= new AttributeMemory());
  }

  private get listeners(): ReadonlySet<DownlinkListener> {
    return this.listenersSet ?? EMPTY_SET;
  }

  // ---- listeners ----------------------------------------------------------------------------

  listen(listener: DownlinkListener): void {
    (this.listenersSet ??= new Set()).add(listener);
    if (this.attached) this.hook(this.attached);
    const transport = this.live;
    if (!transport) return; // subscribed on the next connect
    const generation = this.generation;
    this.host.work.run(`subscribing to ${CHANNEL_TEXT[listener.channel]}`, async () => {
      const ok = await this.subscribe(transport, listener.channel, generation);
      if (ok && listener.channel === 'attributes' && listener.initial && this.listeners.has(listener)) {
        await this.fetchInitial([listener], generation);
      }
    });
  }

  unlisten(listener: DownlinkListener): void {
    if (!this.listenersSet?.delete(listener)) return;
    this.memory.forget(listener);
    const transport = this.live;
    if (transport && !this.needed(listener.channel)) {
      this.host.work.run(`unsubscribing from ${CHANNEL_TEXT[listener.channel]}`, () => transport.unsubscribe(listener.channel));
    }
  }

  // ---- what the connection tells the downlink -------------------------------------------------

  /**
   * A new transport was made: its pushes are listened to from the first listener on (a push
   * comes only on a subscription, made for a listener; an out node alone never needs them: three
   * listeners and their scope per connection saved). Returns the detach function.
   */
  attach(transport: Transport): () => void {
    this.attached = transport;
    if (this.listeners.size > 0) this.hook(transport);
    return () => {
      if (this.hooked?.transport === transport) {
        this.hooked.unhook();
        this.hooked = undefined;
      }
      if (this.attached === transport) this.attached = undefined;
    };
  }

  private hook(transport: Transport): void {
    if (this.hooked?.transport === transport) return;
    // What a handler throws is logged, never thrown back into the transport that emitted.
    const onAttributes = (update: AttributesUpdate) => {
      if (this.live === transport) this.host.work.call('passing on a shared-attribute update', () => this.deliverAttributes(update));
    };
    const onRpc = (request: RpcRequest) => {
      if (this.live === transport) this.host.work.call('passing on a server-side RPC', () => this.deliverRpc(request));
    };
    const onResubscribed = (channel: unknown) => {
      if (this.live !== transport || channel !== 'attributes') return;
      const initial = this.ofChannel('attributes').filter((l) => l.initial);
      if (initial.length > 0) this.host.work.run('fetching the shared attributes again', () => this.fetchInitial(initial, this.generation, true));
    };
    transport.on('attributes', onAttributes);
    transport.on('rpc', onRpc);
    transport.on('resubscribed', onResubscribed);
    this.hooked = {
      transport,
      unhook: () => {
        transport.removeListener('attributes', onAttributes);
        transport.removeListener('rpc', onRpc);
        transport.removeListener('resubscribed', onResubscribed);
      },
    };
  }

  /** The connection is up: subscribe what is needed, fetch initial values, run waiting exchanges. */
  connected(transport: Transport): void {
    const generation = ++this.generation;
    this.live = transport;
    this.exchanges.onConnected();
    for (const channel of ['attributes', 'rpc'] as const) {
      if (!this.needed(channel)) continue;
      this.host.work.run(`subscribing to ${CHANNEL_TEXT[channel]}`, async () => {
        const ok = await this.subscribe(transport, channel, generation);
        if (!ok || channel !== 'attributes') return;
        const initial = this.ofChannel('attributes').filter((l) => l.initial);
        if (initial.length > 0) await this.fetchInitial(initial, generation);
      });
    }
  }

  /** The connection dropped (it will be back): exchanges wait for it. */
  down(): void {
    this.generation++;
    this.live = undefined;
  }

  /** Stopped or refused for good: every exchange fails with `err`. */
  stopped(err: DeviceError): void {
    this.down();
    this.exchanges.failAll(err);
  }

  // ---- exchanges ------------------------------------------------------------------------------

  /** `owner` (the node) may cancel() what it asked when it closes. */
  requestAttributes(query: AttributesQuery, timeoutMs: number, owner?: unknown): Promise<AttributesAnswer> {
    return this.exchanges.run('attribute request', timeoutMs, (transport, left, signal) => transport.requestAttributes(query, left, signal), owner);
  }

  callRpc(method: string, params: unknown, timeoutMs: number, owner?: unknown): Promise<unknown> {
    return this.exchanges.run('client-side RPC', timeoutMs, (transport, left, signal) => transport.callRpc(method, params, left, signal), owner);
  }

  /** Fails the requests `owner` made that are still waiting (its node is closing). */
  cancel(owner: unknown): void {
    this.exchanges.cancel(owner, new DeviceError('stopped: the node was stopped or redeployed before ThingsBoard answered', 'STOPPED'));
  }

  /** Sends the reply to server-side RPC `id` (strict JSON). Resolves when ThingsBoard has it. */
  async reply(id: number, body: Buffer): Promise<void> {
    const check = this.rpcBook.beginReply(id);
    if (!check.ok) throw new DeviceError(`reply not sent: ${check.reason}`, check.code);
    try {
      await this.exchanges.run('RPC reply', REPLY_TIMEOUT_MS, (transport) => transport.respondRpc(id, body));
    } catch (err) {
      this.rpcBook.endReply(id, false);
      const e = err as DeviceError;
      if (e.code === 'NO_ANSWER') {
        throw new DeviceError(`reply not sent: the connection to ThingsBoard was down for ${REPLY_TIMEOUT_MS / 1000} s`, 'NOT_CONNECTED');
      }
      throw e;
    }
    this.rpcBook.endReply(id, true);
  }

  // ---- internals ------------------------------------------------------------------------------

  private ofChannel(channel: DownlinkChannel): DownlinkListener[] {
    return [...this.listeners].filter((l) => l.channel === channel);
  }

  private needed(channel: DownlinkChannel): boolean {
    for (const l of this.listeners) if (l.channel === channel) return true;
    return false;
  }

  /** Resolves true when the channel is subscribed on this connection. */
  private async subscribe(transport: Transport, channel: DownlinkChannel, generation: number): Promise<boolean> {
    try {
      await transport.subscribe(channel);
    } catch (err) {
      // Not a classified failure: a defect, logged by the caller (background work), not taken for a drop.
      if (!(err instanceof TransportError)) throw err;
      const e = err;
      // Cut off by a drop: the next connect subscribes again.
      if (e.kind === 'closed' || generation !== this.generation) return false;
      this.failChannel(channel, new DeviceError(this.host.redact(`cannot receive ${CHANNEL_TEXT[channel]}: ${e.message}`), e.code, e.refused));
      return false;
    }
    if (generation !== this.generation) return false;
    for (const l of this.ofChannel(channel)) this.host.work.call('a thingsboard-in node (channel ready)', () => l.onReady?.());
    return true;
  }

  private failChannel(channel: DownlinkChannel, err: DeviceError): void {
    for (const l of this.ofChannel(channel)) this.host.work.call('a thingsboard-in node (error)', () => l.onError(err));
  }

  /**
   * One attribute request for every listener given: their keys, or all keys if one has none.
   * `resync` (after a CoAP renewal): a listener that was given values before gets only the
   * difference, as a change; the others get the values, marked initial.
   */
  private async fetchInitial(listeners: DownlinkListener[], generation: number, resync = false): Promise<void> {
    const all = listeners.some((l) => l.names.length === 0);
    const sharedKeys = all ? [] : [...new Set(listeners.flatMap((l) => l.names))];
    let answer: AttributesAnswer;
    const pushesBefore = this.pushes;
    try {
      const transport = this.live;
      if (!transport) return;
      // Straight to the transport, not an exchange: values fetched for an older connection
      // are not wanted, the next connect fetches again.
      answer = await transport.requestAttributes({ clientKeys: [], sharedKeys }, INITIAL_TIMEOUT_MS);
    } catch (err) {
      if (generation !== this.generation) return;
      if (!(err instanceof TransportError)) throw err; // a defect: logged by the background work
      const e = err;
      if (e.kind === 'closed') return;
      const error = new DeviceError(this.host.redact(`initial shared attributes not fetched: ${e.message}`), e.code);
      for (const l of listeners) if (this.listeners.has(l)) this.host.work.call('a thingsboard-in node (error)', () => l.onError(error));
      return;
    }
    if (generation !== this.generation) return;
    const shared = isRecord(answer.shared) ? answer.shared : {};
    for (const l of listeners) {
      if (!this.listeners.has(l)) continue;
      const values = pick(shared, l.names);
      if (resync && this.memory.has(l)) {
        // A push came while the request was out: the answer may be older than what the listener
        // has now, and would look like a change back. The next renewal catches up instead.
        if (this.pushes !== pushesBefore) continue;
        const change = this.memory.difference(l, values);
        const deleted = change.deleted.length > 0 ? change.deleted : undefined;
        if (Object.keys(change.values).length > 0 || deleted) this.host.work.call('a thingsboard-in node (shared attributes)', () => l.onAttributes?.(change.values, deleted, false));
        continue;
      }
      this.memory.replace(l, values);
      // Keys ThingsBoard does not have are not sent: an empty object would only look like a change.
      if (Object.keys(values).length > 0) this.host.work.call('a thingsboard-in node (shared attributes)', () => l.onAttributes?.(values, undefined, true));
    }
  }

  private deliverAttributes(update: AttributesUpdate): void {
    this.pushes++;
    for (const l of this.ofChannel('attributes')) {
      const values = pick(update.values, l.names);
      const deleted = update.deleted && (l.names.length === 0 ? update.deleted : update.deleted.filter((k) => l.names.includes(k)));
      const hasDeleted = !!deleted && deleted.length > 0;
      if (Object.keys(values).length === 0 && !hasDeleted) continue;
      this.memory.update(l, values, deleted);
      this.host.work.call('a thingsboard-in node (shared attributes)', () => l.onAttributes?.(values, hasDeleted ? deleted : undefined, false));
    }
  }

  private deliverRpc(request: RpcRequest): void {
    const takers = this.ofChannel('rpc').filter((l) => l.names.length === 0 || l.names.includes(request.method));
    if (takers.length === 0) {
      const logged = (this.unknownMethodsLogged ??= new Set());
      if (!logged.has(request.method)) {
        if (logged.size >= 100) logged.clear();
        logged.add(request.method);
        this.host.warn(
          this.host.redact(
            `server-side RPC "${request.method}" left unanswered: no thingsboard-in node of this device takes that method ` +
              '(ThingsBoard will time it out). Add it to a node\'s Methods, or leave Methods empty to take all. Logged once per method.',
          ),
        );
      }
      return;
    }
    if (!this.rpcBook.arrived(request)) return; // the flow has it already
    for (const l of takers) this.host.work.call('a thingsboard-in node (server-side RPC)', () => l.onRpc?.(request));
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function pick(values: Record<string, unknown>, names: string[]): Record<string, unknown> {
  if (names.length === 0) return { ...values };
  const out: Record<string, unknown> = {};
  for (const name of names) if (Object.prototype.hasOwnProperty.call(values, name)) out[name] = values[name];
  return out;
}

