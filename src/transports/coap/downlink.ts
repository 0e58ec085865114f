// The receive side of the CoAP transport (contract in transports/transport.ts): Observe
// registrations on /api/v1/$TOKEN/attributes and /rpc, here; RPC replies, attribute requests and
// client-side RPC in coap/requests.ts (`requests`); all on the transport's one Agent and socket
// (plain UDP or DTLS).
//
// ThingsBoard's behaviour, from its sources (DefaultCoapClientContext, JsonCoapAdaptor):
// - A registration (GET, Observe=0, confirmable) is answered with a first response that carries
//   an Observe number: for attributes 2.05 with ALL current shared attributes (ThingsBoard runs a
//   shared-only attribute request for it), for rpc 2.03 Valid with no payload. Notifications
//   follow as CON messages (because the registration was CON) with increasing Observe numbers,
//   each registration counting from its own start. The library ACKs every CON notification.
// - The first response of an attributes registration is NOT emitted as an 'attributes' update:
//   it is the whole state, not a change, and MQTT sends nothing like it. The device layer asks
//   for initial values itself after connect, and for what changed after 'resubscribed'.
// - A new registration with a new CoAP token replaces the device's previous one, whose exchange
//   then gets 2.02 Deleted; a registration with the same token is ignored ("duplicate") and
//   never answered. So every re-registration uses a fresh token, and the old observation is
//   forgotten once the new one is confirmed: a later notification on the old token finds no
//   request in the Agent, which rejects it with RST (RFC 7641 §3.6: that cancels it too).
// - Deregistration: GET with Observe=1 and the registration's token. ThingsBoard may only ACK it.
//   A renewal deregisters the replaced registration too (harmless for ThingsBoard, needed by
//   servers that keep one observation per token).
// - ThingsBoard cannot tell a dead observer, and observations drop silently (its issues #12406,
//   #5263): each observation is renewed every `refreshMs` within a connection, which emits
//   'resubscribed'. The default stays under the 2-minute UDP mapping lifetime NATs must keep at
//   least (RFC 4787 REQ-5), so a device behind NAT that sends nothing keeps receiving.
// - Subscriptions do not survive a reconnect (contract): a teardown forgets everything; the device
//   layer subscribes again after connect(). Our DTLS client never re-handshakes inside a session:
//   a lost session ends the connection ('down'), and the new one is a new connect().
//
// Delivery: a notification counts only when its Observe number is newer than the last one of its
// observation (RFC 7641 §3.4: a retransmitted or reordered notification is dropped). An RPC
// command ThingsBoard sends again with the same id (it saw no ACK) is passed on: the device
// layer's RpcBook (src/device/rpc-book.ts) delivers a command once. Every text is redacted: the
// URI holds the access token.
import type { Agent, IncomingMessage, OutgoingMessage } from 'coap';
import type { DownlinkChannel, FailureKind, TransportError } from '../transport';
import { redact } from '../../shared';
import { maxTransmitWaitMs } from './timing';
import { acknowledged, startRequest, type PendingExchange } from './exchange';
import { awaitAnswer, noAnswerText } from '../../deadline';
import { background } from '../../background';
import { dropObserveOption, requestToken, responseOptions, takeNotifications } from './library-shim';
import { NotificationError, diagnostic, hasOption, isFresher, observeNumber, parseAttributesUpdate, parseRpcRequest, type NotificationPacket } from './notifications';
import { CoapRequests, type DownlinkEndpoint, type CoapDownlinkHost } from './requests';
import { codeError, redactedError, tokenError } from './codes';
import { apiPath } from './resources';

export type { DownlinkEndpoint, CoapDownlinkHost } from './requests';

export interface CoapDownlinkOptions {
  /** Renew each observation this often within a connection. Default DEFAULT_REFRESH_MS. */
  refreshMs?: number;
  /** Give up on an Observe registration, or an RPC reply, without an answer after this. */
  answerTimeoutMs?: number;
}

export const DEFAULT_REFRESH_MS = 100_000;
/** After ThingsBoard ended an observation with an error, try again this soon (at most refreshMs). */
const RETRY_AFTER_ERROR_MS = 5_000;
/** ThingsBoard's `transport.coap.timeout`: how long it gives itself to answer a request. */
const SERVER_ANSWER_MS = 10_000;
/** How long close()/unsubscribe() wait for ThingsBoard to acknowledge a deregistration. */
const DEREGISTER_WAIT_MS = 1_000;

interface Observation {
  channel: DownlinkChannel;
  agent: Agent;
  req: OutgoingMessage;
  token?: Buffer;
  lastSeq?: number;
  lastTime: number;
  /** Forgotten: aborted in the Agent (once), its notifications ignored. */
  dropped: boolean;
}

interface ChannelState {
  wanted: boolean;
  current?: Observation;
  registering?: Promise<void>;
  timer?: NodeJS.Timeout;
}

export class CoapDownlink {
  private readonly channels = new Map<DownlinkChannel, ChannelState>();
  private readonly pending = new Set<PendingExchange>();
  private readonly refreshMs: number;
  private readonly answerTimeoutOption?: number;
  /** RPC replies, attribute requests, client-side RPC: their exchanges are failed by onTeardown too. */
  readonly requests: CoapRequests;

  constructor(private readonly host: CoapDownlinkHost, options: CoapDownlinkOptions = {}) {
    this.refreshMs = Math.max(50, options.refreshMs ?? DEFAULT_REFRESH_MS);
    this.answerTimeoutOption = options.answerTimeoutMs;
    this.requests = new CoapRequests(host, this.pending, () => this.answerTimeoutMs());
  }

  // ---- the contract's methods ---------------------------------------------------------------

  subscribe(channel: DownlinkChannel): Promise<void> {
    const state = this.state(channel);
    state.wanted = true;
    if (state.current) return Promise.resolve();
    return state.registering ?? this.startRegistration(channel, false);
  }

  async unsubscribe(channel: DownlinkChannel): Promise<void> {
    const state = this.channels.get(channel);
    if (!state) return;
    state.wanted = false;
    clearTimeout(state.timer);
    const obs = state.current;
    state.current = undefined;
    if (obs) await this.deregister(obs, this.host.endpoint());
    // A registration still in flight is dropped and deregistered when it completes (register()).
  }

  // ---- hooks for coap.ts --------------------------------------------------------------------

  /** close(): deregisters every observation (bounded wait) while the socket is still open. */
  close(): Promise<void> {
    const endpoint = this.host.endpoint();
    const observations: Observation[] = [];
    for (const state of this.channels.values()) {
      state.wanted = false;
      clearTimeout(state.timer);
      if (state.current) observations.push(state.current);
      state.current = undefined;
    }
    return Promise.all(observations.map((obs) => this.deregister(obs, endpoint))).then(() => undefined);
  }

  /** The socket is going away: every pending request fails with `reason`, observations are forgotten. */
  onTeardown(reason: TransportError): void {
    for (const p of [...this.pending]) p.fail(reason);
    for (const state of this.channels.values()) {
      clearTimeout(state.timer);
      if (state.current) this.drop(state.current);
      state.current = undefined;
      state.wanted = false;
    }
    this.channels.clear();
  }

  // ---- observations -------------------------------------------------------------------------

  private state(channel: DownlinkChannel): ChannelState {
    let state = this.channels.get(channel);
    if (!state) {
      state = { wanted: false };
      this.channels.set(channel, state);
    }
    return state;
  }

  /** Registers (or re-registers) `channel`; a renewal warns on failure and tries again later. */
  private startRegistration(channel: DownlinkChannel, renewal: boolean): Promise<void> {
    const state = this.state(channel);
    const registering = this.register(channel, state).finally(() => {
      if (state.registering === registering) state.registering = undefined;
    });
    state.registering = registering;
    if (renewal) {
      registering.then(
        () => this.host.emit('resubscribed', channel),
        (err: TransportError) => {
          if (err.kind === 'closed') return;
          this.warn(`could not renew the ${channel} observation: ${err.message}`);
          // Soon, whether or not the old observation still stands: it may be dead too. (A dead
          // session does not get here: the session watch takes the transport down, 'closed'.)
          if (state.wanted) this.schedule(channel, Math.min(this.refreshMs, RETRY_AFTER_ERROR_MS));
        },
      );
    }
    return registering;
  }

  private register(channel: DownlinkChannel, state: ChannelState): Promise<void> {
    const endpoint = this.host.endpoint();
    if (!endpoint) return Promise.reject(this.error('CoAP endpoint is not connected', 'closed', 'NOT_CONNECTED'));
    const timeoutMs = this.answerTimeoutMs();
    const expired = () => this.error(noAnswerText(timeoutMs, `the ${channel} Observe registration`), 'timeout', 'NO_ANSWER');
    return awaitAnswer<void>({ timeoutMs, expired }, (waiting) => {
      let req: OutgoingMessage;
      try {
        req = startRequest(endpoint, { method: 'GET', path: this.path(channel), observe: 0 });
      } catch (err) {
        waiting.reject(this.rethrow(err));
        return;
      }
      const obs: Observation = { channel, agent: endpoint.agent, req, lastTime: 0, dropped: false };
      let registered = false;
      const pending: PendingExchange = { req, fail: (err) => waiting.reject(err) };
      this.pending.add(pending);
      waiting.signal.addEventListener('abort', () => {
        this.pending.delete(pending);
        if (!registered) this.drop(obs);
      }, { once: true });
      const settle = (err?: TransportError) => {
        if (err) waiting.reject(err);
        else {
          registered = true;
          waiting.resolve();
        }
      };

      req.on('response', (res: IncomingMessage) => {
        if (waiting.ended) return;
        if (!res.code.startsWith('2.')) return settle(codeError(this.host.accessToken, res, `the ${channel} Observe registration`).refusing());
        const seq = observeNumber(responseOptions(res));
        if (seq === undefined) {
          return settle(this.error(`the server does not offer observation of ${channel} (no Observe option in its ${res.code} answer)`, 'rejected', 'NOT_OBSERVABLE'));
        }
        obs.token = requestToken(req);
        obs.lastSeq = seq;
        obs.lastTime = Date.now();
        // Every later notification of this token, with its code and Observe number.
        takeNotifications(res, (packet) => this.onNotification(obs, packet));
        // A notification larger than one block comes block-wise: its later blocks must be fetched
        // with a plain GET (libcoap answers another registration with 4.00, and the change is lost).
        dropObserveOption(req);
        if (!state.wanted) {
          // unsubscribe()d or torn down while registering.
          settle();
          this.work.run('deregistering an observation', () => this.deregister(obs, this.host.endpoint()));
          return;
        }
        const previous = state.current;
        state.current = obs;
        // Say so explicitly too: ThingsBoard has already replaced it (and only ACKs this), but
        // servers that key observations by token (libcoap, older ThingsBoard) keep it otherwise.
        if (previous && previous !== obs) this.work.run('deregistering the replaced observation', () => this.deregister(previous, endpoint));
        if (channel === 'rpc' && res.payload && res.payload.length) this.deliver(obs, res.payload);
        this.schedule(channel, this.refreshMs);
        settle();
      });
      req.on('error', (err: Error) => settle(this.error(`cannot send the ${channel} Observe registration: ${err.message}`, 'closed', 'SEND_FAILED')));
      // The library gave up without any ACK and has forgotten the request itself.
      req.on('timeout', () => { obs.dropped = true; settle(this.error(`no answer to the ${channel} Observe registration`, 'timeout', 'COAP_TIMEOUT')); });
      try {
        req.end();
      } catch (err) {
        settle(this.error(`cannot send the ${channel} Observe registration: ${(err as Error).message}`, 'rejected', 'COAP_ENCODE'));
      }
    });
  }

  private schedule(channel: DownlinkChannel, ms: number): void {
    const state = this.state(channel);
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!state.wanted || state.registering || !this.host.endpoint()) return;
      this.startRegistration(channel, true).catch(() => { /* warned in startRegistration */ });
    }, ms);
  }

  private onNotification(obs: Observation, packet: NotificationPacket): void {
    if (obs.dropped) return;
    const state = this.channels.get(obs.channel);
    const seq = observeNumber(packet.options);
    if (packet.code.startsWith('2.') && seq === undefined && hasOption(packet, 'Block2')) {
      // The last block of a block-wise notification: the library joined the blocks, and the
      // Observe number was on the first one, which it kept to itself. Delivered as new (an RPC
      // id is still delivered only once).
      this.deliver(obs, packet.payload);
      return;
    }
    if (!packet.code.startsWith('2.') || packet.code === '2.02' || seq === undefined) {
      // The server ended this observation (RFC 7641 §3.2, §4.2). ThingsBoard: 2.02 Deleted when
      // the device registered again with another token — maybe another client with this token.
      if (state?.current === obs) state.current = undefined;
      this.drop(obs);
      // Our own renewal replaced it: ThingsBoard's 2.02 for the old registration is expected.
      if (packet.code === '2.02' && state?.registering) return;
      const why = packet.code === '2.02' ? '2.02 Deleted: did another client observe with this access token?' : `${packet.code}${diagnostic(packet)}`;
      this.warn(`ThingsBoard ended the ${obs.channel} observation (${why}); registering again`);
      if (state?.wanted) this.schedule(obs.channel, packet.code === '2.02' ? this.refreshMs : Math.min(this.refreshMs, RETRY_AFTER_ERROR_MS));
      return;
    }
    const now = Date.now();
    if (obs.lastSeq !== undefined && !isFresher(obs.lastSeq, obs.lastTime, seq, now)) return; // retransmitted or reordered
    obs.lastSeq = seq;
    obs.lastTime = now;
    this.deliver(obs, packet.payload);
  }

  private deliver(obs: Observation, payload: Buffer | undefined): void {
    try {
      if (obs.channel === 'attributes') {
        this.host.emit('attributes', parseAttributesUpdate(payload));
        return;
      }
      const rpc = parseRpcRequest(payload);
      this.host.emit('rpc', rpc);
    } catch (err) {
      // A bad body is dropped, never thrown into the library's datagram handler.
      const what = err instanceof NotificationError ? err.message : `a listener failed on a ${obs.channel} notification: ${(err as Error)?.message ?? String(err)}`;
      this.warn(`ignored ${what}`);
    }
  }

  /** Forgets an observation in the Agent (once), so its later notifications are answered with RST. */
  private drop(obs: Observation): void {
    if (obs.dropped) return;
    obs.dropped = true;
    obs.agent.abort(obs.req);
  }

  /** GET Observe=1 with the registration's token; resolves when acknowledged or after DEREGISTER_WAIT_MS. */
  private deregister(obs: Observation, endpoint: DownlinkEndpoint | undefined): Promise<void> {
    this.drop(obs);
    if (!endpoint || !obs.token || endpoint.agent !== obs.agent) return Promise.resolve();
    return acknowledged(endpoint, { method: 'GET', path: this.path(obs.channel), observe: 1, token: obs.token }, DEREGISTER_WAIT_MS);
  }

  // ---- helpers ------------------------------------------------------------------------------

  private answerTimeoutMs(): number {
    // RFC 7252 MAX_TRANSMIT_WAIT (giving up on an ACK) plus the time ThingsBoard takes to answer.
    return this.answerTimeoutOption ?? maxTransmitWaitMs() + SERVER_ANSWER_MS;
  }

  private path(...rest: string[]): Buffer[] {
    return apiPath(this.host.accessToken, ...rest);
  }

  /** Fire-and-forget work (deregistrations): a failure becomes a 'warning', redacted. */
  private readonly work = background((text) => this.host.emit('warning', text), () => this.host.accessToken);

  private warn(text: string): void {
    this.host.emit('warning', redact(text, this.host.accessToken));
  }

  private rethrow(err: unknown): TransportError {
    return redactedError(this.host.accessToken, err);
  }

  private error(message: string, kind: FailureKind, code?: string): TransportError {
    return tokenError(this.host.accessToken, message, kind, code);
  }
}
