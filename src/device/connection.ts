// One connection to ThingsBoard per config node, shared by every node that uses it.
//
// - Users register and deregister; the first one starts the connection, the last one stops it
//   (a stopped connection can start again: a partial redeploy may remove every user of a config
//   node that stays, then add new ones).
// - Messages go through the outbox (outbox.ts): one bounded, ordered queue, ended exactly once.
// - A transient failure (network, broker restart, timeout) keeps messages queued and reconnects
//   with exponential backoff and jitter. A permanent one (token refused, certificate not
//   acceptable) fails every queued and every new message at once, naming the reason, and keeps
//   retrying slowly so that fixing it on the server side recovers without a redeploy. What is
//   remembered of failures, and how long to wait, is connection-failures.ts.
// - Status: one DeviceStatus fanned out to every user, deduplicated and throttled.
// - The downlink (downlink.ts: subscriptions, pushes, requests that wait for answers) is told
//   here when a transport is made, when a connection is up and when it is gone.
//
// Every text that leaves this file (status codes aside) goes through redact().
import { DeviceRegistry } from './registry';
import { SharedToken } from './shared-token';
import { listenTo, type TransportEvents } from './transport-events';
import { Work, type Background, type BackgroundHost } from '../background';
import { redactSecrets } from '../shared';
import { createTransport } from '../transports';
import { secretsOf, type TransportError, type ConnectionSettings, type Transport } from '../transports/transport';
import { DeviceDownlink, type DeviceDownlinkHost } from './downlink';
import { asTransportError, DeviceError, type DoneCallback } from './errors';
import { Gateway, type GatewayTarget } from './gateway';
import type { DeviceMessage, Outbox } from './outbox';
import type { Pacer } from './pacing';
import type { SessionLimits } from './session-limits';
import { leaveOnDisk, type PersistedQueue } from './persist';
import type { DeviceState, DeviceStatus } from './status';
import { admit, buildSendPath, type SendPathOwner } from './send-path';
import { describeStatus, isUnverified } from './connection-status';
import { DEFAULT_TIMING, type Timing } from './backoff';
import { ConnectionFailures, type FailuresHost } from './connection-failures';
import { StatusFanout, type DeviceUser } from './status-fanout';
import type { ConnectionOptions } from './connection-options';

export { DeviceError, type DoneCallback } from './errors';
export { DEFAULT_TIMING, type Timing } from './backoff';
export type { DeviceUser } from './status-fanout';
export type { ConnectionOptions, DeviceLog } from './connection-options';
export type { GatewayTarget, GatewayListener } from './gateway';

export class DeviceConnection {
  /** Receiving (thingsboard-in) and request/answer exchanges (thingsboard-request, replies). */
  readonly downlink: DeviceDownlink;
  /** Gateway only: sub-devices and their downlink (gateway/). */
  readonly gateway: Gateway | undefined;
  /** Keeps every rate-limit window at 80 % (pacing.ts); a gateway adds budgets with setBudget. */
  readonly pacer: Pacer;
  private readonly limits: SessionLimits;
  private readonly users: StatusFanout;
  private readonly outbox: Outbox;
  private readonly persisted: PersistedQueue | undefined;
  private readonly timing: Timing;
  private transport: Transport | undefined;
  private state: DeviceState = 'idle';
  private closed = false;
  /** Failures, the backoff and the retry timer (connection-failures.ts). */
  private readonly failures: ConnectionFailures;
  private warnedUnverified = false;
  /** The stale-callback guard: bumped on every start/stop, so callbacks of an older one do nothing. */
  private generation = 0;
  /** No users left, but messages still waiting go out (deregister with keepQueue). */
  private lingering = false;
  private stopping: Promise<void> | undefined;
  private detach: () => void = () => {};
  /** Fire-and-forget work, listener and status-handler calls: what they throw is logged. */
  private readonly work: Background;
  private readonly registry: DeviceRegistry;
  /** Other config nodes of this runtime with the same MQTT token: then none may connect. */
  private readonly token: SharedToken;

  constructor(
    readonly settings: ConnectionSettings,
    private readonly options: ConnectionOptions,
  ) {
    // The defaults themselves (frozen) unless a test changes some: not a copy per connection.
    this.timing = options.timing ? { ...DEFAULT_TIMING, ...options.timing } : DEFAULT_TIMING;
    const callbacks = new DeviceConnection.Callbacks(this);
    this.work = new Work(callbacks);
    this.users = new StatusFanout(this, this.timing.statusThrottleMs, this.work);
    const host = new DeviceConnection.Host(this);
    this.downlink = new DeviceDownlink(host);
    this.gateway = options.gateway
      ? new Gateway(host, (text) => this.options.log.debug?.(this.redact(text)), () => this.users.publishSoon(), options.maxSubDevices)
      : undefined;
    ({ pacer: this.pacer, limits: this.limits, outbox: this.outbox, persisted: this.persisted } = buildSendPath(
      new DeviceConnection.Owner(this), // private, so no node can report on its behalf
      settings,
      options,
      this.timing,
      this.gateway?.subDevices,
    ));
    this.registry = options.registry ?? new DeviceRegistry();
    this.failures = new ConnectionFailures(settings, this.timing, options.random ?? Math.random, callbacks);
    this.token = new SharedToken(options.label ?? `${settings.host}:${settings.port}`, callbacks);
    this.registry.tokens.claim(settings, this.token);
  }

  // ---- users --------------------------------------------------------------------------------

  register(user: DeviceUser): void {
    if (this.closed) return;
    this.lingering = false;
    this.users.add(user);
    if (this.users.size === 1 && (this.state === 'idle' || this.state === 'stopped') && !this.token.sharing) this.work.call('starting the connection', () => this.start());
  }

  /**
   * Resolves once the connection is stopped, when this was the last user. With `keepQueue` (a
   * node closing for a redeploy) messages still waiting keep going out; the connection stops
   * once they are delivered or when the config node closes, unless a new user comes first.
   */
  deregister(user: DeviceUser, options: { keepQueue?: boolean } = {}): Promise<void> {
    if (!this.users.delete(user)) return this.stopping ?? Promise.resolve();
    if (this.users.size > 0) return Promise.resolve();
    if (options.keepQueue && this.outbox.waiting > 0 && !this.failures.permanent) {
      this.lingering = true;
      return Promise.resolve();
    }
    return this.stop('stopped: the flow was stopped or redeployed before the message could be sent');
  }

  /** Messages not yet ended: queued and in flight. */
  get waiting(): number {
    return this.outbox.waiting;
  }

  /**
   * A redeployed config node for the same device (`next`) takes every message not yet
   * delivered, in order; this connection closes.
   */
  handOver(next: DeviceConnection): Promise<void> {
    // Both keep their messages on disk (one folder per config node): a message with a disk record
    // stays there, and the heir's disk queue reads it back once this one has closed; handing it
    // over in memory as well would send it twice.
    const onDisk = this.persisted !== undefined && next.persisted !== undefined;
    this.outbox.handOver((entries) => next.outbox.adopt(onDisk ? leaveOnDisk(entries) : entries));
    const closing = this.close();
    if (onDisk) next.persisted?.openAfter(closing);
    return closing;
  }

  /** Its config node is being replaced by one for the same device: the token is the heir's. */
  releaseToken(): void {
    this.registry.tokens.release(this.settings, this.token);
  }

  /** Final: the config node is closing. */
  async close(): Promise<void> {
    if (this.closed) return this.stopping ?? Promise.resolve();
    this.closed = true;
    this.registry.tokens.release(this.settings, this.token);
    this.users.clear();
    await this.stop('stopped: the device configuration was closed or redeployed before the message could be sent');
  }

  // ---- status -------------------------------------------------------------------------------

  status(): DeviceStatus {
    return describeStatus({
      state: this.state,
      sharedWith: this.token.sharing ? this.token.names : undefined,
      refusedCode: this.failures.refused.code,
      permanentCode: this.failures.permanent?.code,
      lastErrorCode: this.failures.last?.code,
      waiting: this.outbox.waiting,
      queued: this.outbox.queued,
      retryInSeconds: this.failures.retry.inSeconds,
      retryInMs: this.failures.retry.inMs,
      unverified: isUnverified(this.settings),
      lastMessageFailure: this.failures.lastMessage,
      subDevices: this.gateway?.subDevices.size,
      disk: this.persisted?.status(),
      paced: this.outbox.paced,
    });
  }

  private setState(state: DeviceState): void {
    this.state = state;
    this.publishStatus();
  }

  private publishStatus(): void {
    this.users.publish();
  }

  /** The number of waiting messages changed: status (throttled), and a lingering stop. */
  private queueChanged(): void {
    this.users.publishSoon();
    // The last user left with messages waiting (deregister): stop once they are all ended.
    if (this.lingering && this.outbox.waiting === 0) {
      this.lingering = false;
      queueMicrotask(() => {
        if (this.users.size === 0 && !this.closed) void this.stop('stopped');
      });
    }
  }

  private redact(text: string): string {
    return redactSecrets(text, secretsOf(this.settings));
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Resolves when ThingsBoard has the message; rejects with a DeviceError saying why not. */
  send(message: DeviceMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit(message, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * send() without a promise (the nodes' hot path): `done` is called exactly once, with no
   * argument when ThingsBoard has the message, else with a DeviceError saying why not
   * (synchronously when it cannot even be queued). A message that carries `receivedAt` and
   * `batchShape` may go out in one array publish with the telemetry queued next to it.
   */
  submit(message: DeviceMessage, done: DoneCallback, gateway?: GatewayTarget): void {
    const refusal = this.refusal();
    if (refusal) {
      done(refusal);
      return;
    }
    admit({ outbox: this.outbox, persisted: this.persisted }, { message, done, gateway }, {
      queueSize: this.options.queueSize,
      state: this.state,
      generation: this.generation,
      gateway: this.gateway,
    });
  }

  /** Why nothing can be sent now for a reason waiting will not fix (stopped, token refused). */
  private refusal(): DeviceError | undefined {
    if (this.closed || this.users.size === 0) return new DeviceError('not sent: the device connection is stopped', 'STOPPED');
    if (this.token.sharing) return this.token.error();
    const permanent = this.failures.permanent;
    return permanent ? this.permanentFailure(permanent) : undefined;
  }

  private permanentFailure(err: TransportError): DeviceError {
    return new DeviceError(this.redact(`not sent: ${err.message}`), err.code);
  }

  // ---- what the send path reports (send-path.ts) ------------------------------------------------

  // The downlink's (and gateway's), the transport events' and the send path's views of this
  // connection are classes nested here (they reach its private members), not object literals:
  // they live as long as the connection, and a literal with a getter is a dictionary-mode
  // object, each arrow in it a closure.
  private static readonly Host = class implements DeviceDownlinkHost {
    constructor(private readonly c: DeviceConnection) {}
    get sendingTransport(): Transport | undefined { return this.c.sendingTransport; }
    get work(): Background { return this.c.work; }
    blocked(): DeviceError | undefined { return this.c.refusal(); }
    paceTurn(): number { return this.c.pacer.oneMessageTurn(this.c.gateway !== undefined); }
    redact(text: string): string { return this.c.redact(text); }
    warn(text: string): void { this.c.options.log.warn(this.c.redact(text)); }
  };

  private static readonly Callbacks = class implements FailuresHost, BackgroundHost {
    constructor(private readonly c: DeviceConnection) {}
    warn(text: string): void { this.c.options.log.warn(text); }
    report(text: string): void { this.c.options.log.warn(text); }
    secret(): readonly string[] { return secretsOf(this.c.settings); }
    redact(text: string): string { return this.c.redact(text); }
    retryTick(): void { if (this.c.state === 'reconnecting') this.c.publishStatus(); }
    tokenShared(sharing: boolean): void { this.c.onTokenShared(sharing); }
  };

  private static readonly Events = class implements TransportEvents {
    constructor(private readonly c: DeviceConnection) {}
    down(err: unknown): void { this.c.onDown(asTransportError(err)); }
    warning(text: unknown): void { this.c.options.log.warn(this.c.redact(String(text))); }
    // 'securing': the TLS/DTLS handshake runs (a CoAPS handshake can take seconds on a lossy
    // link); a standing permanent failure keeps its status until a connect succeeds.
    phase(phase: unknown): void {
      if (phase === 'securing' && this.c.state === 'connecting' && !this.c.failures.permanent) this.c.setState('securing');
    }
  };

  private static readonly Owner = class implements SendPathOwner {
    constructor(private readonly c: DeviceConnection) {}
    get sendingTransport(): Transport | undefined { return this.c.sendingTransport; }
    get generation(): number { return this.c.generation; }
    isCurrent(generation: number): boolean { return generation === this.c.generation && !this.c.closed; }
    redact(text: string): string { return this.c.redact(text); }
    queueChanged(): void { this.c.queueChanged(); }
    diskChanged(): void { this.c.users.publishSoon(); }
    warn(text: string): void { this.c.options.log.warn(text); }
    info(text: string): void { this.c.options.log.info(text); }
    /** The status shows the last refused or unanswered message until one is delivered again. */
    delivered(): void {
      const refusalEnded = this.c.failures.refused.delivered();
      if (refusalEnded || this.c.failures.lastMessage !== undefined) this.c.setLastMessageFailure(undefined);
    }
    messageFailed(code: string): void {
      if (this.c.failures.lastMessage !== code) this.c.setLastMessageFailure(code);
    }
    permanent(err: TransportError): void {
      this.c.failures.messageRefused();
      this.c.enterPermanent(err);
    }
    // The transport normally emits 'down' first; if it did not, the connection is gone anyway.
    lost(err: TransportError): void {
      if (this.c.state === 'connected') this.c.onDown(err);
      else this.c.outbox.pump();
    }
  };

  private setLastMessageFailure(code: string | undefined): void {
    this.failures.lastMessage = code;
    this.publishStatus();
  }

  private get sendingTransport(): Transport | undefined {
    return this.state === 'connected' ? this.transport : undefined;
  }

  // ---- one token, two config nodes (shared-token.ts) ------------------------------------------

  private onTokenShared(sharing: boolean): void {
    if (this.closed) return;
    if (sharing) {
      this.options.log.warn(this.token.text());
      if (this.transport) this.work.run('stopping the connection', () => this.stop(this.token.error()));
      else this.outbox.failQueued(this.token.error());
      this.publishStatus();
      return;
    }
    this.options.log.info(`the access token of "${this.token.label}" is no longer used by another device configuration: connecting`);
    this.publishStatus();
    if (this.users.size > 0 && (this.state === 'idle' || this.state === 'stopped')) this.work.call('starting the connection', () => this.start());
  }

  // ---- connecting ---------------------------------------------------------------------------

  private start(): void {
    if (this.closed) return;
    this.generation++;
    this.failures.reset();
    this.outbox.restart();
    this.persisted?.open(this.generation);
    const transport = (this.options.createTransport ?? createTransport)(this.settings);
    this.transport = transport;
    const generation = this.generation;
    const stopListening = listenTo(transport, () => generation === this.generation, this.work, new DeviceConnection.Events(this));
    const detachDownlink = this.downlink.attach(transport);
    const detachGateway = this.gateway?.attach(transport);
    this.detach = () => {
      detachDownlink();
      detachGateway?.();
      stopListening();
    };
    if (isUnverified(this.settings) && !this.warnedUnverified) {
      this.warnedUnverified = true;
      this.options.log.warn(
        `server certificate verification is OFF for ${this.settings.host}:${this.settings.port}: ` +
          'anyone in the network path can read the access token and the data. Turn "verify server certificate" on and give the CA certificate.',
      );
    }
    this.work.run('connecting', () => this.attempt(generation));
  }

  private async attempt(generation: number): Promise<void> {
    this.failures.retry.started();
    const transport = this.transport;
    if (generation !== this.generation || !transport || this.closed) return;
    // While a permanent failure stands, keep showing it (messages still fail at once).
    if (!this.failures.permanent) this.setState('connecting');
    try {
      await this.connectTransport(transport);
    } catch (err) {
      if (generation !== this.generation) return;
      this.onConnectFailure(asTransportError(err), generation);
      return;
    }
    if (generation !== this.generation) return;
    if (this.failures.connected()) this.options.log.info(`connected to ${this.settings.host}:${this.settings.port} again`);
    this.setState('connected');
    // Before anything else on the new session: ThingsBoard forgot every sub-device.
    this.gateway?.connected(transport);
    this.outbox.pump();
    this.downlink.connected(transport);
    this.limits.connected(transport, generation);
  }

  /**
   * connect(); a message waiting when the session is up goes with it where the transport can
   * (Transport.connectWith: CoAP's token check is then that message's answer).
   */
  private connectTransport(transport: Transport): Promise<void> {
    return transport.connectWith ? transport.connectWith(() => this.outbox.takeForConnect()) : transport.connect();
  }

  private onConnectFailure(err: TransportError, generation: number): void {
    if (err.permanent) {
      this.enterPermanent(err);
      return;
    }
    this.scheduleRetry(generation, this.failures.connectFailed(err, `cannot connect: ${err.message}`));
  }

  private enterPermanent(err: TransportError): void {
    const generation = this.generation;
    const delayMs = this.failures.permanentFailure(err);
    this.outbox.failQueued(this.permanentFailure(err));
    this.downlink.stopped(this.permanentFailure(err));
    this.gateway?.stopped(this.permanentFailure(err));
    this.setState(err.kind === 'unauthorized' ? 'unauthorized' : 'certificate');
    // A transport that is still open (CoAP after a 4.01 on a message) stays open.
    this.scheduleRetry(generation, delayMs);
  }

  private onDown(err: TransportError): void {
    if (this.state !== 'connected' || this.closed) return;
    if (err.permanent) {
      // A CoAP server refused the token after connect (its answer to the token check came late).
      this.downlink.down();
      this.enterPermanent(err);
      return;
    }
    const generation = this.generation;
    const delayMs = this.failures.dropped(err);
    this.downlink.down();
    this.gateway?.down();
    const rateLimit = this.limits.diagnose(err, this.settings.mqtt.protocolVersion);
    const lost = this.redact(`connection to ${this.settings.host}:${this.settings.port} lost: ${err.message}${rateLimit ? `; ${rateLimit}` : ''}`);
    if (rateLimit) this.options.log.warn(lost);
    else this.options.log.info(lost);
    // Whatever was in flight comes back through the outbox's onSent ('closed') and is put back.
    this.scheduleRetry(generation, delayMs);
  }

  private scheduleRetry(generation: number, delayMs: number): void {
    if (generation !== this.generation || this.closed) return;
    this.failures.retry.schedule(delayMs, () => this.work.run('connecting', () => this.attempt(generation)));
    if (!this.failures.permanent) {
      this.failures.retry.countDown(delayMs);
      this.setState('reconnecting');
    }
  }

  /** Stops connecting; `reason` (a text, or the error) ends every queued message and exchange. */
  private stop(reason: string | DeviceError): Promise<void> {
    this.generation++;
    this.lingering = false;
    this.failures.retry.cancel();
    this.users.cancel();
    this.outbox.failQueued(typeof reason === 'string' ? new DeviceError(reason, 'STOPPED') : reason);
    this.downlink.stopped(typeof reason === 'string' ? new DeviceError('stopped: the flow was stopped or redeployed before ThingsBoard answered', 'STOPPED') : reason);
    this.gateway?.stopped(typeof reason === 'string' ? new DeviceError('stopped: the flow was stopped or redeployed before ThingsBoard answered', 'STOPPED') : reason);
    // failQueued asked for a status update: a stopped connection sends none.
    this.users.cancel();
    this.state = this.closed ? 'stopped' : 'idle';
    this.failures.permanent = undefined;
    const transport = this.transport;
    const detach = this.detach;
    this.transport = undefined;
    this.detach = () => {};
    // What was not sent stays on disk: the next open (a restart, or this connection starting again) sends it.
    const diskClosed = this.persisted?.close().catch(this.work.reportFailure(`closing the disk queue in ${this.options.persist?.dir}`));
    if (!transport) return diskClosed ?? Promise.resolve();
    // A close that throws or rejects is logged; the connection counts as stopped all the same.
    const closed = Promise.resolve()
      .then(() => transport.close())
      .catch(this.work.reportFailure(`closing the connection to ${this.settings.host}:${this.settings.port}`));
    const stopping = Promise.all([closed, diskClosed])
      .then(() => {
        detach();
        if (this.stopping === stopping) this.stopping = undefined;
      });
    this.stopping = stopping;
    return stopping;
  }
}
