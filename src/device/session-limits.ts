// Which rate limits the pacer (pacing.ts) keeps, and what a drop may have to do with them.
// - Configured (`rateLimits` property): those, over every transport, whatever the server says.
// - Else, over MQTT, what ThingsBoard's MQTT transport answers to the client-side RPC
//   getSessionLimits, asked after every connect. A gateway is also paced by the answer's
//   gatewayRateLimits (budgets gateway.*, charged by gateway/pacing.ts), whatever is configured. Sending never waits for the answer: servers
//   older than the feature pass it to the rule chain, which usually never answers.
// - A server that acknowledges publishes but never answers getSessionLimits may be a plain MQTT
//   broker, not ThingsBoard: said once in the log.
// - MQTT 3.1.1 gets no reason when ThingsBoard closes a session over a rate limit: a close right
//   after a burst is reported as a possible rate limit, with the hint to set `rateLimits`.
import type { Transport, TransportError } from '../transports/transport';
import { describeLimits, gatewayBudget, LIMIT_NAMES, limitsFromServer, type Pacer, type RateLimits } from './pacing';

/** How long to wait for getSessionLimits before calling the server "not answering". */
export const SESSION_LIMITS_ANSWER_MS = 10_000;
/** A close this soon after a burst of at least BURST_MESSAGES sends may be a rate limit. */
const BURST_MS = 2000;
const BURST_MESSAGES = 10;

/** MQTT 5 reason codes ThingsBoard uses for rate limits (mqtt/errors.ts words them). */
const RATE_LIMIT_CODES = new Set(['DISCONNECT_131', 'DISCONNECT_150', 'DISCONNECT_151', 'DISCONNECT_159', 'PUBACK_151', 'CONNACK_151', 'CONNACK_159']);

export interface SessionLimitsHost {
  readonly pacer: Pacer;
  /** The largest payload ThingsBoard accepts (getSessionLimits maxPayloadSize). */
  limitPayload(bytes: number): void;
  warn(text: string): void;
  /** Publishes acknowledged so far (any session): tells a silent broker from a dead one. */
  readonly delivered: number;
  /** A gateway: the answer's gatewayRateLimits are paced too. */
  readonly gateway?: boolean;
  /** The session `generation` is still the connection's: its answer may be applied. */
  isCurrent(generation: number): boolean;
  /** "host:port", for the warning. */
  where(): string;
}

export class SessionLimits {
  private warnedNotThingsBoard = false;
  /** Send times of the last few sends (burst detection). */
  private readonly recent: number[] = [];
  private serverLimits: RateLimits | undefined;
  /** A gateway's, from the last answer (none before one). */
  private gatewayLimits: RateLimits | undefined;

  constructor(
    private readonly host: SessionLimitsHost,
    /** The `rateLimits` property; undefined = what the server says. */
    private readonly configured: RateLimits | undefined,
    private readonly now: () => number = Date.now,
    private readonly answerMs: number = SESSION_LIMITS_ANSWER_MS,
  ) {
    if (configured) host.pacer.setLimits(configured);
  }

  /** The limits in force, for warnings ("" when none are known). */
  get inForce(): string {
    return describeLimits(this.configured ?? this.serverLimits ?? {});
  }

  /** A connection is up: ask an MQTT ThingsBoard for this session's limits, without waiting. */
  connected(transport: Transport, generation: number): void {
    if ((transport.name !== 'mqtt' && transport.name !== 'mqtts') || typeof transport.callRpc !== 'function') return;
    // No abort signal: a question outlives its session only until the transport ends it (a drop
    // or close rejects every answer waited for, mqtt/downlink.ts end()), and an answer for a
    // session that is over is not applied (isCurrent). A signal would be an AbortController, a
    // signal and a listener per connection for the time the question waits.
    const deliveredBefore = this.host.delivered;
    // The question is a message too: ThingsBoard counts it against the limits.
    this.host.pacer.take({ messages: 1 });
    transport.callRpc('getSessionLimits', {}, this.answerMs).then(
      (answer) => {
        if (this.host.isCurrent(generation)) this.apply(answer);
      },
      (err: TransportError) => {
        if (!this.host.isCurrent(generation) || err.code !== 'NO_ANSWER' || this.warnedNotThingsBoard) return;
        // Messages were acknowledged meanwhile: the server is there, it just does not answer.
        if (this.host.delivered === deliveredBefore) return;
        this.warnedNotThingsBoard = true;
        this.host.warn(
          `${this.host.where()} acknowledges messages but did not answer getSessionLimits within ${this.answerMs / 1000} s, which ThingsBoard's MQTT transport answers itself: ` +
            'the server may not be ThingsBoard (a plain MQTT broker accepts the messages, but they reach no ThingsBoard device), or a ThingsBoard older than 3.6. ' +
            'Check host and port; set "rate limits" if your tenant profile has any.',
        );
      },
    );
  }

  private apply(answer: unknown): void {
    if (typeof answer !== 'object' || answer === null) return;
    const { maxPayloadSize, rateLimits, gatewayRateLimits } = answer as { maxPayloadSize?: unknown; rateLimits?: unknown; gatewayRateLimits?: unknown };
    if (typeof maxPayloadSize === 'number' && Number.isInteger(maxPayloadSize)) this.host.limitPayload(maxPayloadSize);
    let replaced = false;
    // The user's limits win over the device limits the server names.
    if (!this.configured) {
      const limits = limitsFromServer(rateLimits);
      // Same limits as before (a reconnect): keep the buckets, they remember what was just sent.
      if (describeLimits(limits) !== describeLimits(this.serverLimits ?? {})) {
        this.serverLimits = limits;
        this.host.pacer.setLimits(limits);
        replaced = true; // setLimits replaced every budget, the gateway's too
      }
    }
    if (!this.host.gateway) return;
    const gateway = limitsFromServer(gatewayRateLimits);
    if (!replaced && describeLimits(gateway) === describeLimits(this.gatewayLimits ?? {})) return;
    this.gatewayLimits = gateway;
    for (const name of LIMIT_NAMES) this.host.pacer.setBudget(gatewayBudget(name), gateway[name] ?? []);
  }

  /** A publish went out (burst detection). */
  sent(): void {
    const now = this.now();
    this.recent.push(now);
    if (this.recent.length > BURST_MESSAGES) this.recent.shift();
  }

  /**
   * What to add to "connection lost" when the drop may be a rate limit: MQTT 5 says so with a
   * reason code; MQTT 3.1.1 cannot, so a close right after a burst is called a possible one.
   */
  diagnose(err: TransportError, protocolVersion: 4 | 5): string | undefined {
    const limits = this.inForce;
    const hint = limits ? ` (paced at 80 % of ${limits})` : '; set "rate limits" on the device to the limits of its tenant profile so sending is paced below them';
    if (RATE_LIMIT_CODES.has(err.code)) return `ThingsBoard reports a rate limit${hint}`;
    const burst = this.recent.length >= BURST_MESSAGES && this.now() - this.recent[0] <= BURST_MS;
    if (protocolVersion === 4 && err.code === 'CLOSED' && burst) {
      return `the server closed the session right after a burst of ${this.recent.length} messages: possibly a rate limit (MQTT 3.1.1 gets no reason)${hint}`;
    }
    return undefined;
  }
}
