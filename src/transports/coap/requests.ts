// The one-shot exchanges of the CoAP receive side (contract in transports/transport.ts): RPC
// replies POSTed to /api/v1/$TOKEN/rpc/{id}, attribute requests (GET /attributes with
// clientKeys/sharedKeys) and client-side RPC (POST /rpc). ThingsBoard often answers them as a
// separate CON response after an empty ACK; coap/exchange.ts takes both forms. The observations
// are in coap/downlink.ts, which owns one of these and fails its pending exchanges at teardown.
// Every text is redacted: the URI holds the access token.
import type { IncomingMessage } from 'coap';
import { TransportError, asTransportError, type AttributesAnswer, type AttributesQuery, type FailureKind } from '../transport';
import { redact } from '../../shared';
import { noAnswerText } from '../../deadline';
import type { SocketLike } from './datagram';
import { diagnosticText, errorForCode } from './codes';
import { exchange, type ExchangeRequest, type ExchangeTarget, type PendingExchange } from './exchange';
import { parseAttributesAnswer, parseRpcAnswer } from './notifications';

export interface DownlinkEndpoint extends ExchangeTarget {
  socket: SocketLike;
}

/** What the transport (coap.ts) lends the receive side. */
export interface CoapDownlinkHost {
  /** The Agent, socket and peer while the transport is open; undefined otherwise. */
  endpoint(): DownlinkEndpoint | undefined;
  readonly accessToken: string;
  /** The transport's own emit: 'attributes', 'rpc', 'resubscribed', 'warning'. */
  emit(event: string, ...args: unknown[]): boolean;
}

export class CoapRequests {
  /**
   * @param pending shared with the observations, so one teardown fails every open exchange
   * @param replyTimeoutMs how long an RPC reply may wait for its acknowledgement
   */
  constructor(
    private readonly host: CoapDownlinkHost,
    private readonly pending: Set<PendingExchange>,
    private readonly replyTimeoutMs: () => number,
  ) {}

  async respondRpc(id: number, body: Buffer): Promise<void> {
    const token = this.host.accessToken;
    if (!Number.isSafeInteger(id) || id < 0) throw tokenError(token, `cannot reply to RPC ${String(id)}: not a ThingsBoard RPC id`, 'rejected', 'BAD_RPC_ID');
    const what = `the reply to RPC ${id}`;
    const res = await this.request({ method: 'POST', path: apiPath(token, 'rpc', String(id)), body }, this.replyTimeoutMs(), what);
    this.throwUnlessSuccess(res, what);
  }

  async requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> {
    const token = this.host.accessToken;
    const params: string[] = [];
    if (query.clientKeys.length) params.push(`clientKeys=${query.clientKeys.join(',')}`);
    if (query.sharedKeys.length) params.push(`sharedKeys=${query.sharedKeys.join(',')}`);
    const res = await this.request({ method: 'GET', path: apiPath(token, 'attributes'), query: params }, timeoutMs, 'the attribute request', signal);
    if (res.code === '4.04') return {}; // ThingsBoard: none of the keys exist
    this.throwUnlessSuccess(res, 'the attribute request');
    try {
      return parseAttributesAnswer(res.payload);
    } catch (err) {
      throw tokenError(token, `ThingsBoard's answer to the attribute request is unusable: ${(err as Error).message}`, 'rejected', 'BAD_ANSWER');
    }
  }

  async callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const body = Buffer.from(JSON.stringify({ method, params: params === undefined ? {} : params }));
    const what = `the RPC call "${method}"`;
    const res = await this.request({ method: 'POST', path: apiPath(this.host.accessToken, 'rpc'), body }, timeoutMs, what, signal);
    this.throwUnlessSuccess(res, what);
    return parseRpcAnswer(res.payload);
  }

  private request(spec: ExchangeRequest, timeoutMs: number, what: string, signal?: AbortSignal): Promise<IncomingMessage> {
    const token = this.host.accessToken;
    const endpoint = this.host.endpoint();
    if (!endpoint) return Promise.reject(tokenError(token, `cannot send ${what}: CoAP endpoint is not connected`, 'closed', 'NOT_CONNECTED'));
    const ms = Math.max(1, Math.floor(timeoutMs));
    const onTimeout = () => tokenError(token, noAnswerText(ms, what), 'timeout', 'NO_ANSWER');
    return exchange(endpoint, spec, ms, onTimeout, this.pending, signal).catch((err) => { throw redactedError(token, err); });
  }

  private throwUnlessSuccess(res: IncomingMessage, what: string): void {
    if (!res.code.startsWith('2.')) throw codeError(this.host.accessToken, res, what);
  }
}

// ---- shared with coap/downlink.ts and coap.ts: all speak for one access token ------------------

/** The URI path segments /api/v1/$TOKEN/...rest. */
export function apiPath(token: string, ...rest: string[]): Buffer[] {
  return ['api', 'v1', token, ...rest].map((s) => Buffer.from(s, 'utf8'));
}

/** A TransportError whose text cannot hold the token. */
export function tokenError(token: string, message: string, kind: FailureKind, code?: string): TransportError {
  return new TransportError(redact(message, token), kind, code);
}

/** `err` as a TransportError whose text cannot hold the token (an unknown throw: 'rejected', COAP_ERROR). */
export function redactedError(token: string, err: unknown): TransportError {
  const e = asTransportError(err, { kind: 'rejected', code: 'COAP_ERROR' });
  return tokenError(token, e.message, e.kind, e.code);
}

/** ThingsBoard's answer `res` to `what` was not 2.xx: the error it means. */
export function codeError(token: string, res: IncomingMessage, what: string): TransportError {
  if (res.code === '0.00') return tokenError(token, `the server reset ${what} (RST): it does not serve this CoAP resource`, 'rejected', 'COAP_RST');
  const e = errorForCode(res.code, diagnosticText(res.payload));
  return tokenError(token, `${what}: ${e.message}`, e.kind, e.code);
}

