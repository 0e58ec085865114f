// One connection to ThingsBoard per config node, shared by every node that uses it.
//
// - Users register and deregister; the first one starts the connection, the last one stops it
//   (a stopped connection can start again: a partial redeploy may remove every user of a config
//   node that stays, then add new ones).
// - Messages go through ONE bounded, ordered queue; at most transport.maxInFlight are sent at
//   once. A message ends exactly once: resolved when ThingsBoard has it, rejected with a
//   DeviceError saying why not. None is dropped silently.
// - A transient failure (network, broker restart, timeout) keeps messages queued and reconnects
//   with exponential backoff and jitter. A permanent one (token refused, certificate not
//   acceptable) fails every queued and every new message at once, naming the reason, and keeps
//   retrying slowly so that fixing it on the server side recovers without a redeploy.
//
// Every text that leaves this file (status codes aside) goes through redact().
import { redact } from '../transports/redact';
import { TransportError, type ConnectionSettings, type OutboundMessage, type Transport } from '../transports/transport';
import { batchable, batchCount, buildBatchBody, fitsAlone } from './batch';
import type { DeviceState, DeviceStatus } from './status';

export class DeviceError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

export interface DeviceUser {
  onStatus(status: DeviceStatus): void;
}

export interface DeviceLog {
  /** Shown once per event in the Node-RED log as a warning. Already redacted. */
  warn(text: string): void;
  /** Informational (connection lost/restored). Already redacted. */
  info(text: string): void;
}

export interface Timing {
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A connection that lived this long resets the backoff. */
  stableAfterMs: number;
  /** A drop this soon after connecting counts as "dropped right after connect". */
  quickDropMs: number;
  /** That many quick drops in a row → the "token used by another client?" warning. */
  quickDropsForWarning: number;
  /** At most one status update per this many ms for queue-length changes alone. */
  statusThrottleMs: number;
  /** A message whose connection closed while in flight this many times fails (poison message). */
  maxResends: number;
}

export const DEFAULT_TIMING: Timing = {
  backoffInitialMs: 1000,
  backoffMaxMs: 60_000,
  stableAfterMs: 30_000,
  quickDropMs: 10_000,
  quickDropsForWarning: 3,
  statusThrottleMs: 250,
  maxResends: 5,
};

export interface ConnectionOptions {
  createTransport: (settings: ConnectionSettings) => Transport;
  log: DeviceLog;
  queueSize: number;
  timing?: Partial<Timing>;
  /** [0, 1): jitter source (tests may fix it). */
  random?: () => number;
}

/** Called exactly once per message: no argument when ThingsBoard has it. */
export type DoneCallback = (err?: DeviceError) => void;

interface Entry {
  seq: number;
  message: OutboundMessage;
  done: DoneCallback;
  resends: number;
  /** Send alone: its batch was rejected, so its own answer must say whether it is the bad one. */
  solo: boolean;
}

const ANOTHER_CLIENT_WARNING =
  'the connection keeps dropping right after it is established: the access token may be used by another client ' +
  '(ThingsBoard allows one session per device; each new one closes the previous). Give every client its own device or token.';

export class DeviceConnection {
  private readonly users = new Set<DeviceUser>();
  private readonly queue: Entry[] = [];
  /** Sends (publishes) outstanding, and the messages in them (a batch is one send). */
  private inFlightSends = 0;
  private inFlightMessages = 0;
  /** The last status given to users, so an unchanged one is not sent again. */
  private lastStatus: DeviceStatus | undefined;
  private readonly timing: Timing;
  private readonly random: () => number;
  private transport: Transport | undefined;
  private state: DeviceState = 'idle';
  private closed = false;
  /** Set while the last connect attempt failed for a reason waiting will not fix. */
  private permanentError: TransportError | undefined;
  private lastError: TransportError | undefined;
  /** Code of the last message refused or unanswered on a working connection (status). */
  private lastMessageFailure: string | undefined;
  private lastLoggedCode: string | undefined;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryInSeconds = 0;
  private retryInMs = 0;
  private statusTimer: NodeJS.Timeout | undefined;
  private connectedAt = 0;
  private quickDrops = 0;
  private warnedAnotherClient = false;
  private warnedUnverified = false;
  private seq = 0;
  /** Bumped on every start/stop so callbacks from an older session do nothing. */
  private session = 0;
  private stopping: Promise<void> | undefined;
  private detach: () => void = () => {};
  /** Send one message at a time (set after a drop with messages in flight). */
  private cautious = false;

  constructor(
    readonly settings: ConnectionSettings,
    private readonly options: ConnectionOptions,
  ) {
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.random = options.random ?? Math.random;
  }

  // ---- users --------------------------------------------------------------------------------

  get userCount(): number {
    return this.users.size;
  }

  register(user: DeviceUser): void {
    if (this.closed) return;
    this.users.add(user);
    this.safeStatus(user, this.status());
    if (this.users.size === 1 && (this.state === 'idle' || this.state === 'stopped')) void this.start();
  }

  /** Resolves once the connection is stopped, when this was the last user. */
  deregister(user: DeviceUser): Promise<void> {
    if (!this.users.delete(user)) return this.stopping ?? Promise.resolve();
    if (this.users.size > 0) return Promise.resolve();
    return this.stop('stopped: the flow was stopped or redeployed before the message could be sent');
  }

  /** Final: the config node is closing. */
  async close(): Promise<void> {
    if (this.closed) return this.stopping ?? Promise.resolve();
    this.closed = true;
    this.users.clear();
    await this.stop('stopped: the device configuration was closed or redeployed before the message could be sent');
  }

  // ---- status -------------------------------------------------------------------------------

  status(): DeviceStatus {
    const code = this.state === 'unauthorized' || this.state === 'certificate' ? this.permanentError?.code : this.lastError?.code;
    return {
      state: this.state,
      // While connected, messages in flight are not "queued" (they are being delivered): only
      // those waiting behind the in-flight window count, so a flowing connection shows a steady
      // "connected" instead of a count that changes with every acknowledgement.
      queued: this.state === 'connected' ? this.queue.length : this.queue.length + this.inFlightMessages,
      retryInSeconds: this.state === 'reconnecting' ? this.retryInSeconds : undefined,
      retryInMs: this.state === 'reconnecting' ? this.retryInMs : undefined,
      code,
      unverified: (this.settings.transport === 'mqtts' || this.settings.transport === 'coaps') && !this.settings.verifyServer,
      lastFailure: this.state === 'connected' ? this.lastMessageFailure : undefined,
    };
  }

  /** The reason the last attempt failed, redacted (for logs and tests). */
  get lastFailure(): string | undefined {
    return (this.permanentError ?? this.lastError)?.message;
  }

  private setState(state: DeviceState): void {
    this.state = state;
    this.publishStatus();
  }

  private publishStatus(): void {
    if (this.statusTimer) {
      clearTimeout(this.statusTimer);
      this.statusTimer = undefined;
    }
    const status = this.status();
    // 1,000 devices each tick this every 250 ms while messages flow: skip when nothing changed.
    if (this.lastStatus && sameStatus(this.lastStatus, status)) return;
    this.lastStatus = status;
    for (const user of this.users) this.safeStatus(user, status);
  }

  /** Queue-length changes alone: throttled, so 5,000 messages are not 5,000 status updates. */
  private queueChanged(): void {
    if (this.statusTimer || this.users.size === 0) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.publishStatus();
    }, this.timing.statusThrottleMs);
  }

  private safeStatus(user: DeviceUser, status: DeviceStatus): void {
    try {
      user.onStatus(status);
    } catch {
      // A user's status handler must not break the connection for the others.
    }
  }

  private redact(text: string): string {
    return redact(text, this.settings.accessToken);
  }

  // ---- sending ------------------------------------------------------------------------------

  /** Resolves when ThingsBoard has the message; rejects with a DeviceError saying why not. */
  send(message: OutboundMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => this.submit(message, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * send() without a promise (the nodes' hot path): `done` is called exactly once, with no
   * argument when ThingsBoard has the message, else with a DeviceError saying why not
   * (synchronously when it cannot even be queued). A message that carries `receivedAt` and
   * `batchShape` may go out in one array publish with the telemetry queued next to it.
   */
  submit(message: OutboundMessage, done: DoneCallback): void {
    if (this.closed || this.users.size === 0) {
      done(new DeviceError('not sent: the device connection is stopped', 'STOPPED'));
      return;
    }
    if (this.permanentError) {
      done(this.permanentFailure(this.permanentError));
      return;
    }
    const waiting = this.queue.length + this.inFlightMessages;
    if (waiting >= this.options.queueSize) {
      const why = this.state === 'connected' ? 'ThingsBoard is acknowledging more slowly than messages arrive' : `the connection is ${this.state}`;
      done(
        new DeviceError(
          `not sent: the queue is full (${waiting} messages waiting; ${why}). Raise "queue size" or send less often.`,
          'QUEUE_FULL',
        ),
      );
      return;
    }
    this.queue.push({ seq: this.seq++, message, done, resends: 0, solo: false });
    this.pump();
    this.queueChanged();
  }

  private permanentFailure(err: TransportError): DeviceError {
    return new DeviceError(this.redact(`not sent: ${err.message}`), err.code);
  }

  private pump(): void {
    const transport = this.transport;
    const session = this.session;
    // Re-checked every round: a transport may answer synchronously, and that can drop the session.
    while (this.state === 'connected' && transport && this.transport === transport && session === this.session && this.queue.length > 0) {
      // After a drop with messages in flight, one at a time until one is acknowledged: a message
      // the server answers by closing the session then cannot take innocent ones down with it.
      const limit = this.cautious ? 1 : Math.max(1, transport.maxInFlight || 1);
      if (this.inFlightSends >= limit) return;
      const count = this.cautious ? 1 : this.batchSize();
      if (count === 1) {
        const entry = this.queue.shift() as Entry;
        this.inFlightSends++;
        this.inFlightMessages++;
        // Out of an array that failed, it keeps the ts it had there (a one-entry array).
        const message = entry.solo && batchable(entry.message) && fitsAlone(entry.message, this.settings.maxPayloadBytes)
          ? { kind: entry.message.kind, body: buildBatchBody([entry], 1), qos: entry.message.qos }
          : entry.message;
        this.transmit(transport, message, (err) => this.onSent(entry, session, err));
      } else {
        // Messages queued behind the in-flight window: one ThingsBoard array for all of them.
        const batch = this.queue.splice(0, count);
        const first = batch[0].message;
        const body = buildBatchBody(batch, count);
        this.inFlightSends++;
        this.inFlightMessages += count;
        this.transmit(transport, { kind: 'telemetry', body, qos: first.qos }, (err) => this.onSent(batch, session, err));
      }
    }
  }

  /** How many queued messages, from the head, go out together in one array publish (≥ 1). */
  private batchSize(): number {
    const queue = this.queue;
    const first = queue[0];
    if (queue.length < 2 || first.solo || !batchable(first.message)) return 1;
    const qos = first.message.qos;
    let run = 1;
    while (run < queue.length) {
      const next = queue[run];
      if (next.solo || next.message.qos !== qos || !batchable(next.message)) break;
      run++;
    }
    return run === 1 ? 1 : batchCount(queue, run, this.settings.maxPayloadBytes);
  }

  /** The status shows the last refused or unanswered message until one is delivered again. */
  private noteMessageFailure(code: string): void {
    if (this.lastMessageFailure === code) return;
    this.lastMessageFailure = code;
    this.publishStatus();
  }

  private transmit(transport: Transport, message: OutboundMessage, callback: (err?: unknown) => void): void {
    if (transport.sendWithCallback) {
      transport.sendWithCallback(message, callback);
      return;
    }
    let sending: Promise<void>;
    try {
      sending = transport.send(message);
    } catch (err) {
      sending = Promise.reject(err);
    }
    sending.then(() => callback(), callback);
  }

  /** One send ended: `sent` is a message sent alone or the messages of one array publish. */
  private onSent(sent: Entry | Entry[], session: number, failure: unknown): void {
    const count = Array.isArray(sent) ? sent.length : 1;
    this.inFlightSends--;
    this.inFlightMessages -= count;
    this.queueChanged();
    if (failure === undefined || failure === null) {
      this.cautious = false;
      if (this.lastMessageFailure !== undefined) {
        this.lastMessageFailure = undefined;
        this.publishStatus();
      }
      if (Array.isArray(sent)) for (const entry of sent) entry.done();
      else sent.done();
      if (session === this.session) this.pump();
      return;
    }
    const err = asTransportError(failure);
    const entries = Array.isArray(sent) ? sent : [sent];
    if (session !== this.session || this.closed) {
      // stop() already failed everything that was queued; these were in flight then.
      for (const entry of entries) entry.done(new DeviceError('not sent: the connection was stopped while the message was in flight', 'STOPPED'));
      return;
    }
    switch (err.kind) {
      case 'rejected':
        if (count > 1) {
          // Which message is the bad one? Each goes again on its own and gets its own answer.
          for (const entry of entries) entry.solo = true;
          this.putBack(entries);
        } else {
          entries[0].done(new DeviceError(this.redact(`not sent: ${err.message}`), err.code));
          this.noteMessageFailure(err.code);
        }
        this.pump();
        return;
      case 'timeout': {
        // No answer at all: the same for every message of the array (resending them one by one
        // would only multiply the wait when the peer is gone).
        const error = new DeviceError(this.redact(`not sent: ${err.message}`), err.code);
        for (const entry of entries) entry.done(error);
        this.noteMessageFailure(err.code);
        this.pump();
        return;
      }
      case 'unauthorized':
      case 'certificate':
        this.putBack(entries);
        this.enterPermanent(err);
        return;
      case 'closed':
      case 'unreachable':
      default: {
        this.cautious = true;
        const again: Entry[] = [];
        for (const entry of entries) {
          entry.resends++;
          // Judged alone from now on: an innocent message must not share a poison one's resends.
          if (count > 1) entry.solo = true;
          if (entry.resends > this.timing.maxResends) {
            entry.done(
              new DeviceError(
                this.redact(
                  `not sent: the connection closed every time this message was in flight (${entry.resends} times); ` +
                    `ThingsBoard may be refusing it (payload too large for the server, rate limits). Last error: ${err.message}`,
                ),
                'RESENDS_EXHAUSTED',
              ),
            );
          } else {
            again.push(entry);
          }
        }
        this.putBack(again);
        // The transport normally emits 'down' first; if it did not, the connection is gone anyway.
        if (this.state === 'connected') this.onDown(err);
        else this.pump();
      }
    }
  }

  /**
   * At-least-once: messages whose send failed go back in their original places (`entries` are
   * in order; the queue is always in seq order).
   */
  private putBack(entries: Entry[]): void {
    let i = 0;
    for (const entry of entries) {
      while (i < this.queue.length && this.queue[i].seq < entry.seq) i++;
      this.queue.splice(i, 0, entry);
      i++;
    }
  }

  private failQueued(error: DeviceError): void {
    const entries = this.queue.splice(0, this.queue.length);
    for (const entry of entries) entry.done(error);
    this.queueChanged();
  }

  // ---- connecting ---------------------------------------------------------------------------

  private start(): void {
    if (this.closed) return;
    this.session++;
    this.attempts = 0;
    this.quickDrops = 0;
    this.cautious = false;
    this.permanentError = undefined;
    this.lastError = undefined;
    this.lastMessageFailure = undefined;
    const transport = this.options.createTransport(this.settings);
    this.transport = transport;
    const session = this.session;
    const onDown = (err: unknown) => {
      if (session === this.session) this.onDown(asTransportError(err));
    };
    const onWarning = (text: unknown) => {
      if (session === this.session) this.options.log.warn(this.redact(String(text)));
    };
    // 'securing': the TLS/DTLS handshake runs (a CoAPS handshake can take seconds on a lossy
    // link); a standing permanent failure keeps its status until a connect succeeds.
    const onPhase = (phase: unknown) => {
      if (session === this.session && phase === 'securing' && this.state === 'connecting' && !this.permanentError) {
        this.setState('securing');
      }
    };
    transport.on('down', onDown);
    transport.on('warning', onWarning);
    transport.on('phase', onPhase);
    // Only the listeners added here are removed again (the transport may have its own).
    this.detach = () => {
      transport.removeListener('down', onDown);
      transport.removeListener('warning', onWarning);
      transport.removeListener('phase', onPhase);
    };
    if (this.status().unverified && !this.warnedUnverified) {
      this.warnedUnverified = true;
      this.options.log.warn(
        `server certificate verification is OFF for ${this.settings.host}:${this.settings.port}: ` +
          'anyone in the network path can read the access token and the data. Turn "verify server certificate" on and give the CA certificate.',
      );
    }
    void this.attempt(session);
  }

  private async attempt(session: number): Promise<void> {
    this.retryTimer = undefined;
    const transport = this.transport;
    if (session !== this.session || !transport || this.closed) return;
    // While a permanent failure stands, keep showing it (messages still fail at once).
    if (!this.permanentError) this.setState('connecting');
    try {
      await transport.connect();
    } catch (err) {
      if (session !== this.session) return;
      this.onConnectFailure(asTransportError(err), session);
      return;
    }
    if (session !== this.session) return;
    const recovered = this.permanentError || this.lastError;
    this.permanentError = undefined;
    this.lastError = undefined;
    this.lastLoggedCode = undefined;
    this.connectedAt = Date.now();
    if (recovered) this.options.log.info(`connected to ${this.settings.host}:${this.settings.port} again`);
    this.setState('connected');
    this.pump();
  }

  private onConnectFailure(err: TransportError, session: number): void {
    if (err.permanent) {
      this.enterPermanent(err);
      return;
    }
    this.lastError = err;
    this.logOnce(err, `cannot connect: ${err.message}`);
    this.scheduleRetry(session, this.nextDelay());
  }

  private enterPermanent(err: TransportError): void {
    const session = this.session;
    this.permanentError = err;
    this.logOnce(err, err.message);
    this.failQueued(this.permanentFailure(err));
    this.setState(err.kind === 'unauthorized' ? 'unauthorized' : 'certificate');
    // Try again rarely: the fix (a new token, a new certificate) is made on a server. A transport
    // that is still open (CoAP after a 4.01) stays open: the retry then is the next message.
    this.scheduleRetry(session, this.jitter(this.timing.backoffMaxMs));
  }

  private onDown(err: TransportError): void {
    if (this.state !== 'connected' || this.closed) return;
    const session = this.session;
    const lived = Date.now() - this.connectedAt;
    if (lived >= this.timing.stableAfterMs) this.attempts = 0;
    if (lived < this.timing.quickDropMs) {
      this.quickDrops++;
      if (this.quickDrops >= this.timing.quickDropsForWarning && !this.warnedAnotherClient) {
        this.warnedAnotherClient = true;
        this.options.log.warn(ANOTHER_CLIENT_WARNING);
      }
    } else {
      this.quickDrops = 0;
    }
    this.lastError = err;
    this.options.log.info(this.redact(`connection to ${this.settings.host}:${this.settings.port} lost: ${err.message}`));
    // Whatever was in flight comes back through onSendFailure ('closed') and is put back.
    this.scheduleRetry(session, this.nextDelay());
  }

  private nextDelay(): number {
    const cap = Math.min(this.timing.backoffMaxMs, this.timing.backoffInitialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    return this.jitter(cap);
  }

  /** 75–100 % of the cap: spreads reconnects of many devices after a server restart. */
  private jitter(capMs: number): number {
    return Math.round(capMs * (0.75 + 0.25 * this.random()));
  }

  private scheduleRetry(session: number, delayMs: number): void {
    if (session !== this.session || this.closed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryInMs = delayMs;
    this.retryInSeconds = Math.max(1, Math.ceil(delayMs / 1000));
    this.retryTimer = setTimeout(() => void this.attempt(session), delayMs);
    if (!this.permanentError) this.setState('reconnecting');
  }

  /** Logs a failure once per distinct code, so a retry loop does not flood the log. */
  private logOnce(err: TransportError, text: string): void {
    if (this.lastLoggedCode === err.code) return;
    this.lastLoggedCode = err.code;
    this.options.log.warn(this.redact(text));
  }

  private stop(reason: string): Promise<void> {
    this.session++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.failQueued(new DeviceError(reason, 'STOPPED'));
    if (this.statusTimer) clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.state = this.closed ? 'stopped' : 'idle';
    this.permanentError = undefined;
    const transport = this.transport;
    const detach = this.detach;
    this.transport = undefined;
    this.detach = () => {};
    if (!transport) return Promise.resolve();
    const stopping = transport
      .close()
      .catch(() => {})
      .then(() => {
        detach();
        if (this.stopping === stopping) this.stopping = undefined;
      });
    this.stopping = stopping;
    return stopping;
  }
}

function asTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  if (err && typeof err === 'object' && 'kind' in err && typeof (err as { kind: unknown }).kind === 'string') {
    const e = err as { message?: string; kind: TransportError['kind']; code?: string };
    return new TransportError(String(e.message ?? e.kind), e.kind, e.code ?? e.kind);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransportError(message, 'closed', 'UNEXPECTED');
}

function sameStatus(a: DeviceStatus, b: DeviceStatus): boolean {
  return (
    a.state === b.state &&
    a.queued === b.queued &&
    a.retryInSeconds === b.retryInSeconds &&
    a.retryInMs === b.retryInMs &&
    a.code === b.code &&
    a.unverified === b.unverified &&
    a.lastFailure === b.lastFailure
  );
}
