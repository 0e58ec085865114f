// MQTT and MQTTS to ThingsBoard with mqtt.js: CONNECT with username = access token (no password),
// publish to v1/devices/me/telemetry | attributes at QoS 0 or 1. The receive side (subscriptions,
// server-side RPC, attribute requests, client-side RPC) is in mqtt/downlink.ts, one per connection.
//
// The socket is opened by mqtt/socket.ts, not by mqtt.js, and handed over only once it is connected (and, for
// MQTTS, once the server certificate has been verified): the CONNECT packet carries the token, so
// it must not even be queued on a connection whose certificate may still fail. mqtt.js's own
// reconnect and offline queue are off — one MqttTransport is one connection, and the device layer
// decides about retries and about messages waiting for a connection.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { MqttClient } from 'mqtt';
import { clientOptions } from './client-options';
import { MqttDownlink, type MqttDownlinkHost } from './downlink';
import { classifyClientCertAlert, classifyConnack, mqtt5Reason, type Where } from './errors';
import { redactSecrets } from '../../shared';
import { awaitAnswer, noAnswerText } from '../../deadline';
import { PackedAcks } from './gateway-acks';
import { openSocket } from './socket';
import {
  TransportError,
  type AttributesAnswer,
  type AttributesQuery,
  type ConnectionSettings,
  type DataKind,
  type DownlinkChannel,
  type GatewayChannel,
  type GatewayTopic,
  type OutboundMessage,
  type SendCallback,
  type Transport,
  secretsOf,
} from '../transport';

export const TOPICS: Record<DataKind, string> = {
  telemetry: 'v1/devices/me/telemetry',
  attributes: 'v1/devices/me/attributes',
  // Device claiming; a gateway's sub-devices claim through v1/gateway/claim (the gateway's topic).
  claim: 'v1/devices/me/claim',
};

/** MQTT pipelines publishes on one ordered TCP stream; a few in flight keeps throughput up. */
const MQTT_MAX_IN_FLIGHT = 16;

/** mqtt.js copies the options it is given, so two shared objects serve every publish. */
const QOS_0 = Object.freeze({ qos: 0 as const });
const QOS_1 = Object.freeze({ qos: 1 as const });
/** Passed to a pending publish's callback when the connection closed before its PUBACK. */
const CLOSED = Symbol('closed');

function closedBeforeAck(): TransportError {
  return new TransportError('connection closed before the broker acknowledged the message', 'closed', 'CLOSED');
}

export class MqttTransport extends EventEmitter implements Transport {
  readonly name: 'mqtt' | 'mqtts';
  readonly maxInFlight = MQTT_MAX_IN_FLIGHT;
  private socket: net.Socket | undefined;
  private client: MqttClient | undefined;
  private connected = false;
  private closing = false;
  private lastError: TransportError | undefined;
  /** Publishes not yet acknowledged (QoS 1) or written (QoS 0): their mqtt.js callbacks. */
  // Made by the first publish: a connection that never publishes (one that only listens) keeps none.
  private pending: Set<(err?: typeof CLOSED) => void> | undefined;
  /** The receive side of the current connection (undefined while not connected). */
  private downlink: MqttDownlink | undefined;
  /** Gateway publishes with several sub-devices: one PUBACK per device entry (gateway-acks.ts). */
  private readonly packs = new PackedAcks();
  /** Attribute-request and client-side RPC ids: never reused for this transport's life. */
  private requestSeq = 0;

  /** `purpose` 'provision': a provisioning session (transports/provision.ts); refusals say so. */
  constructor(private readonly settings: ConnectionSettings, private readonly purpose: 'device' | 'provision' = 'device') {
    super();
    if (settings.transport !== 'mqtt' && settings.transport !== 'mqtts') {
      throw new Error(`MqttTransport cannot serve transport "${settings.transport}"`);
    }
    this.name = settings.transport;
  }

  private get where(): Where {
    const { host, port, serverName } = this.settings;
    return { host, port, checkedName: serverName || host, tls: this.name === 'mqtts', caConfigured: this.settings.caCert.trim() !== '' };
  }

  private redactText(text: string): string {
    return redactSecrets(text, secretsOf(this.settings));
  }

  private fail(err: TransportError): TransportError {
    const clean = new TransportError(this.redactText(err.message), err.kind, err.code);
    return clean;
  }

  /** May be called again after it rejected or after 'down': each call opens a new connection. */
  async connect(): Promise<void> {
    if (this.closing) throw new TransportError('transport closed', 'closed', 'CLOSED');
    if (this.connected) return;
    this.teardown();
    this.client = undefined;
    this.socket = undefined;
    this.lastError = undefined;
    this.emit('phase', 'connecting');
    const socket = await this.openSocket();
    if (this.closing) {
      socket.destroy();
      throw new TransportError('connection closed before it was established', 'closed', 'CLOSED');
    }
    await this.startMqtt(socket);
  }

  /** TCP (and TLS with verification) up to the point where MQTT may speak (socket.ts). */
  private openSocket(): Promise<net.Socket> {
    return openSocket(this.settings, this.where, {
      securing: () => this.emit('phase', 'securing'),
      opening: (socket) => {
        this.socket = socket;
      },
      fail: (err) => this.fail(err),
    });
  }

  private startMqtt(socket: net.Socket): Promise<void> {
    const auth = this.settings.auth;
    const options = clientOptions(this.settings, this.packs.ids());
    return new Promise((resolve, reject) => {
      let settled = false;
      // mqtt.js calls the builder on connect (once: reconnect is off); the socket is already secure.
      this.packs.watch(socket);
      const client = new MqttClient(() => socket, options);
      this.client = client;
      this.packs.attach(client);
      const isCurrent = () => this.client === client; // the stale-callback guard: this client is still ours
      client.on('connect', () => {
        if (settled || !isCurrent()) return;
        settled = true;
        this.connected = true;
        this.downlink = new MqttDownlink(client, new MqttTransport.DownlinkLink(this));
        resolve();
      });
      client.on('error', (err: Error & { code?: string | number }) => {
        if (!isCurrent()) return;
        // A numeric code before CONNACK is the CONNACK's refusal; later it is a protocol error.
        const refusedCert = !settled && auth?.type === 'x509' ? classifyClientCertAlert(err, this.where) : undefined;
        const failure = typeof err.code === 'number' && !settled
          ? classifyConnack(err.code, this.purpose === 'provision' ? 'provision' : auth?.type ?? 'accessToken')
          : refusedCert ?? new TransportError(`MQTT connection error: ${err.message}`, 'closed', String(err.code || 'MQTT_ERROR'));
        this.lastError = this.fail(failure);
        if (!settled) {
          settled = true;
          this.teardown();
          reject(this.lastError);
        }
      });
      // MQTT 5: the server says why it ends the session (0x8E: another client took it over).
      client.on('disconnect', (packet: { reasonCode?: number }) => {
        if (!isCurrent()) return;
        const code = packet.reasonCode ?? 0;
        const why = mqtt5Reason(code);
        this.lastError = new TransportError(`the server ended the session (${why})`, 'closed', `DISCONNECT_${code}`);
      });
      client.on('close', () => {
        if (!isCurrent()) return;
        const wasConnected = this.connected;
        this.connected = false;
        this.endDownlink();
        this.rejectPending();
        if (!settled) {
          settled = true;
          this.teardown();
          if (this.closing) {
            reject(new TransportError('connection closed before it was established', 'closed', 'CLOSED'));
            return;
          }
          reject(this.lastError || this.fail(new TransportError(
            `${this.where.host}:${this.where.port} closed the connection before answering CONNECT: is this a ThingsBoard MQTT port?`,
            'unreachable',
            'NO_CONNACK',
          )));
          return;
        }
        if (wasConnected && !this.closing) {
          this.teardown();
          const why = this.lastError ? this.lastError.message : 'the server closed the connection';
          this.emit('down', new TransportError(this.redactText(`connection lost: ${why}`), 'closed', this.lastError?.code || 'CLOSED'));
        }
      });
    });
  }

  /**
   * The downlink's view of this transport: a class nested here (it reaches the private publish),
   * not an object literal of arrow functions, one per connection.
   */
  private static readonly DownlinkLink = class implements MqttDownlinkHost {
    constructor(private readonly t: MqttTransport) {}

    emit(event: string, value: unknown): void {
      this.t.emit(event, value);
    }

    publish(topic: string, body: Buffer, qos: 0 | 1, callback: SendCallback): void {
      this.t.publish(topic, body, qos, callback);
    }

    nextRequestId(): number {
      return ++this.t.requestSeq;
    }

    redact(text: string): string {
      return this.t.redactText(text);
    }
  };

  send(message: OutboundMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sendWithCallback(message, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * The hot path: per publish one closure, which is both mqtt.js's callback and the key in
   * `pending` (so a close can fail what mqtt.js may never call back), no promise.
   */
  sendWithCallback(message: OutboundMessage, callback: SendCallback): void {
    this.publish(TOPICS[message.kind], message.body, message.qos, callback);
  }

  /** ThingsBoard's gateway API: v1/gateway/<topic> on this same connection. */
  publishGateway(topic: GatewayTopic, body: Buffer, qos: 0 | 1, callback: SendCallback, deviceEntries = 1): void {
    if (deviceEntries > 1 && qos === 1) {
      this.packs.publish(body, deviceEntries, (cb) => this.publish(`v1/gateway/${topic}`, body, 1, cb), callback);
      return;
    }
    this.publish(`v1/gateway/${topic}`, body, qos, callback);
  }

  get packsDevices(): boolean {
    return this.packs.packing;
  }

  get packsProven(): boolean {
    return this.packs.proven;
  }

  private publish(topic: string, body: Buffer, qos: 0 | 1, callback: SendCallback): void {
    const client = this.client;
    if (!client || !this.connected || this.closing) {
      process.nextTick(callback, new TransportError('not connected', 'closed', 'NOT_CONNECTED'));
      return;
    }
    const pending = (this.pending ??= new Set());
    const onPublished = (err?: (Error & { code?: number }) | typeof CLOSED): void => {
      if (!pending.delete(onPublished)) return; // settled already (closed, then a late callback)
      if (!err) return callback();
      if (err === CLOSED || !this.connected) return callback(this.closedBeforeAck());
      // MQTT 5 PUBACK with a failure reason code: this message only. 0x97 is ThingsBoard's rate
      // limit (of the device, or of one gateway sub-device), and it closes the session next.
      const why = typeof err.code === 'number' ? mqtt5Reason(err.code) : err.message;
      callback(new TransportError(this.redactText(`ThingsBoard refused the message: ${why}`), 'rejected', `PUBACK_${err.code ?? 'ERROR'}`));
    };
    pending.add(onPublished);
    client.publish(topic, body, qos === 1 ? QOS_1 : QOS_0, onPublished);
  }

  /** An MQTT 5 server may have said why it ended the session (DISCONNECT): keep its code. */
  private closedBeforeAck(): TransportError {
    const why = this.lastError;
    if (!why || !why.code.startsWith('DISCONNECT_')) return closedBeforeAck();
    return new TransportError(`connection closed before the broker acknowledged the message: ${why.message}`, 'closed', why.code);
  }

  /**
   * Provisioning (transports/provision.ts): subscribes `responseTopic`, publishes `body` to
   * `requestTopic` and resolves with the first message on `responseTopic` (ThingsBoard answers
   * once). Rejects with kind 'timeout' after timeoutMs, 'closed' when the connection drops.
   */
  requestOnce(requestTopic: string, responseTopic: string, body: Buffer, timeoutMs: number): Promise<Buffer> {
    const client = this.client;
    if (!client || !this.connected || this.closing) return Promise.reject(new TransportError('not connected', 'closed', 'NOT_CONNECTED'));
    return awaitAnswer<Buffer>(
      { timeoutMs, expired: () => new TransportError(noAnswerText(timeoutMs, `the request on ${requestTopic}`), 'timeout', 'NO_ANSWER') },
      (waiting) => {
        const onMessage = (topic: string, payload: Buffer) => { if (topic === responseTopic) waiting.resolve(Buffer.from(payload)); };
        const onClose = () => waiting.reject(new TransportError('the connection closed before ThingsBoard answered', 'closed', 'CLOSED'));
        client.on('message', onMessage);
        client.once('close', onClose);
        // However the wait ends (answer, deadline, close), the listeners go with it.
        waiting.onEnd(() => {
          client.removeListener('message', onMessage);
          client.removeListener('close', onClose);
        });
        client.subscribe(responseTopic, QOS_1, (err) => {
          if (err) return waiting.reject(new TransportError(this.redactText(`cannot subscribe ${responseTopic}: ${err.message}`), 'rejected', 'SUBSCRIBE_FAILED'));
          if (waiting.ended) return;
          this.publish(requestTopic, body, 1, (sendErr) => { if (sendErr) waiting.reject(sendErr); });
        });
      },
    );
  }

  // ---- receive side (see mqtt/downlink.ts and transport.ts) ---------------------------------

  private live(): MqttDownlink {
    if (!this.downlink || !this.connected || this.closing) throw new TransportError('not connected', 'closed', 'NOT_CONNECTED');
    return this.downlink;
  }

  async subscribe(channel: DownlinkChannel): Promise<void> {
    return this.live().subscribe(channel);
  }

  async unsubscribe(channel: DownlinkChannel): Promise<void> {
    if (this.downlink && this.connected && !this.closing) await this.downlink.unsubscribe(channel);
  }

  async respondRpc(id: number, body: Buffer): Promise<void> {
    return this.live().respondRpc(id, body);
  }

  async requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> {
    return this.live().requestAttributes(query, timeoutMs, signal);
  }

  async callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    return this.live().callRpc(method, params, timeoutMs, signal);
  }

  async subscribeGateway(channel: GatewayChannel): Promise<void> {
    return this.live().subscribeGateway(channel);
  }

  async unsubscribeGateway(channel: GatewayChannel): Promise<void> {
    if (this.downlink && this.connected && !this.closing) await this.downlink.unsubscribeGateway(channel);
  }

  async requestGatewayAttributes(device: string, client: boolean, keys: string[], timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return this.live().requestGatewayAttributes(device, client, keys, timeoutMs, signal);
  }

  private endDownlink(): void {
    const downlink = this.downlink;
    this.downlink = undefined;
    downlink?.end();
  }

  private rejectPending(): void {
    this.packs.failAll(closedBeforeAck());
    // Copied first: each call removes itself from the set.
    const pending = this.pending;
    this.pending = undefined;
    for (const onPublished of [...(pending ?? [])]) onPublished(CLOSED);
  }

  /** Drops mqtt.js and the socket without waiting; their timers go with them. */
  private teardown(): void {
    const client = this.client;
    if (client && !client.disconnecting && !client.disconnected) {
      client.end(true);
    }
    this.socket?.destroy();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const client = this.client;
    const wasConnected = this.connected;
    this.connected = false;
    this.endDownlink();
    this.rejectPending();
    if (client && wasConnected) {
      // A DISCONNECT tells ThingsBoard the session ended on purpose; do not wait long for it.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        client.end(false, {}, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.teardown();
  }
}
