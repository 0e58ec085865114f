// The contract between the device layer (src/device/) and a transport (MQTT, CoAP over UDP or
// DTLS). A transport moves one message at a time to ThingsBoard and classifies every failure; the
// device layer owns users, the queue, reconnect/backoff and status. Transports import nothing from
// Node-RED and nothing from src/device/.
import type { EventEmitter } from 'node:events';

export type TransportName = 'mqtt' | 'mqtts' | 'coap' | 'coaps';
export type DataKind = 'telemetry' | 'attributes';

/** Everything a transport needs to reach one ThingsBoard device. */
export interface ConnectionSettings {
  transport: TransportName;
  host: string;
  port: number;
  /** Secret: never put it (or a URI holding it) into a log, status, error or debug text. */
  accessToken: string;
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
  };
}

export interface OutboundMessage {
  kind: DataKind;
  /** Strict JSON, UTF-8. */
  body: Buffer;
  /** MQTT QoS; CoAP ignores it (confirmable or not is a connection setting). */
  qos: 0 | 1;
  /**
   * Device layer only (transports ignore both and send `body`): when the node received the
   * message, epoch ms, and how the body can join a ThingsBoard array `[{ts, values}, ...]` when
   * telemetry backs up (see src/device/batch.ts). Without them the message always goes alone.
   */
  receivedAt?: number;
  batchShape?: BatchShape;
}

/**
 * How a telemetry body joins an array publish: `wrap` = the body is one values object, sent as
 * `{"ts":receivedAt,"values":body}`; `entry` = the body is one `{ts, values}` entry, sent as is;
 * `entries` = the body is an array of `{ts, values}` entries, sent without its brackets.
 */
export type BatchShape = 'wrap' | 'entry' | 'entries';

/** Called exactly once per send: no argument when ThingsBoard has the message. */
export type SendCallback = (err?: TransportError) => void;

/**
 * How the device layer must react to a failure:
 * - `unauthorized`: the token was refused (CONNACK 4/5, CoAP 4.01). Waiting will not fix it:
 *   fail this and every queued message at once, retry the connection only slowly.
 * - `certificate`: server certificate untrusted, expired, or for another host. As above; no
 *   token was sent.
 * - `rejected`: the server refused this one message (CoAP 4.00, 4.04, 4.13, 5.xx, payload too
 *   large): fail only this message.
 * - `timeout`: no answer for this message within the protocol's retransmission budget (CoAP):
 *   fail only this message; the peer may be down.
 * - `closed`: the connection dropped while this message was in flight: it may not have arrived;
 *   the device layer puts it back at the head of the queue and reconnects.
 * - `unreachable`: connecting failed for a reason that may pass (refused, DNS, timeout): retry
 *   with backoff while messages queue.
 */
export type FailureKind = 'unauthorized' | 'certificate' | 'rejected' | 'timeout' | 'closed' | 'unreachable';

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

  /** True when waiting and retrying will not help (a user must change the token, CA or host). */
  get permanent(): boolean {
    return this.kind === 'unauthorized' || this.kind === 'certificate';
  }
}

/**
 * One connection to ThingsBoard for one device. Events:
 * - 'phase' (phase: 'connecting' | 'securing'): progress while connect() runs, for status.
 * - 'down' (err: TransportError): an open connection dropped on its own (not after close()).
 *   In-flight sends reject with kind 'closed' before or after this event.
 * - 'warning' (text: string): something the user should see once in the log (already redacted).
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
  /** Resolves when ThingsBoard has the message (PUBACK, 2.xx, or written for QoS 0 / NON). */
  send(message: OutboundMessage): Promise<void>;
  /**
   * Optional, the same as send() without a promise per message (the hot path: MQTT). Never
   * throws; calls `callback` exactly once, never synchronously (so a caller's loop stays sane).
   */
  sendWithCallback?(message: OutboundMessage, callback: SendCallback): void;
  /** Closes gracefully; outstanding sends reject with kind 'closed'. Safe to call twice. */
  close(): Promise<void>;
}
