// What a gateway receives for its sub-devices, and the exchanges it makes for them (ThingsBoard's
// gateway API; the gateway's own downlink stays in ../downlink.ts):
// - listeners (thingsboard-in nodes) per channel, filtered by sub-device name (empty = every
//   sub-device) and by keys or methods; a channel is subscribed (v1/gateway/attributes,
//   v1/gateway/rpc) while a listener needs it, again on every connect;
// - initial values: ThingsBoard's gateway attribute request needs key names, so a listener that
//   names keys gets them per sub-device after every (re)connect and when a sub-device is first
//   connected in a session;
// - server-side RPC delivered once per sub-device and id (one RpcBook per sub-device that had
//   RPC: ThingsBoard numbers RPC per device); replies go on v1/gateway/rpc {"device","id","data"};
// - attribute requests, one per scope, answered as {client, shared} like a device's.
// Anything sent for a sub-device (a reply, a request) connects it first, as data does.
import type { GatewayAttributes, GatewayChannel, GatewayRpc, SendCallback, Transport } from '../../transports/transport';
import { rpcReplyBody } from '../../payload/gateway';
import { INITIAL_TIMEOUT_MS, REPLY_TIMEOUT_MS } from '../downlink';
import { asTransportError, DeviceError } from '../errors';
import { Exchanges, type ExchangeHost } from '../requests';
import { RpcBooks } from '../rpc-book';
import type { Background } from '../../background';
import type { SubDevices } from './sub-devices';

export interface GatewayListener {
  channel: GatewayChannel;
  /** Sub-device names to take; empty = every sub-device. */
  devices: string[];
  /** attributes: the shared keys; rpc: the methods. Empty = all. */
  names: string[];
  /** attributes: fetch the current values of `names` per sub-device on every (re)connect. */
  initial?: boolean;
  onAttributes?(device: string, values: Record<string, unknown>, deleted: string[] | undefined, initial: boolean): void;
  onRpc?(request: GatewayRpc): void;
  onReady?(): void;
  onError(err: DeviceError): void;
}

export interface GatewayDownlinkHost extends ExchangeHost {
  warn(text: string): void;
  debug(text: string): void;
  /** Fire-and-forget work and listener calls: a failure is reported, never thrown (background.ts). */
  work: Background;
}

/** Initial-value requests in flight at once after a reconnect (thousands of sub-devices). */
const INITIAL_CONCURRENCY = 8;

export class GatewayDownlink {
  private readonly listeners = new Set<GatewayListener>();
  private readonly exchanges: Exchanges;
  /** Per sub-device that had RPC lately: which commands the flow has (ThingsBoard numbers RPC per device). */
  private readonly books = new RpcBooks();
  private readonly unknownLogged = new Set<string>();
  private generation = 0;
  private live: Transport | undefined;
  private attributesReady = false;

  constructor(
    private readonly host: GatewayDownlinkHost,
    private readonly subDevices: SubDevices,
  ) {
    this.exchanges = new Exchanges(host);
  }

  // ---- listeners ----------------------------------------------------------------------------

  listen(listener: GatewayListener): void {
    this.listeners.add(listener);
    const transport = this.live;
    if (!transport) return;
    const generation = this.generation;
    this.host.work.run('subscribing to sub-device downlink', async () => {
      const ok = await this.subscribe(transport, listener.channel, generation);
      if (ok && listener.channel === 'attributes') await this.fetchInitial([listener], this.subDevices.names(), generation);
    });
  }

  unlisten(listener: GatewayListener): void {
    if (!this.listeners.delete(listener)) return;
    const transport = this.live;
    if (transport && !this.needed(listener.channel) && typeof transport.unsubscribeGateway === 'function') {
      if (listener.channel === 'attributes') this.attributesReady = false;
      this.host.work.run('unsubscribing from sub-device downlink', () => transport.unsubscribeGateway?.(listener.channel));
    }
  }

  // ---- what the connection tells it -----------------------------------------------------------

  attach(transport: Transport): () => void {
    const mine = () => this.live === transport;
    const onRpc = (request: GatewayRpc) => mine() && this.deliverRpc(request);
    const onAttributes = (update: GatewayAttributes) => mine() && this.deliverAttributes(update);
    const onDisconnect = (notice: { device: string; reason: unknown }) => {
      if (!mine()) return;
      this.subDevices.dropped(notice.device);
      this.host.warn(
        `ThingsBoard ended the session of sub-device ${JSON.stringify(notice.device)} (reason ${String(notice.reason)}${notice.reason === 0x97 || notice.reason === 151 ? ': quota exceeded, over its rate limit' : ''}): ` +
          'its RPC and attribute updates stop until it sends again',
      );
    };
    const onDebug = (text: unknown) => this.host.debug(String(text));
    transport.on('gateway-rpc', onRpc);
    transport.on('gateway-attributes', onAttributes);
    transport.on('gateway-disconnect', onDisconnect);
    transport.on('debug', onDebug);
    return () => {
      transport.removeListener('gateway-rpc', onRpc);
      transport.removeListener('gateway-attributes', onAttributes);
      transport.removeListener('gateway-disconnect', onDisconnect);
      transport.removeListener('debug', onDebug);
    };
  }

  connected(transport: Transport): void {
    const generation = ++this.generation;
    this.live = transport;
    this.attributesReady = false;
    this.exchanges.onConnected();
    for (const channel of ['attributes', 'rpc'] as const) {
      if (!this.needed(channel)) continue;
      this.host.work.run('subscribing to sub-device downlink', async () => {
        const ok = await this.subscribe(transport, channel, generation);
        if (ok && channel === 'attributes') await this.fetchInitial(this.ofChannel('attributes'), this.subDevices.names(), generation);
      });
    }
  }

  down(): void {
    this.generation++;
    this.live = undefined;
    this.attributesReady = false;
  }

  stopped(err: DeviceError): void {
    this.down();
    this.exchanges.failAll(err);
  }

  /** A sub-device was connected by its first use in this session: its initial values, if wanted. */
  announced(name: string): void {
    if (!this.attributesReady) return;
    const listeners = this.ofChannel('attributes');
    if (listeners.length > 0) this.host.work.run('fetching the initial values of a sub-device', () => this.fetchInitial(listeners, [name], this.generation));
  }

  // ---- exchanges ------------------------------------------------------------------------------

  /** Sends the reply to sub-device `device`'s RPC `id`. Resolves when ThingsBoard has it. */
  async reply(device: string, id: number, body: Buffer): Promise<void> {
    const book = this.books.get(device);
    const check = book ? book.beginReply(id) : undefined;
    if (!book || !check || !check.ok) {
      const reason = check && !check.ok ? check.reason : `sub-device ${JSON.stringify(device)} has no open RPC request ${id}: msg.rpc and msg.device must come unchanged from a thingsboard-in node of this gateway`;
      throw new DeviceError(`reply not sent: ${reason}`, check && !check.ok ? check.code : 'UNKNOWN_RPC');
    }
    const data = rpcReplyBody(device, id, body);
    try {
      await this.exchanges.run('RPC reply', REPLY_TIMEOUT_MS, (transport) => this.publish(transport, device, data));
    } catch (err) {
      book.endReply(id, false);
      const e = err as DeviceError;
      if (e.code === 'NO_ANSWER') throw new DeviceError(`reply not sent: the connection to ThingsBoard was down for ${REPLY_TIMEOUT_MS / 1000} s`, 'NOT_CONNECTED');
      throw e;
    }
    book.endReply(id, true);
  }

  /** One request per scope that names keys; answered {client, shared} like a device request. */
  async requestAttributes(device: string, query: { clientKeys: string[]; sharedKeys: string[] }, timeoutMs: number, owner?: unknown): Promise<{ client: Record<string, unknown>; shared: Record<string, unknown> }> {
    if (query.clientKeys.length === 0 && query.sharedKeys.length === 0) {
      throw new DeviceError(
        `attribute request for sub-device ${JSON.stringify(device)} not sent: ThingsBoard's gateway API answers named keys only; ` +
          'set the node\'s Client keys / Shared keys, or msg.payload {clientKeys, sharedKeys}',
        'NO_KEYS',
      );
    }
    const ask = (client: boolean, keys: string[]) =>
      keys.length === 0
        ? Promise.resolve({})
        : this.exchanges.run('attribute request', timeoutMs, (transport, left, signal) => {
            if (typeof transport.requestGatewayAttributes !== 'function') return Promise.reject(noGateway(transport));
            this.subDevices.prepare(transport, device, this.subDevices.typeOf(device) ?? 'default');
            return transport.requestGatewayAttributes(device, client, keys, left, signal);
          }, owner);
    this.subDevices.hold(device);
    try {
      const [client, shared] = await Promise.all([ask(true, query.clientKeys), ask(false, query.sharedKeys)]);
      return { client, shared };
    } finally {
      this.subDevices.release(device);
    }
  }

  /** An RPC of `device` awaits the flow's reply (its name must not be forgotten meanwhile). */
  busy(device: string): boolean {
    return this.books.get(device)?.hasOpen() ?? false;
  }

  cancel(owner: unknown): void {
    this.exchanges.cancel(owner, new DeviceError('stopped: the node was stopped or redeployed before ThingsBoard answered', 'STOPPED'));
  }

  // ---- internals ------------------------------------------------------------------------------

  private publish(transport: Transport, device: string, body: Buffer): Promise<void> {
    if (typeof transport.publishGateway !== 'function') return Promise.reject(noGateway(transport));
    this.subDevices.prepare(transport, device, this.subDevices.typeOf(device) ?? 'default');
    return new Promise((resolve, reject) => {
      const done: SendCallback = (err) => (err ? reject(err) : resolve());
      transport.publishGateway?.('rpc', body, 1, done);
    });
  }

  private ofChannel(channel: GatewayChannel): GatewayListener[] {
    return [...this.listeners].filter((l) => l.channel === channel);
  }

  private needed(channel: GatewayChannel): boolean {
    for (const l of this.listeners) if (l.channel === channel) return true;
    return false;
  }

  private async subscribe(transport: Transport, channel: GatewayChannel, generation: number): Promise<boolean> {
    if (typeof transport.subscribeGateway !== 'function') {
      for (const l of this.ofChannel(channel)) this.host.work.call('passing on to a thingsboard-in node', () => l.onError(noGateway(transport)));
      return false;
    }
    try {
      await transport.subscribeGateway(channel);
    } catch (err) {
      const e = asTransportError(err);
      if (e.kind === 'closed' || generation !== this.generation) return false;
      const error = new DeviceError(this.host.redact(`cannot receive sub-device ${channel === 'rpc' ? 'RPC' : 'attribute updates'}: ${e.message}`), e.code);
      for (const l of this.ofChannel(channel)) this.host.work.call('passing on to a thingsboard-in node', () => l.onError(error));
      return false;
    }
    if (generation !== this.generation) return false;
    if (channel === 'attributes') this.attributesReady = true;
    for (const l of this.ofChannel(channel)) this.host.work.call('passing on to a thingsboard-in node', () => l.onReady?.());
    return true;
  }

  /** Per sub-device one request for the keys the listeners name (a listener without keys gets none). */
  private async fetchInitial(listeners: GatewayListener[], names: string[], generation: number): Promise<void> {
    const wanting = listeners.filter((l) => l.initial && l.names.length > 0);
    if (wanting.length === 0) return;
    const queue = names.filter((name) => wanting.some((l) => takes(l, name)));
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const transport = this.live;
        if (generation !== this.generation || !transport || typeof transport.requestGatewayAttributes !== 'function') return;
        const mine = wanting.filter((l) => takes(l, name as string) && this.listeners.has(l));
        const keys = [...new Set(mine.flatMap((l) => l.names))];
        let values: Record<string, unknown>;
        try {
          values = await transport.requestGatewayAttributes(name, false, keys, INITIAL_TIMEOUT_MS);
        } catch (err) {
          if (generation !== this.generation) return;
          const e = asTransportError(err);
          if (e.kind === 'closed') return;
          const error = new DeviceError(this.host.redact(`initial shared attributes of sub-device ${JSON.stringify(name)} not fetched: ${e.message}`), e.code);
          for (const l of mine) this.host.work.call('passing on to a thingsboard-in node', () => l.onError(error));
          continue;
        }
        if (generation !== this.generation) return;
        for (const l of mine) {
          const picked = pick(values, l.names);
          if (Object.keys(picked).length > 0) this.host.work.call('passing on to a thingsboard-in node', () => l.onAttributes?.(name as string, picked, undefined, true));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(INITIAL_CONCURRENCY, queue.length) }, worker));
  }

  private deliverAttributes(update: GatewayAttributes): void {
    this.subDevices.seen(update.device);
    for (const l of this.ofChannel('attributes')) {
      if (!takes(l, update.device)) continue;
      const values = pick(update.values, l.names);
      const deleted = update.deleted && (l.names.length === 0 ? update.deleted : update.deleted.filter((k) => l.names.includes(k)));
      const hasDeleted = !!deleted && deleted.length > 0;
      if (Object.keys(values).length === 0 && !hasDeleted) continue;
      this.host.work.call('passing on to a thingsboard-in node', () => l.onAttributes?.(update.device, values, hasDeleted ? deleted : undefined, false));
    }
  }

  private deliverRpc(request: GatewayRpc): void {
    this.subDevices.seen(request.device);
    const takers = this.ofChannel('rpc').filter((l) => takes(l, request.device) && (l.names.length === 0 || l.names.includes(request.method)));
    if (takers.length === 0) {
      const key = `${request.device}\u0000${request.method}`;
      if (!this.unknownLogged.has(key)) {
        if (this.unknownLogged.size >= 100) this.unknownLogged.clear();
        this.unknownLogged.add(key);
        this.host.warn(
          `server-side RPC "${request.method}" for sub-device ${JSON.stringify(request.device)} left unanswered: no thingsboard-in node of this gateway takes it ` +
            '(ThingsBoard will time it out). Logged once per sub-device and method.',
        );
      }
      return;
    }
    if (!this.books.of(request.device).arrived(request)) return;
    for (const l of takers) this.host.work.call('passing on to a thingsboard-in node', () => l.onRpc?.(request));
  }
}

function takes(listener: GatewayListener, device: string): boolean {
  return listener.devices.length === 0 || listener.devices.includes(device);
}

function noGateway(transport: Transport): DeviceError {
  return new DeviceError(`${transport.name.toUpperCase()} has no gateway API: ThingsBoard's gateway works over MQTT and MQTTS only`, 'NO_GATEWAY');
}

function pick(values: Record<string, unknown>, names: string[]): Record<string, unknown> {
  if (names.length === 0) return { ...values };
  const out: Record<string, unknown> = {};
  for (const name of names) if (Object.prototype.hasOwnProperty.call(values, name)) out[name] = values[name];
  return out;
}
