// connectDtls(): a UDP socket plus a DtlsSession, exposed as an EventEmitter.
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DtlsError } from './errors';
import { DtlsSession } from './session';
import { checkCaBundle } from './trust/openssl-chain';
import { clientCredentials } from './handshake/client-auth';
import type { ResumableSession } from './handshake/resumption';

export interface DtlsConnectOptions {
  /** Server host name or IP address. */
  host: string;
  port: number;
  /** PEM bundle of trusted CA certificates (root, and intermediates the server does not send). */
  ca?: string;
  /** Verify the server's certificate chain and host name (default true). false still encrypts and still checks the ServerKeyExchange signature and Finished. */
  verify?: boolean;
  /** Trust a path that ends at a CA-bundle certificate that is not self-signed, e.g. an intermediate alone (default false, like OpenSSL without X509_V_FLAG_PARTIAL_CHAIN). */
  allowPartialChain?: boolean;
  /** The name the certificate must carry, when it differs from `host` (also sent as SNI unless it is an IP address). */
  serverName?: string;
  /** Whole-handshake budget in ms (default 60000). */
  handshakeTimeoutMs?: number;
  /** First retransmission timeout in ms (default 1000; doubled on each retransmission). */
  initialRetransmitMs?: number;
  /** Longest single retransmission interval in ms (default 10000): doubling stops there. */
  maxRetransmitMs?: number;
  /** Largest datagram we send (default 1200). */
  mtu?: number;
  /** Aborts the handshake (rejects with code 'CLOSED'). */
  signal?: AbortSignal;
  /** A client certificate (PEM: device certificate first, chain after it) and its key, sent when the server asks for one. */
  clientCertificate?: { certPem: string; keyPem: string; passphrase?: string };
  /** An earlier session with this server to offer for resumption (`connection.resumable`); a server that does not resume makes a full handshake. */
  resume?: ResumableSession;
  /** For tests: makes the UDP socket (default dgram.createSocket(type)). */
  createSocket?: (type: 'udp4' | 'udp6') => dgram.Socket;
}

export class DtlsConnection extends EventEmitter {
  readonly remote: { address: string; port: number };
  private closed = false;

  constructor(private readonly session: DtlsSession, private readonly socket: dgram.Socket, remote: { address: string; port: number }) {
    super();
    this.remote = remote;
    session.deliver = (data: Buffer) => { this.emit('message', data); };
    session.on('close', (err?: DtlsError) => this.finish(err));
  }

  /** The negotiated cipher suite, e.g. 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'. */
  get cipherSuite(): string { return this.session.cipherSuite?.name ?? ''; }

  /** The server's Connection ID (RFC 9146) that our records carry, or null (the server gave none). */
  get connectionId(): Buffer | null { return this.session.connectionId; }

  /** Bytes each application record adds around its plaintext: datagram budgets subtract it. */
  get recordOverhead(): number { return this.session.recordOverhead; }

  /** Whether the session uses the extended master secret (RFC 7627). */
  get extendedMasterSecret(): boolean { return this.session.extendedMasterSecret; }

  /** The server's certificate chain as received (leaf first); empty after a resumed handshake. */
  get peerCertificates() { return this.session.peerCertificates; }

  /** The server resumed the offered session (abbreviated handshake: no certificate was sent). */
  get resumed(): boolean { return this.session.resumed; }

  /** What a later connectDtls() may offer as `resume` (a secret: keep it in memory only). */
  get resumable(): ResumableSession | undefined { return this.session.resumable; }

  /** The local UDP address, like dgram.Socket#address(). */
  localAddress(): { address: string; family: string; port: number } {
    try { return this.socket.address(); } catch { return { address: '0.0.0.0', family: 'IPv4', port: 0 }; }
  }

  get isOpen(): boolean { return !this.closed && this.session.state === 'connected'; }

  /** Encrypts `data` as one record and sends it. Rejects with a DtlsError when the session is gone. */
  send(data: Buffer): Promise<void> {
    try {
      this.write(data);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  /**
   * send() without a promise, for per-datagram callers (the dgram adapter): encrypts `data` as
   * one record (synchronously: the caller may reuse `data` afterwards) and hands it to the
   * socket. Throws a DtlsError when the session is gone; later socket errors end the session.
   */
  write(data: Buffer): void {
    if (!this.isOpen) throw new DtlsError('CLOSED', 'the DTLS session is closed; make a new connection');
    this.session.sendApplicationData(data);
  }

  /** Sends close_notify and closes the socket. */
  close(): Promise<void> {
    if (!this.closed) this.session.close();
    return new Promise((resolve) => setImmediate(resolve));
  }

  private finish(err?: DtlsError): void {
    if (this.closed) return;
    this.closed = true;
    // Let the close_notify / alert datagram leave before the socket goes.
    setImmediate(() => { try { this.socket.close(); } catch { /* already closed */ } });
    this.emit('close', err);
  }
}

/** Resolves the host (IP addresses as they are). */
async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = isIP(host);
  if (family) return { address: host, family: family as 4 | 6 };
  try {
    const r = await lookup(host);
    return { address: r.address, family: r.family as 4 | 6 };
  } catch (err) {
    throw new DtlsError('NETWORK', `cannot resolve host "${host}": ${(err as Error).message}`, { cause: err });
  }
}

/** CA bundles that passed the checks below lately: a reconnect does not parse them again (the text is the same, so is the answer). */
const readableBundles = new Set<string>();

/** Makes a verified DTLS 1.2 connection. Rejects with a DtlsError naming the reason. */
export async function connectDtls(options: DtlsConnectOptions): Promise<DtlsConnection> {
  const verify = options.verify !== false;
  const ca = String(options.ca ?? '');
  if (verify && !/-----BEGIN (TRUSTED )?CERTIFICATE-----/.test(ca)) {
    throw new DtlsError('UNKNOWN_CA', 'no CA certificate configured: give the PEM of the CA that issued the server certificate (or turn verification off explicitly)');
  }
  if (verify && !readableBundles.has(ca)) {
    // The bundle goes to OpenSSL as node:tls's `ca`: what it cannot read is a configuration error.
    // node:tls skips a block it cannot read; a user who pasted it meant it: say so now.
    (ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).forEach((block, i) => {
      try { new X509Certificate(block); } catch (err) { // eslint-disable-line no-new
        throw new DtlsError('UNKNOWN_CA', `certificate ${i + 1} of the CA bundle cannot be read (${(err as Error).message}): paste the CA certificate(s) in PEM form, each between BEGIN CERTIFICATE and END CERTIFICATE lines`);
      }
    });
    try { checkCaBundle(ca); } catch (err) {
      throw new DtlsError('UNKNOWN_CA', `the CA certificate bundle cannot be read (${(err as Error).message}): paste the CA certificate(s) in PEM form, each between BEGIN CERTIFICATE and END CERTIFICATE lines`);
    }
    if (readableBundles.size >= 4) readableBundles.delete(readableBundles.values().next().value as string);
    readableBundles.add(ca);
  }
  if (!options.host || !Number.isInteger(options.port) || options.port <= 0 || options.port > 65535) {
    throw new DtlsError('NETWORK', `invalid DTLS server address ${options.host}:${options.port}`);
  }
  if (options.signal?.aborted) throw new DtlsError('CLOSED', 'the DTLS handshake was aborted');
  const client = options.clientCertificate;
  const credentials = client ? clientCredentials(client.certPem, client.keyPem, client.passphrase) : undefined;
  const { address, family } = await resolveHost(options.host);
  const type = family === 6 ? 'udp6' : 'udp4';
  const socket = options.createSocket ? options.createSocket(type) : dgram.createSocket(type);
  const peerLabel = `${options.host}:${options.port}`;

  const session = new DtlsSession({
    identity: options.serverName || options.host,
    ca,
    verify,
    allowPartialChain: options.allowPartialChain === true,
    mtu: options.mtu ?? 1200,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 60000,
    initialRetransmitMs: options.initialRetransmitMs ?? 1000,
    maxRetransmitMs: options.maxRetransmitMs ?? 10000,
    peerLabel,
    clientCredentials: credentials,
    resume: options.resume,
  }, {
    send(datagram) { socket.send(datagram, afterSend); },
  });
  // One callback for every datagram (not a closure per send).
  const afterSend = (err: Error | null) => {
    if (err) session.fail(new DtlsError('NETWORK', `cannot send to ${peerLabel}: ${err.message}`, { cause: err }));
  };

  socket.on('message', (msg, rinfo) => {
    // A connected socket only delivers the peer's datagrams; the check guards injected sockets.
    if (rinfo.port === options.port && rinfo.address === address) session.handleDatagram(msg);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    const why = err.code === 'ECONNREFUSED' ? `nothing listens on ${peerLabel} (ICMP port unreachable)` : err.message;
    session.fail(new DtlsError('NETWORK', `DTLS socket error: ${why}`, { cause: err }));
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(options.port, address, () => { socket.off('error', reject); resolve(); });
  }).catch((err) => {
    try { socket.close(); } catch { /* ignore */ }
    throw new DtlsError('NETWORK', `cannot open a UDP socket to ${peerLabel}: ${(err as Error).message}`, { cause: err });
  });

  const connection = new DtlsConnection(session, socket, { address, port: options.port });
  const onAbort = () => session.fail(new DtlsError('CLOSED', 'the DTLS handshake was aborted'));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await session.handshake();
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  return connection;
}
