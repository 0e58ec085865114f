// The MQTT receive side: what ThingsBoard pushes to a device on one connection, and
// the request/answer exchanges (attribute requests, client-side RPC) that ride on it.
//
// ThingsBoard accepts only a fixed list of subscription filters (its MQTT device API), so
// exactly these four are used, each only once something needs it, at QoS 1 (a server-side RPC
// counts as DELIVERED when the device PUBACKs it). One MqttDownlink lives as long as one MQTT
// connection: subscriptions and answers waited for end with it (the device layer subscribes again after a reconnect and re-issues requests that were cut
// off). Request ids come from the transport, which never reuses one, so an answer that arrives
// late — even on a later connection with a persistent session — cannot match another request.
import type { MqttClient } from 'mqtt';
import {
  TransportError,
  type AttributesAnswer,
  type AttributesQuery,
  type AttributesUpdate,
  type DownlinkChannel,
  type GatewayAttributes,
  type GatewayChannel,
  type GatewayRpc,
  type RpcRequest,
  type SendCallback,
} from '../transport';
import { awaitAnswer, noAnswerText, type Waiting } from '../../deadline';
import { receiveGateway, type GatewayWaiting } from './gateway';

export const DOWNLINK_TOPICS = {
  attributes: 'v1/devices/me/attributes',
  attributesRequest: 'v1/devices/me/attributes/request/',
  attributesResponse: 'v1/devices/me/attributes/response/',
  rpcRequest: 'v1/devices/me/rpc/request/',
  rpcResponse: 'v1/devices/me/rpc/response/',
  gatewayAttributes: 'v1/gateway/attributes',
  gatewayRpc: 'v1/gateway/rpc',
  gatewayAttributesRequest: 'v1/gateway/attributes/request',
  gatewayAttributesResponse: 'v1/gateway/attributes/response',
} as const;

/** The subscription filter each need maps to (ThingsBoard's list, nothing else). */
const FILTERS = {
  attributes: DOWNLINK_TOPICS.attributes,
  rpc: `${DOWNLINK_TOPICS.rpcRequest}+`,
  attributesResponse: `${DOWNLINK_TOPICS.attributesResponse}+`,
  rpcResponse: `${DOWNLINK_TOPICS.rpcResponse}+`,
  // A gateway's (ThingsBoard's gateway API): fixed topics, no id in them.
  gatewayAttributes: DOWNLINK_TOPICS.gatewayAttributes,
  gatewayRpc: DOWNLINK_TOPICS.gatewayRpc,
  gatewayAttributesResponse: DOWNLINK_TOPICS.gatewayAttributesResponse,
} as const;
type Need = keyof typeof FILTERS;

/** What the downlink needs from its transport. */
export interface MqttDownlinkHost {
  emit(event: 'attributes', update: AttributesUpdate): void;
  emit(event: 'rpc', request: RpcRequest): void;
  emit(event: 'warning', text: string): void;
  emit(event: 'gateway-attributes', update: GatewayAttributes): void;
  emit(event: 'gateway-rpc', request: GatewayRpc): void;
  /** Not a problem, worth a line when debugging (an echo of our own publish dropped). */
  emit(event: 'debug', text: string): void;
  emit(event: 'gateway-disconnect', notice: { device: string; reason: unknown }): void;
  /** Publish through the transport's tracked path (a close fails it with kind 'closed'). */
  publish(topic: string, body: Buffer, qos: 0 | 1, callback: SendCallback): void;
  /** The next request id: unique for the transport's whole life. */
  nextRequestId(): number;
  redact(text: string): string;
}

const QOS_1 = Object.freeze({ qos: 1 as const });

function aborted(): TransportError {
  return new TransportError('the request was cancelled', 'closed', 'ABORTED');
}

/** The deadline passed (a module-level function: no closure per request). */
function noAnswer(timeoutMs: number): TransportError {
  return new TransportError(noAnswerText(timeoutMs), 'timeout', 'NO_ANSWER');
}

function closed(): TransportError {
  return new TransportError('the connection closed before ThingsBoard answered', 'closed', 'CLOSED');
}

export class MqttDownlink {
  /**
   * Granted (or being granted) subscriptions of this connection, by need: a plain record (at
   * most seven fixed names), smaller than a Map on every connection.
   */
  private subscriptions: Partial<Record<Need, Promise<void>>> = {};
  /**
   * Our client-side RPC requests still waiting, by id, each with the body it sent: a plain broker
   * echoes them back to us on the request topic (one map for both: getSessionLimits waits on
   * every connection).
   */
  private readonly rpcAnswers = new Map<number, Waiting<unknown> & { body?: string }>();
  // The maps and the set below only a gateway or an attribute request uses are made on first use.
  private attributeAnswersMap: Map<number, Waiting<unknown>> | undefined;
  private gatewayAnswersMap: Map<number, GatewayWaiting> | undefined;
  /** Sub-device RPCs delivered on this connection: `device\u0000id` (a DUP is not a new command). */
  private seenGatewayRpcSet: Set<string> | undefined;
  private ended = false;
  private readonly onMessage = (topic: string, payload: Buffer) => this.receive(topic, payload);

  constructor(
    private readonly client: MqttClient,
    private readonly host: MqttDownlinkHost,
  ) {
    client.on('message', this.onMessage);
  }

  subscribe(channel: DownlinkChannel): Promise<void> {
    return this.need(channel);
  }

  unsubscribe(channel: DownlinkChannel): Promise<void> {
    return this.unsubscribeNeed(channel);
  }

  subscribeGateway(channel: GatewayChannel): Promise<void> {
    return this.need(channel === 'rpc' ? 'gatewayRpc' : 'gatewayAttributes');
  }

  unsubscribeGateway(channel: GatewayChannel): Promise<void> {
    return this.unsubscribeNeed(channel === 'rpc' ? 'gatewayRpc' : 'gatewayAttributes');
  }

  /** One scope per request (ThingsBoard's gateway takes one); the answer as {key: value}. */
  async requestGatewayAttributes(device: string, client: boolean, keys: string[], timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const started = Date.now();
    await this.need('gatewayAttributesResponse');
    if (signal?.aborted) throw aborted();
    const id = this.host.nextRequestId();
    const request: Record<string, unknown> = { id, device, client };
    // "key" is answered with "value" (no key name in it); "keys" with "values" {key: value}.
    if (keys.length === 1) request.key = keys[0];
    else request.keys = keys;
    const left = Math.max(0, timeoutMs - (Date.now() - started));
    const answers = (this.gatewayAnswersMap ??= new Map());
    const answer = await awaitAnswer<unknown>(
      { signal, aborted, timeoutMs: left, expired: () => new TransportError(noAnswerText(timeoutMs), 'timeout', 'NO_ANSWER') },
      (waiting) => {
        answers.set(id, Object.assign(waiting, { device, key: keys.length === 1 ? keys[0] : undefined }));
        waiting.onEnd(() => answers.delete(id));
        this.publish(DOWNLINK_TOPICS.gatewayAttributesRequest, Buffer.from(JSON.stringify(request))).catch((err: TransportError) => waiting.reject(err));
      },
    );
    return answer as Record<string, unknown>;
  }

  private async unsubscribeNeed(need: Need): Promise<void> {
    const granted = this.subscriptions[need];
    if (!granted || this.ended) return;
    this.subscriptions[need] = undefined;
    await new Promise<void>((resolve) => {
      try {
        this.client.unsubscribe(FILTERS[need], () => resolve());
      } catch {
        resolve();
      }
    });
  }

  respondRpc(id: number, body: Buffer): Promise<void> {
    return this.publish(`${DOWNLINK_TOPICS.rpcResponse}${id}`, body);
  }

  async requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> {
    const request: Record<string, string> = {};
    // ThingsBoard takes comma-separated strings; an empty list is left out (both out = all keys).
    if (query.clientKeys.length > 0) request.clientKeys = query.clientKeys.join(',');
    if (query.sharedKeys.length > 0) request.sharedKeys = query.sharedKeys.join(',');
    const answer = await this.exchange('attributesResponse', (this.attributeAnswersMap ??= new Map()), DOWNLINK_TOPICS.attributesRequest, request, timeoutMs, signal);
    return answer as AttributesAnswer;
  }

  callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    return this.exchange('rpcResponse', this.rpcAnswers, DOWNLINK_TOPICS.rpcRequest, { method, params }, timeoutMs, signal);
  }

  /** The connection is gone: everything waiting on it fails with kind 'closed'. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.client.removeListener('message', this.onMessage);
    this.subscriptions = {};
    this.seenGatewayRpcSet?.clear();
    for (const answers of [this.attributeAnswersMap, this.rpcAnswers, this.gatewayAnswersMap as Map<number, Waiting<unknown>> | undefined]) {
      if (!answers) continue;
      const waiting = [...answers.values()];
      answers.clear();
      for (const w of waiting) {
        w.reject(closed());
      }
    }
  }

  // ---- internals ----------------------------------------------------------------------------

  private need(need: Need): Promise<void> {
    if (this.ended) return Promise.reject(closed());
    let granted = this.subscriptions[need];
    if (granted) return granted;
    const filter = FILTERS[need];
    granted = new Promise<void>((resolve, reject) => {
      try {
        this.client.subscribe(filter, QOS_1, (err, grants) => {
          // mqtt.js: a failure code arrives as err.packet.granted (or err.code); else as the grant.
          const failed = err as (Error & { code?: unknown; packet?: { granted?: unknown[] } }) | null;
          const code = failed ? (failed.packet?.granted?.find((g) => typeof g === 'number' && g >= 0x80) ?? failed.code) : grants?.[0]?.qos;
          if (!err && typeof code === 'number' && code < 0x80) return resolve();
          const refused = typeof code === 'number' && code >= 0x80;
          reject(
            refused
              ? new TransportError(
                  `ThingsBoard refused the subscription to ${filter} (SUBACK 0x${code.toString(16)}): ` +
                    'is this a ThingsBoard MQTT endpoint (it accepts only its own device topics), and may this device subscribe?',
                  'rejected',
                  `SUBACK_${code}`,
                ).refusing()
              : this.ended
                ? closed()
                : new TransportError(this.host.redact(`subscription to ${filter} failed: ${err?.message ?? 'no SUBACK'}`), 'closed', 'SUBSCRIBE_FAILED'),
          );
        });
      } catch (err) {
        reject(new TransportError(this.host.redact(`subscription to ${filter} failed: ${(err as Error).message}`), 'closed', 'SUBSCRIBE_FAILED'));
      }
    });
    this.subscriptions[need] = granted;
    // A refused or failed subscription is not kept: the next use asks again.
    granted.catch(() => {
      if (this.subscriptions[need] === granted) this.subscriptions[need] = undefined;
    });
    return granted;
  }

  private publish(topic: string, body: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.host.publish(topic, body, 1, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * One request and its answer. The deadline covers the subscription too; not an async function:
   * its frame and promise would wait as long as the answer does (getSessionLimits on every
   * connection, for as long as a server that is not ThingsBoard leaves it unanswered).
   */
  private exchange(
    need: Need,
    answers: Map<number, Waiting<unknown>>,
    requestTopic: string,
    request: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<unknown> {
    return awaitAnswer<unknown>(
      // Forgotten at the deadline or on abort: an answer that still comes is dropped in receive().
      { timeoutMs, expired: noAnswer, signal, aborted },
      (waiting) => {
        // The body now: the request object is not kept while the answer is waited for.
        const body = JSON.stringify(request);
        this.need(need).then(() => {
          if (waiting.ended) return;
          const id = this.host.nextRequestId();
          answers.set(id, waiting);
          if (requestTopic === DOWNLINK_TOPICS.rpcRequest) Object.assign(waiting, { body });
          waiting.onEnd(() => answers.delete(id));
          this.publish(`${requestTopic}${id}`, Buffer.from(body)).catch((err: TransportError) => waiting.reject(err));
        }, (err: unknown) => waiting.reject(err));
      },
    );
  }

  private receive(topic: string, payload: Buffer): void {
    if (this.ended) return;
    if (topic.startsWith('v1/gateway/')) return receiveGateway(topic, payload, this.host, (this.seenGatewayRpcSet ??= new Set()), (this.gatewayAnswersMap ??= new Map()));
    if (topic === DOWNLINK_TOPICS.attributes) return this.receiveAttributes(payload);
    if (topic.startsWith(DOWNLINK_TOPICS.rpcRequest)) return this.receiveRpc(topic, payload);
    if (topic.startsWith(DOWNLINK_TOPICS.attributesResponse)) return this.receiveAnswer(topic, DOWNLINK_TOPICS.attributesResponse, payload, (this.attributeAnswersMap ??= new Map()), true);
    if (topic.startsWith(DOWNLINK_TOPICS.rpcResponse)) return this.receiveAnswer(topic, DOWNLINK_TOPICS.rpcResponse, payload, this.rpcAnswers, false);
  }

  private parse(topic: string, payload: Buffer): { ok: true; value: unknown } | { ok: false } {
    try {
      return { ok: true, value: JSON.parse(payload.toString('utf8')) };
    } catch {
      this.host.emit('warning', this.host.redact(`dropped a message on ${topic}: its body is not JSON (${payload.length} bytes)`));
      return { ok: false };
    }
  }

  private receiveAttributes(payload: Buffer): void {
    const parsed = this.parse(DOWNLINK_TOPICS.attributes, payload);
    if (!parsed.ok) return;
    const value = parsed.value;
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      this.host.emit('warning', `dropped a shared-attribute update: not a JSON object`);
      return;
    }
    const values = { ...(value as Record<string, unknown>) };
    const update: AttributesUpdate = { values };
    // ThingsBoard lists removed keys under "deleted" (JsonConverter).
    if (Array.isArray(values.deleted)) {
      update.deleted = values.deleted.map(String);
      delete values.deleted;
    }
    this.host.emit('attributes', update);
  }

  private receiveRpc(topic: string, payload: Buffer): void {
    const id = idOf(topic, DOWNLINK_TOPICS.rpcRequest);
    if (id === undefined) {
      this.host.emit('warning', `dropped a server-side RPC on ${topic}: the topic does not end in a request id`);
      return;
    }
    // A plain MQTT broker (not ThingsBoard) delivers our own client-side RPC request back to us
    // on the same topic: the same id and the same bytes are not a command.
    if (this.rpcAnswers.get(id)?.body === payload.toString('utf8')) {
      this.host.emit('debug', `dropped the broker's echo of our own client-side RPC request ${id}`);
      return;
    }
    const parsed = this.parse(topic, payload);
    if (!parsed.ok) return;
    const body = parsed.value as { method?: unknown; params?: unknown } | null;
    if (!body || typeof body !== 'object' || typeof body.method !== 'string') {
      this.host.emit('warning', `dropped server-side RPC ${id}: the body has no "method"`);
      return;
    }
    this.host.emit('rpc', { id, method: body.method, params: body.params });
  }

  private receiveAnswer(topic: string, prefix: string, payload: Buffer, answers: Map<number, Waiting<unknown>>, mustBeJson: boolean): void {
    const id = idOf(topic, prefix);
    const w = id === undefined ? undefined : answers.get(id);
    if (id === undefined || !w) return; // late (timed out) or not ours: dropped
    const text = payload.toString('utf8');
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      if (mustBeJson) {
        w.reject(new TransportError(`ThingsBoard answered the attribute request with a body that is not JSON`, 'rejected', 'BAD_ANSWER'));
        return;
      }
    }
    w.resolve(value);
  }
}

function idOf(topic: string, prefix: string): number | undefined {
  const rest = topic.slice(prefix.length);
  if (!/^\d{1,15}$/.test(rest)) return undefined;
  return Number(rest);
}
