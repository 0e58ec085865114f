// What one connection remembers about failing, and how long it waits before trying again: the
// failure that waiting will not fix (a refused token, a certificate not acceptable), the last
// transient one, the last refused or unanswered message, CoAP's standing token refusal
// (refused-tokens.ts), drops right after connecting (quick-drops.ts), the backoff (backoff.ts)
// and the retry timer with its countdown (retry-schedule.ts). connection.ts decides what a
// failure does to the connection's state, its queue and its downlink; this file only keeps count.
import type { ConnectionSettings, TransportError } from '../transports/transport';
import { Backoff, type Timing } from './backoff';
import { QuickDrops } from './quick-drops';
import { RefusedToken } from './refused-tokens';
import { RetrySchedule } from './retry-schedule';

/** What the failures report to their connection (an object: one per connection, not three closures). */
export interface FailuresHost {
  warn(text: string): void;
  redact(text: string): string;
  /** The retry countdown ticked (the status shows the seconds). */
  retryTick(): void;
}

export class ConnectionFailures {
  /** Set while the last connect attempt failed for a reason waiting will not fix. */
  permanent: TransportError | undefined;
  last: TransportError | undefined;
  /** Code of the last message refused or unanswered on a working connection (status). */
  lastMessage: string | undefined;
  private lastLoggedCode: string | undefined;
  /** A message was refused as permanent while the session stayed open (CoAP 4.01): see connected(). */
  private refusedOnOpenSession = false;
  /** CoAP: a 4.01 not yet followed by a delivered message (refused-tokens.ts). */
  readonly refused: RefusedToken;
  /** Drops right after connecting: "token used by another client?" (quick-drops.ts). */
  private readonly quickDrops: QuickDrops;
  private readonly backoff: Backoff;
  readonly retry: RetrySchedule;

  constructor(
    settings: ConnectionSettings,
    private readonly timing: Timing,
    random: () => number,
    private readonly host: FailuresHost,
  ) {
    this.refused = new RefusedToken(settings);
    this.quickDrops = new QuickDrops(timing, host);
    this.backoff = new Backoff(timing, random);
    this.retry = new RetrySchedule(() => host.retryTick());
  }

  /** A new start: nothing failed yet. */
  reset(): void {
    this.backoff.reset();
    this.quickDrops.reset();
    this.permanent = undefined;
    this.last = undefined;
    this.lastMessage = undefined;
    this.refusedOnOpenSession = false;
  }

  /** connect() succeeded: true when that ended a failure (worth an "again" in the log). */
  connected(): boolean {
    const recovered = this.permanent !== undefined || this.last !== undefined;
    this.permanent = undefined;
    this.last = undefined;
    this.lastLoggedCode = undefined;
    this.quickDrops.connected();
    // CoAP checks the token at connect (transports/coap/token-probe.ts): a refusal is not standing.
    // But a 4.01 on a message (the token deleted on the server while running) leaves the CoAP
    // session open, and connect() on an open session checks nothing: that refusal stands (the
    // status stays "unauthorized", connection-status.ts) until a message is delivered.
    if (!this.refusedOnOpenSession) this.refused.delivered();
    this.refusedOnOpenSession = false;
    return recovered;
  }

  /** A message was refused for a reason waiting will not fix, on a session that stays open. */
  messageRefused(): void {
    this.refusedOnOpenSession = true;
  }

  /** A connect attempt failed for a transient reason: the delay before the next one. */
  connectFailed(err: TransportError, text: string): number {
    this.last = err;
    this.logOnce(err, text);
    return this.backoff.next();
  }

  /** A failure waiting will not fix: the (long) delay before trying again all the same. */
  permanentFailure(err: TransportError): number {
    this.permanent = err;
    this.refused.failed(err);
    this.logOnce(err, err.message);
    // Try again rarely: the fix (a new token, a new certificate) is made on a server.
    return this.backoff.jitter(this.timing.backoffMaxMs);
  }

  /** A working connection was lost: the delay before reconnecting. */
  dropped(err: TransportError): number {
    if (this.quickDrops.dropped() >= this.timing.stableAfterMs) this.backoff.reset();
    this.last = err;
    return this.backoff.next();
  }

  /** Logs a failure once per distinct code, so a retry loop does not flood the log. */
  private logOnce(err: TransportError, text: string): void {
    if (this.lastLoggedCode === err.code) return;
    this.lastLoggedCode = err.code;
    this.host.warn(this.host.redact(text));
  }
}
