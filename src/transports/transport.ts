// The contract between the device layer (src/device/) and a transport (MQTT, CoAP over UDP or
// DTLS). A transport moves one message at a time to ThingsBoard and classifies every failure; the
// device layer owns users, the queue, reconnect/backoff and status. Transports import nothing from
// Node-RED and nothing from src/device/.
import type { EventEmitter } from 'node:events';

import type { DataKind, FailureKind, TransportName } from '../shared';
export type { DataKind, FailureKind, TransportName } from '../shared';

/** Everything a transport needs to reach one ThingsBoard device. */
export interface ConnectionSettings {
  transport: TransportName;
  host: string;
  port: number;
  /** Secret: never put it (or a URI holding it) into a log, status, error or debug text.
   *  Empty with X.509 credentials (CoAP paths then carry no token). */
  accessToken: string;
  /** How the device proves who it is; absent = the access token (ThingsBoard's default). */
  auth?: DeviceAuth;
  /** PEM bundle (one or more CA certificates) for MQTTS/CoAPS; empty → system CAs (MQTTS only). */
  caCert: string;
  /** Verify the server certificate (chain, dates, host name). Default true. */
  verifyServer: boolean;
  /** Trust a chain that ends at a CA-PEM certificate that is not self-signed (an intermediate or the
   *  server's own certificate), like OpenSSL's X509_V_FLAG_PARTIAL_CHAIN. Default false. */
  allowPartialChain: boolean;
  /** Name checked against the certificate and sent as SNI (for connecting by IP); empty → host. */
  serverName: string;
  /** Largest body ThingsBoard accepts (MQTT: NETTY_MAX_PAYLOAD_SIZE, default 65536). */
  maxPayloadBytes: number;
  mqtt: {
    clientId: string;
    keepaliveSeconds: number;
    cleanSession: boolean;
    protocolVersion: 4 | 5;
  };
  coap: {
    confirmable: boolean;
    /** Requests in flight at once over one endpoint. */
    maxInFlight: number;
    /** Probe the server after this many idle seconds (NAT mapping, dead session); 0 = never. Default 15. */
    keepaliveSeconds?: number;
  };
}

/**
 * ThingsBoard's device credentials besides the access token (secrets: password, keyPem, passphrase):
 * - `mqttBasic`: MQTT CONNECT with client id (settings.mqtt.clientId), user name and password as the
 *   device was given them; empty user name/password are left out of CONNECT.
 * - `x509`: a TLS (MQTTS) or DTLS (CoAPS) client certificate; certPem is the device certificate
 *   first, a chain may follow; keyPem its private key (EC P-256/P-384 or RSA), maybe encrypted.
 */
export type DeviceAuth =
  | { type: 'accessToken' }
  | { type: 'mqttBasic'; username: string; password: string }
  | { type: 'x509'; certPem: string; keyPem: string; passphrase: string };

/** Every secret of these settings, for redactSecrets(). */
export function secretsOf(settings: Pick<ConnectionSettings, 'accessToken' | 'auth'>): string[] {
  const auth = settings.auth;
  const out = [settings.accessToken];
  if (auth?.type === 'mqttBasic') out.push(auth.password);
  if (auth?.type === 'x509') out.push(auth.keyPem, auth.passphrase);
  return out.filter((s) => s !== '');
}

/** One message for ThingsBoard, as a transport sends it. */
export interface OutboundMessage {
  kind: DataKind;
  /** Strict JSON, UTF-8. */
  body: Buffer;
  /** MQTT QoS; CoAP ignores it (confirmable or not is a connection setting). */
  qos: 0 | 1;
}

/** Called exactly once per send: no argument when ThingsBoard has the message. */
export type SendCallback = (err?: TransportError) => void;


/**
 * Anything thrown or rejected, as a TransportError: one as it is, an object with a `kind` keeps
 * its kind and code, anything else gets `fallback` (by default 'closed', code UNEXPECTED: the
 * device layer then reconnects, and the text says what happened).
 */
export function asTransportError(err: unknown, fallback: { kind: FailureKind; code: string } = { kind: 'closed', code: 'UNEXPECTED' }): TransportError {
  if (err instanceof TransportError) return err;
  if (err && typeof err === 'object' && 'kind' in err && typeof (err as { kind: unknown }).kind === 'string') {
    const e = err as { message?: string; kind: FailureKind; code?: string };
    return new TransportError(String(e.message ?? e.kind), e.kind, e.code ?? e.kind);
  }
  return new TransportError(err instanceof Error ? err.message : String(err), fallback.kind, fallback.code);
}

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    /** Short machine-readable detail, e.g. 'CONNACK_5', 'COAP_4.00', 'UNKNOWN_CA', 'HOST_MISMATCH'. */
    readonly code: string = kind,
  ) {
    super(message);
    this.name = 'TransportError';
  }

  /**
   * Set by a transport's subscribe() when the server answered "no" (MQTT SUBACK failure, CoAP
   * error response to the Observe registration): the node shows "subscription refused" for it.
   */
  refused = false;

  /** Marks this error as the server's refusal of a subscription (see `refused`). */
  refusing(): this {
    this.refused = true;
    return this;
  }

  /** True when waiting and retrying will not help (a user must change the token, CA or host). */
  get permanent(): boolean {
    return this.kind === 'unauthorized' || this.kind === 'certificate';
  }
}

// ---- receive side: what ThingsBoard pushes to a device, and request/answer exchanges ----------

/** What ThingsBoard pushes to a device. */
export type DownlinkChannel = 'attributes' | 'rpc';

/** A shared-attribute change: the changed keys, and `deleted` when ThingsBoard says keys were removed. */
export interface AttributesUpdate {
  values: Record<string, unknown>;
  deleted?: string[];
}

/** A server-side RPC command (MQTT topic id or CoAP body "id"). */
export interface RpcRequest {
  id: number;
  method: string;
  params: unknown;
}

/** Keys to ask for; an empty list is omitted from the request (ThingsBoard then sends none of that scope). */
export interface AttributesQuery {
  clientKeys: string[];
  sharedKeys: string[];
}

/** ThingsBoard's answer to an attribute request; a part may be missing. */
export interface AttributesAnswer {
  client?: Record<string, unknown>;
  shared?: Record<string, unknown>;
}

/** A message handed to Transport.connectWith(), and how its send ends. */
export interface FirstMessage {
  message: OutboundMessage;
  settle(err?: TransportError): void;
}

/**
 * One connection to ThingsBoard for one device. Events:
 * - 'phase' (phase: 'connecting' | 'securing'): progress while connect() runs, for status.
 * - 'down' (err: TransportError): an open connection dropped on its own (not after close()).
 *   In-flight sends reject with kind 'closed' before or after this event.
 * - 'warning' (text: string): something the user should see once in the log (already redacted).
 * Receive side:
 * - 'attributes' (update: AttributesUpdate): a shared-attribute push.
 * - 'rpc' (request: RpcRequest): a server-side RPC command, as it arrived: a redelivery (MQTT DUP,
 *   ThingsBoard sending a persistent RPC again) is passed on too; the device layer delivers a
 *   command once (src/device/rpc-book.ts, bounded). A retransmitted CoAP notification (same
 *   Observe number) is no new arrival and is dropped.
 * - 'resubscribed' (channel: DownlinkChannel): CoAP only: an observation was re-registered within
 *   the same connection (periodic refresh / DTLS re-handshake), so the device layer can fetch
 *   the current values again and pass on what changed while the old observation may have been
 *   dead (device/attribute-memory.ts).
 * Bodies that are not valid JSON are dropped with a 'warning' (redacted), never thrown. All
 * texts are redacted (the CoAP URI holds the token).
 */
export interface Transport extends EventEmitter {
  readonly name: TransportName;
  /** How many send() calls may be outstanding at once. */
  readonly maxInFlight: number;
  /**
   * Connects (MQTT CONNACK, DTLS handshake, UDP bind). Rejects with TransportError. The device
   * layer keeps one transport from start to stop and calls connect() again after a rejection or
   * a 'down' (never concurrently); after close() it makes a new transport.
   */
  connect(): Promise<void>;
  /**
   * Optional (CoAP): connect(), taking a waiting message along. Where connect() would check the
   * credentials with a request of its own once the session is up (the CoAP token check), it
   * calls `take()` once instead: a message it returns goes out at once and its answer is the
   * check, so the first message costs no extra round trip. `settle` is then called exactly once:
   * without an argument when ThingsBoard has the message, else with what send() would reject
   * with, or with code NOT_SENT (kind 'closed') when the server refused the credentials: the
   * promise then rejects, after `settle`, with the error connect() gives for that.
   */
  connectWith?(take: () => FirstMessage | undefined): Promise<void>;
  /** Resolves when ThingsBoard has the message (PUBACK, 2.xx, or written for QoS 0 / NON). */
  send(message: OutboundMessage): Promise<void>;
  /**
   * Optional, the same as send() without a promise per message (the hot path: MQTT). Never
   * throws; calls `callback` exactly once, never synchronously (so a caller's loop stays sane).
   */
  sendWithCallback?(message: OutboundMessage, callback: SendCallback): void;
  /** Closes gracefully; outstanding sends reject with kind 'closed'. Safe to call twice. */
  close(): Promise<void>;

  /**
   * Start receiving a channel. Resolves when ThingsBoard accepted it (MQTT: SUBACK granted QoS
   * 0/1 for v1/devices/me/attributes or v1/devices/me/rpc/request/+; CoAP: the first response of
   * the Observe registration GET /api/v1/$TOKEN/attributes or /rpc). Rejects with TransportError
   * kind 'rejected' (SUBACK failure 0x80, CoAP 4.xx/5.xx), 'unauthorized' (4.01) or 'closed';
   * `refused` is set on it when the server answered the subscription with "no".
   * Subscriptions do NOT survive a reconnect: the device layer calls subscribe() again after
   * every successful connect(). Within one connection the transport keeps them alive itself
   * (CoAP: re-registers observations periodically and after a DTLS re-handshake, and emits
   * 'resubscribed' (channel) so the device layer can catch up on changes it may have missed).
   * Idempotent: subscribing twice to one channel is one subscription.
   */
  subscribe(channel: DownlinkChannel): Promise<void>;
  /** Stop receiving (the last node that needed it is gone). Never rejects. */
  unsubscribe(channel: DownlinkChannel): Promise<void>;
  /** Reply to server-side RPC `id` (body: strict JSON). Resolves on PUBACK (QoS 1) / CoAP 2.xx. */
  respondRpc(id: number, body: Buffer): Promise<void>;
  /**
   * Attribute request. MQTT: publish v1/devices/me/attributes/request/{n} with
   * {"clientKeys":"a,b","sharedKeys":"c"} (keys omitted when the list is empty) and take the
   * answer from .../attributes/response/{n} (the transport subscribes attributes/response/+ on
   * first use per connection). CoAP: GET /api/v1/$TOKEN/attributes?clientKeys=..&sharedKeys=..
   * (4.04 = nothing found → resolves {}). Rejects with kind 'timeout', code 'NO_ANSWER', after
   * timeoutMs; a late answer is dropped. Request ids are unique per connection.
   * `signal` (optional): when it aborts, the request is forgotten at once (its timer cleared, a
   * late answer dropped) and the promise rejects with kind 'closed', code 'ABORTED' (the node
   * that asked was closed; its timers must not outlive it).
   */
  requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer>;
  /**
   * Client-side RPC: MQTT publish v1/devices/me/rpc/request/{n} {"method","params"} and answer on
   * v1/devices/me/rpc/response/{n} (subscribed on first use); CoAP POST /api/v1/$TOKEN/rpc,
   * answer = response body (separate CON response after an empty ACK is normal). Resolves with
   * the parsed JSON answer (or the text when it is not JSON). Timeout and `signal` as above.
   */
  callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown>;

  // ---- ThingsBoard's gateway API (MQTT only; CoAP has none) -----------------------------------
  /**
   * Publish `body` on `v1/gateway/<topic>`; `callback` exactly once, never synchronously (as
   * sendWithCallback). The bodies are built by src/payload/gateway.ts.
   */
  publishGateway?(topic: GatewayTopic, body: Buffer, qos: 0 | 1, callback: SendCallback, deviceEntries?: number): void;
  /**
   * Whether a gateway publish may carry several sub-devices (`deviceEntries` > 1): its callback
   * then succeeds only once every device entry was acknowledged (ThingsBoard sends one PUBACK per
   * entry). False once the broker showed it acknowledges once per packet (see mqtt/gateway-acks.ts).
   */
  readonly packsDevices?: boolean;
  /** The server has shown one PUBACK per device entry (so a pack may also create sub-devices). */
  readonly packsProven?: boolean;
  /**
   * Receive sub-device pushes: MQTT SUBSCRIBE v1/gateway/attributes or v1/gateway/rpc. Events
   * 'gateway-attributes' (GatewayAttributes) and 'gateway-rpc' (GatewayRpc; one command id per
   * device once per connection). A body that is not ThingsBoard's shape is dropped with a
   * 'debug' (text) event: brokers echo the gateway's own publishes on these topics. Same rules
   * as subscribe() (not kept over a reconnect, idempotent).
   */
  subscribeGateway?(channel: GatewayChannel): Promise<void>;
  unsubscribeGateway?(channel: GatewayChannel): Promise<void>;
  /**
   * v1/gateway/attributes/request {"id","device","client",keys} (one scope per request: ThingsBoard
   * takes one) and its answer from v1/gateway/attributes/response, as {key: value}. Timeout and
   * `signal` as requestAttributes().
   */
  requestGatewayAttributes?(device: string, client: boolean, keys: string[], timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>>;
}

/** What a gateway receives for its sub-devices. */
export type GatewayChannel = 'attributes' | 'rpc';

/** A server-side RPC for a sub-device (v1/gateway/rpc). */
export interface GatewayRpc extends RpcRequest {
  device: string;
}

/** A shared-attribute change of a sub-device (v1/gateway/attributes). */
export interface GatewayAttributes extends AttributesUpdate {
  device: string;
}

/** The gateway topics a gateway publishes on (after `v1/gateway/`). */
export type GatewayTopic = 'connect' | 'disconnect' | 'telemetry' | 'attributes' | 'claim' | 'rpc' | 'attributes/request';
