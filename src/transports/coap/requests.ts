// The one-shot exchanges of the CoAP receive side (contract in transports/transport.ts): RPC
// replies POSTed to /api/v1/$TOKEN/rpc/{id}, attribute requests (GET /attributes with
// clientKeys/sharedKeys), client-side RPC (POST /rpc) and provisioning (POST /api/v1/provision,
// no token: transports/provision.ts). ThingsBoard often answers them as a
// separate CON response after an empty ACK; coap/exchange.ts takes both forms. The observations
// are in coap/downlink.ts, which owns one of these and fails its pending exchanges at teardown.
// Every text is redacted: the URI holds the access token.
import type { IncomingMessage } from 'coap';
import type { AttributesAnswer, AttributesQuery } from '../transport';
import { noAnswerText } from '../../deadline';
import type { SocketLike } from './datagram';
import { codeError, redactedError, tokenError } from './codes';
import { apiPath } from './resources';
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

  /** POST /api/v1/provision (no token): the answer body on any 2.xx (2.01 today, 2.05 in older servers). */
  async provision(body: Buffer, timeoutMs: number): Promise<Buffer> {
    const what = 'the provisioning request';
    const res = await this.request({ method: 'POST', path: apiPath('', 'provision'), body }, timeoutMs, what);
    this.throwUnlessSuccess(res, what);
    return Buffer.from(res.payload);
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
