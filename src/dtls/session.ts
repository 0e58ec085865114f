// One DTLS 1.2 client session, independent of any socket: feed it datagrams with
// handleDatagram(), it hands datagrams to `io.send`. The handshake is driven flight by flight
// (RFC 6347 4.2.4):
//
//   flight 1  ClientHello                       ->
//   flight 2                                    <-  HelloVerifyRequest (cookie)
//   flight 3  ClientHello + cookie              ->
//   flight 4                                    <-  ServerHello, Certificate, ServerKeyExchange,
//                                                   [CertificateRequest], ServerHelloDone
//   flight 5  [empty Certificate], ClientKeyExchange, ChangeCipherSpec, Finished  ->
//   flight 6                                    <-  ChangeCipherSpec, Finished
//
// Our last flight is retransmitted on a timer (1 s, doubling) and whenever the server repeats
// its previous flight. Nothing reaches application data before the certificate chain, the host
// name, the ServerKeyExchange signature and the server's Finished were all verified.
import { EventEmitter } from 'node:events';
import { randomBytes, timingSafeEqual, X509Certificate, KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { DtlsError, protocolError } from './errors';
import { AlertDescription, AlertLevel, alertName, decodeAlert, encodeAlert } from './protocol/alert';
import { ContentType, DTLS_1_2, parseDatagram, DtlsRecord } from './protocol/record';
import { HandshakeMessage, HandshakeType, encodeHandshakeMessage, fragmentHandshakeMessage, parseHandshakeFragments, HANDSHAKE_HEADER_LENGTH } from './protocol/handshake';
import {
  ExtensionType, extendedMasterSecretExtension, pointFormatsExtension, renegotiationInfoExtension,
  serverNameExtension, signatureAlgorithmsExtension, supportedGroupsExtension, Extension,
} from './protocol/extensions';
import {
  encodeChangeCipherSpec, encodeClientHello, encodeClientKeyExchange, encodeEmptyCertificate,
  parseCertificate, parseCertificateRequest, parseHelloVerifyRequest, parseServerHello, parseServerKeyExchange,
} from './protocol/messages';
import { HandshakeReassembler } from './handshake/reassembler';
import { RecordLayer } from './record-layer';
import { CIPHER_SUITES, CipherSuite, IMPLICIT_IV_LENGTH, suiteById } from './crypto/ciphersuites';
import { SUPPORTED_GROUPS, createEphemeralKey } from './crypto/key-exchange';
import { SIGNATURE_SCHEMES, schemeById, verifySignature } from './crypto/signature';
import { keyBlock, masterSecret, transcriptHash, verifyData } from './crypto/prf';
import { parseServerChain, serverPublicKey, verifyServerChain } from './crypto/certificates';

export interface SessionOptions {
  /** Host name or IP address the server certificate must name. */
  identity: string;
  /** Trust anchors (the user's CA bundle). */
  anchors: X509Certificate[];
  /** false: skip chain, date and host checks (the ServerKeyExchange signature and Finished are still checked). */
  verify: boolean;
  /** Trust a path ending at a bundle certificate that is not self-signed (X509_V_FLAG_PARTIAL_CHAIN). */
  allowPartialChain?: boolean;
  /** Largest datagram we send. */
  mtu: number;
  /** The whole handshake must finish within this time. */
  handshakeTimeoutMs: number;
  /** First retransmission timeout (RFC 6347: 1 s), doubled on each retransmission. */
  initialRetransmitMs?: number;
  /** Upper bound for one retransmission interval. */
  maxRetransmitMs?: number;
  /** For diagnostics in messages, e.g. "127.0.0.1:5684". */
  peerLabel?: string;
}

export interface SessionIo { send(datagram: Buffer): void }

type State = 'idle' | 'wait_server_hello' | 'wait_server_hello_done' | 'wait_change_cipher_spec' | 'wait_finished' | 'connected' | 'closed';

/** A handshake message or ChangeCipherSpec of our current flight, re-encoded on each send. */
interface FlightItem { kind: 'handshake' | 'ccs'; epoch: number; message?: HandshakeMessage }

/** Records of the next epoch that arrived before the ChangeCipherSpec that opens it. */
const MAX_EARLY_RECORDS = 16;

export class DtlsSession extends EventEmitter {
  state: State = 'idle';
  cipherSuite: CipherSuite | null = null;
  /** The verified server certificate chain (leaf first), once received. */
  peerCertificates: X509Certificate[] = [];

  private readonly records = new RecordLayer();
  private readonly reassembler = new HandshakeReassembler();
  private readonly clientRandom = randomBytes(32);
  private serverRandom: Buffer = Buffer.alloc(0);
  private cookie: Buffer = Buffer.alloc(0);
  private helloVerifyCount = 0;
  private nextSendSeq = 0;
  private transcript: Buffer[] = [];
  /** Whether the extended master secret (RFC 7627) was negotiated. */
  extendedMasterSecret = false;
  private serverKey: KeyObject | null = null;
  private certificateRequested = false;
  private ephemeralGroup = 0;
  private serverEphemeral: Buffer = Buffer.alloc(0);
  private master: Buffer = Buffer.alloc(0);
  private expectedServerFinished: Buffer = Buffer.alloc(0);
  private flight: FlightItem[] = [];
  private earlyRecords: DtlsRecord[] = [];
  private earlyData: Buffer[] = [];
  private retransmitTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private retransmitMs: number;
  private transmissions = 0;
  private settle: { resolve: () => void; reject: (e: DtlsError) => void } | null = null;

  constructor(private readonly options: SessionOptions, private readonly io: SessionIo) {
    super();
    this.retransmitMs = options.initialRetransmitMs ?? 1000;
  }

  /** Starts the handshake; resolves when the session is verified and ready for data. */
  handshake(): Promise<void> {
    if (this.state !== 'idle') return Promise.reject(new DtlsError('PROTOCOL', 'handshake already started'));
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.deadlineTimer = setTimeout(() => this.fail(new DtlsError('HANDSHAKE_TIMEOUT',
        `DTLS handshake with ${this.options.peerLabel ?? 'the server'} did not complete within ${Math.round(this.options.handshakeTimeoutMs / 1000)} s ` +
        `(${this.transmissions} transmissions of flight ${this.flightNumber()}, last state ${this.state}): the server does not answer or the network drops the packets`)), this.options.handshakeTimeoutMs);
      this.state = 'wait_server_hello';
      this.sendClientHello();
    });
  }

  /** Handles one received datagram. Never throws: failures end the session with a DtlsError. */
  handleDatagram(datagram: Buffer): void {
    if (this.state === 'closed' || this.state === 'idle') return;
    try {
      let sawOldHandshake = false;
      for (const record of parseDatagram(datagram)) {
        if (this.processRecord(record)) sawOldHandshake = true;
        if (this.isClosed()) return;
      }
      this.driveHandshake();
      if (sawOldHandshake && this.isHandshaking() && this.flight.length > 0) this.sendFlight();
    } catch (err) {
      this.fail(err instanceof DtlsError ? err : new DtlsError('PROTOCOL', `internal error while processing a DTLS record: ${(err as Error)?.message}`, { sendAlert: AlertDescription.internal_error, cause: err }));
    }
  }

  /** Encrypts and sends one application data record. */
  sendApplicationData(data: Buffer): void {
    if (this.state !== 'connected') throw new DtlsError('CLOSED', 'the DTLS session is not open');
    if (data.length > 16384) throw new DtlsError('PROTOCOL', `a DTLS record carries at most 16384 bytes, not ${data.length}`);
    this.io.send(this.records.seal(ContentType.application_data, 1, data));
  }

  /** Sends close_notify (if the session is up) and ends the session without error. */
  close(): void {
    if (this.state === 'closed') return;
    if (this.state === 'connected') this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.end(new DtlsError('CLOSED', 'the DTLS session was closed'), false);
  }

  /** Ends the session because of `err`: sends the matching fatal alert, rejects or emits 'close'. */
  fail(err: DtlsError): void {
    if (this.state === 'closed') return;
    if (err.sendAlert !== undefined) {
      try { this.sendAlert(AlertLevel.fatal, err.sendAlert); } catch { /* nothing more to do */ }
    }
    this.end(err, true);
  }

  private end(err: DtlsError, isError: boolean): void {
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.clearTimers();
    this.flight = [];
    this.earlyRecords = [];
    this.earlyData = [];
    this.reassembler.clear();
    if (this.settle) {
      const { reject } = this.settle;
      this.settle = null;
      reject(err);
    }
    this.emit('close', isError || !wasConnected ? err : undefined);
  }

  /** Re-reads the state (TypeScript narrows `this.state` across calls that change it). */
  private isClosed(): boolean { return this.state === 'closed'; }
  private isConnected(): boolean { return this.state === 'connected'; }

  private isHandshaking(): boolean {
    return this.state !== 'idle' && this.state !== 'connected' && this.state !== 'closed';
  }

  private flightNumber(): number {
    if (this.state === 'wait_server_hello') return this.cookie.length ? 3 : 1;
    return 5;
  }

  private clearTimers(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.retransmitTimer = this.deadlineTimer = null;
  }

  // ---- sending ------------------------------------------------------------------------------

  private sendAlert(level: AlertLevel, description: AlertDescription): void {
    const epoch = this.state === 'connected' || this.state === 'wait_change_cipher_spec' || this.state === 'wait_finished' ? 1 : 0;
    this.io.send(this.records.seal(ContentType.alert, epoch, encodeAlert(level, description)));
  }

  private nextMessage(type: HandshakeType, body: Buffer): HandshakeMessage {
    return { type, messageSeq: this.nextSendSeq++, body };
  }

  private startFlight(items: FlightItem[]): void {
    this.flight = items;
    this.retransmitMs = this.options.initialRetransmitMs ?? 1000;
    this.transmissions = 0;
    this.sendFlight();
  }

  /** (Re)sends the current flight, packing records into datagrams of at most `mtu` bytes. */
  private sendFlight(): void {
    const datagrams: Buffer[] = [];
    let current: Buffer[] = [];
    let size = 0;
    const push = (record: Buffer) => {
      if (size + record.length > this.options.mtu && current.length) { datagrams.push(Buffer.concat(current)); current = []; size = 0; }
      current.push(record);
      size += record.length;
    };
    for (const item of this.flight) {
      if (item.kind === 'ccs') { push(this.records.seal(ContentType.change_cipher_spec, 0, encodeChangeCipherSpec())); continue; }
      const room = this.options.mtu - this.records.overhead(item.epoch);
      for (const fragment of fragmentHandshakeMessage(item.message as HandshakeMessage, Math.max(room, HANDSHAKE_HEADER_LENGTH + 16))) {
        push(this.records.seal(ContentType.handshake, item.epoch, fragment));
      }
    }
    if (current.length) datagrams.push(Buffer.concat(current));
    for (const d of datagrams) this.io.send(d);
    this.transmissions++;
    this.armRetransmit();
  }

  private armRetransmit(): void {
    if (this.retransmitTimer) clearTimeout(this.retransmitTimer);
    this.retransmitTimer = setTimeout(() => {
      this.retransmitTimer = null;
      if (!this.isHandshaking()) return;
      this.retransmitMs = Math.min(this.retransmitMs * 2, this.options.maxRetransmitMs ?? 60000);
      try { this.sendFlight(); } catch (err) { this.fail(err as DtlsError); }
    }, this.retransmitMs);
  }

  private sendClientHello(): void {
    const extensions: Extension[] = [];
    const sni = this.options.identity;
    if (sni && isIP(sni) === 0) extensions.push(serverNameExtension(sni)); // RFC 6066: never an IP
    extensions.push(
      supportedGroupsExtension(SUPPORTED_GROUPS),
      pointFormatsExtension(),
      signatureAlgorithmsExtension(SIGNATURE_SCHEMES.map((s) => s.id)),
      extendedMasterSecretExtension(),
      renegotiationInfoExtension(),
    );
    const body = encodeClientHello({
      random: this.clientRandom,
      sessionId: Buffer.alloc(0),
      cookie: this.cookie,
      cipherSuites: CIPHER_SUITES.map((s) => s.id),
      extensions,
    });
    const message = this.nextMessage(HandshakeType.client_hello, body);
    // The transcript starts again with the ClientHello that carries the cookie (RFC 6347 4.2.6).
    this.transcript = [encodeHandshakeMessage(message)];
    this.startFlight([{ kind: 'handshake', epoch: 0, message }]);
  }

  // ---- receiving ----------------------------------------------------------------------------

  /** Returns true when the record held a retransmission of a server message already handled. */
  private processRecord(record: DtlsRecord): boolean {
    if (record.epoch > this.records.readEpoch) {
      // The next epoch's records (Finished) overtook the ChangeCipherSpec: keep a few for later.
      if (record.epoch === this.records.readEpoch + 1 && this.isHandshaking() && this.earlyRecords.length < MAX_EARLY_RECORDS) this.earlyRecords.push(record);
      return false;
    }
    if (record.epoch < this.records.readEpoch) {
      // Epoch-0 records after the server's ChangeCipherSpec: only a repeated flight (tells us our
      // flight 5 was lost) or an alert from a server that forgot us (restart) matter.
      if (record.epoch !== 0) return false;
      if (record.type === ContentType.alert && this.state === 'connected') return this.processPlainAlert(record);
      if (record.type !== ContentType.handshake || !this.isHandshaking()) return false;
      return parseHandshakeFragmentsSafe(record.body).some((f) => f.messageSeq < this.reassembler.nextSeq);
    }
    const plaintext = this.records.open(record);
    if (plaintext === 'forged') {
      if (this.state === 'wait_finished') {
        throw new DtlsError('BAD_FINISHED', `the server's Finished record from ${this.options.peerLabel ?? 'the server'} failed authentication: the handshake was tampered with or the keys disagree`, { sendAlert: AlertDescription.bad_record_mac });
      }
      return false; // RFC 6347 4.1.2.7: silently discard
    }
    if (!Buffer.isBuffer(plaintext)) return false;
    return this.processPlaintext(record, plaintext);
  }

  private processPlainAlert(record: DtlsRecord): boolean {
    const alert = decodeAlert(record.body);
    if (alert && alert.level === AlertLevel.fatal) this.onAlert(alert.level, alert.description);
    return false;
  }

  private processPlaintext(record: DtlsRecord, plaintext: Buffer): boolean {
    switch (record.type) {
      case ContentType.handshake: {
        if (this.state === 'connected') return false; // no renegotiation; repeated Finished is harmless
        let old = false;
        for (const fragment of parseHandshakeFragments(plaintext)) {
          if (record.epoch === 0 && this.records.readEpoch > 0) continue;
          if (this.reassembler.add(fragment) === 'old') old = true;
        }
        return old;
      }
      case ContentType.change_cipher_spec: {
        if (plaintext.length !== 1 || plaintext[0] !== 1) throw protocolError('malformed ChangeCipherSpec', AlertDescription.decode_error);
        if (this.state !== 'wait_change_cipher_spec') return false; // early or repeated: ignore
        this.records.readEpoch = 1;
        this.state = 'wait_finished';
        const early = this.earlyRecords;
        this.earlyRecords = [];
        for (const r of early) this.processRecord(r);
        return false;
      }
      case ContentType.alert: {
        const alert = decodeAlert(plaintext);
        if (!alert) throw protocolError('malformed alert');
        this.onAlert(alert.level, alert.description);
        return false;
      }
      case ContentType.application_data: {
        if (record.epoch === 0) return false; // never accept unprotected data
        if (this.state === 'connected') this.emit('message', plaintext);
        // Data the server sent right after its Finished that overtook it: deliver once verified.
        else if (this.state === 'wait_finished' && this.earlyData.length < MAX_EARLY_RECORDS) this.earlyData.push(plaintext);
        return false;
      }
      default:
        return false;
    }
  }

  private onAlert(level: number, description: number): void {
    if (description === AlertDescription.close_notify) {
      if (this.state === 'connected') {
        this.end(new DtlsError('ALERT_RECEIVED', `the server closed the DTLS session (close_notify)`, { alert: 'close_notify' }), true);
      } else {
        this.fail(new DtlsError('ALERT_RECEIVED', `the server ended the DTLS handshake (close_notify)`, { alert: 'close_notify' }));
      }
      return;
    }
    if (level === AlertLevel.warning && this.state === 'connected') return;
    if (level === AlertLevel.warning && description === AlertDescription.no_renegotiation) return;
    this.end(new DtlsError('ALERT_RECEIVED', `the server sent a ${level === AlertLevel.fatal ? 'fatal' : 'warning'} alert: ${alertName(description)}${hintFor(description)}`, { alert: alertName(description) }), true);
  }

  // ---- the handshake state machine ------------------------------------------------------------

  private driveHandshake(): void {
    for (;;) {
      if (this.state === 'wait_server_hello') {
        const seq = this.reassembler.findComplete([HandshakeType.server_hello, HandshakeType.hello_verify_request]);
        if (seq === null) return;
        this.reassembler.restartAt(seq);
      } else if (this.state !== 'wait_server_hello_done' && this.state !== 'wait_finished') {
        return;
      }
      const message = this.reassembler.takeNext();
      if (!message) return;
      this.handleMessage(message);
      if (this.isClosed() || this.isConnected()) return;
    }
  }

  private handleMessage(m: HandshakeMessage): void {
    const unexpected = () => protocolError(`unexpected ${HandshakeType[m.type] ?? `handshake type ${m.type}`} in state ${this.state}`, AlertDescription.unexpected_message);
    if (this.state === 'wait_server_hello') {
      if (m.type === HandshakeType.hello_verify_request) return this.onHelloVerifyRequest(m);
      if (m.type === HandshakeType.server_hello) return this.onServerHello(m);
      throw unexpected();
    }
    if (this.state === 'wait_server_hello_done') {
      switch (m.type) {
        case HandshakeType.certificate: return this.onCertificate(m);
        case HandshakeType.server_key_exchange: return this.onServerKeyExchange(m);
        case HandshakeType.certificate_request: return this.onCertificateRequest(m);
        case HandshakeType.server_hello_done: return this.onServerHelloDone(m);
        default: throw unexpected();
      }
    }
    if (this.state === 'wait_finished' && m.type === HandshakeType.finished) return this.onFinished(m);
    throw unexpected();
  }

  private onHelloVerifyRequest(m: HandshakeMessage): void {
    const { cookie } = parseHelloVerifyRequest(m.body);
    if (++this.helloVerifyCount > 4) throw protocolError('the server keeps sending HelloVerifyRequest', AlertDescription.handshake_failure);
    this.cookie = cookie;
    this.sendClientHello();
  }

  private onServerHello(m: HandshakeMessage): void {
    const hello = parseServerHello(m.body);
    if (hello.version !== DTLS_1_2) throw protocolError(`the server chose protocol version 0x${hello.version.toString(16)}, not DTLS 1.2`, AlertDescription.protocol_version);
    const suite = suiteById(hello.cipherSuite);
    if (!suite) throw protocolError(`the server chose cipher suite 0x${hello.cipherSuite.toString(16)}, which we did not offer`, AlertDescription.illegal_parameter);
    if (hello.compression !== 0) throw protocolError('the server chose a compression method we did not offer', AlertDescription.illegal_parameter);
    const allowed = [ExtensionType.server_name, ExtensionType.ec_point_formats, ExtensionType.extended_master_secret, ExtensionType.renegotiation_info];
    for (const ext of hello.extensions) {
      if (!allowed.includes(ext.type)) throw protocolError(`the server sent extension ${ext.type}, which we did not offer`, AlertDescription.unsupported_extension);
      if (ext.type === ExtensionType.renegotiation_info && !(ext.data.length === 1 && ext.data[0] === 0)) {
        throw protocolError('renegotiation_info is not empty in an initial handshake', AlertDescription.handshake_failure);
      }
    }
    this.extendedMasterSecret = hello.extensions.some((e) => e.type === ExtensionType.extended_master_secret);
    this.serverRandom = Buffer.from(hello.random);
    this.cipherSuite = suite;
    this.transcript.push(encodeHandshakeMessage(m));
    this.state = 'wait_server_hello_done';
    // Our ClientHello stays armed until flight 4 is complete: repeating it makes the server
    // repeat its flight when fragments of it were lost (RFC 6347 4.2.4).
    this.expect = [HandshakeType.certificate];
  }

  /** In flight 4, which message types may come next. */
  private expect: number[] = [];

  private checkOrder(m: HandshakeMessage): void {
    if (!this.expect.includes(m.type)) {
      throw protocolError(`${HandshakeType[m.type]} arrived out of order (expected ${this.expect.map((t) => HandshakeType[t]).join(' or ')})`, AlertDescription.unexpected_message);
    }
  }

  private onCertificate(m: HandshakeMessage): void {
    this.checkOrder(m);
    const chain = parseServerChain(parseCertificate(m.body));
    const suite = this.cipherSuite as CipherSuite;
    if (this.options.verify) verifyServerChain(chain, { anchors: this.options.anchors, identity: this.options.identity, allowPartialChain: this.options.allowPartialChain });
    this.serverKey = serverPublicKey(chain[0], suite.auth);
    this.peerCertificates = chain;
    this.transcript.push(encodeHandshakeMessage(m));
    this.expect = [HandshakeType.server_key_exchange];
  }

  private onServerKeyExchange(m: HandshakeMessage): void {
    this.checkOrder(m);
    const ske = parseServerKeyExchange(m.body);
    if (!SUPPORTED_GROUPS.includes(ske.group)) throw protocolError(`the server chose group ${ske.group}, which we did not offer`, AlertDescription.illegal_parameter);
    const scheme = schemeById(ske.scheme);
    if (!scheme) throw protocolError(`the server signed with algorithm 0x${ske.scheme.toString(16)}, which we did not offer`, AlertDescription.illegal_parameter);
    const signed = Buffer.concat([this.clientRandom, this.serverRandom, ske.params]);
    if (!verifySignature(scheme, this.serverKey as KeyObject, signed, ske.signature)) {
      throw new DtlsError('BAD_SIGNATURE', `the ServerKeyExchange signature (${scheme.name}) does not verify with the server certificate's key: the key exchange was tampered with or the server does not hold the certificate's private key`, { sendAlert: AlertDescription.decrypt_error });
    }
    this.ephemeralGroup = ske.group;
    this.serverEphemeral = Buffer.from(ske.publicKey);
    this.transcript.push(encodeHandshakeMessage(m));
    this.expect = [HandshakeType.certificate_request, HandshakeType.server_hello_done];
  }

  private onCertificateRequest(m: HandshakeMessage): void {
    this.checkOrder(m);
    parseCertificateRequest(m.body);
    this.certificateRequested = true;
    this.transcript.push(encodeHandshakeMessage(m));
    this.expect = [HandshakeType.server_hello_done];
  }

  private onServerHelloDone(m: HandshakeMessage): void {
    this.checkOrder(m);
    if (m.body.length !== 0) throw protocolError('ServerHelloDone is not empty');
    this.transcript.push(encodeHandshakeMessage(m));
    const suite = this.cipherSuite as CipherSuite;

    const items: FlightItem[] = [];
    if (this.certificateRequested) {
      // Client authentication "wanted" (ThingsBoard): an empty chain, and no CertificateVerify.
      const cert = this.nextMessage(HandshakeType.certificate, encodeEmptyCertificate());
      this.transcript.push(encodeHandshakeMessage(cert));
      items.push({ kind: 'handshake', epoch: 0, message: cert });
    }
    const ephemeral = createEphemeralKey(this.ephemeralGroup);
    const preMaster = ephemeral.deriveSecret(this.serverEphemeral);
    const cke = this.nextMessage(HandshakeType.client_key_exchange, encodeClientKeyExchange(ephemeral.publicKey));
    this.transcript.push(encodeHandshakeMessage(cke));
    items.push({ kind: 'handshake', epoch: 0, message: cke });

    this.master = masterSecret(suite.prfHash, preMaster, {
      extended: this.extendedMasterSecret,
      sessionHash: transcriptHash(suite.prfHash, this.transcript),
      clientRandom: this.clientRandom,
      serverRandom: this.serverRandom,
    });
    const keys = keyBlock(suite.prfHash, this.master, this.clientRandom, this.serverRandom, suite.keyLength, IMPLICIT_IV_LENGTH);
    this.records.setWriteKeys(1, { suite, key: keys.clientKey, salt: keys.clientIv });
    this.records.setReadKeys(1, { suite, key: keys.serverKey, salt: keys.serverIv });

    items.push({ kind: 'ccs', epoch: 0 });
    const finished = this.nextMessage(HandshakeType.finished, verifyData(suite.prfHash, this.master, 'client finished', transcriptHash(suite.prfHash, this.transcript)));
    this.transcript.push(encodeHandshakeMessage(finished));
    items.push({ kind: 'handshake', epoch: 1, message: finished });
    this.expectedServerFinished = verifyData(suite.prfHash, this.master, 'server finished', transcriptHash(suite.prfHash, this.transcript));

    this.state = 'wait_change_cipher_spec';
    this.startFlight(items);
  }

  private onFinished(m: HandshakeMessage): void {
    if (m.body.length !== 12 || !timingSafeEqual(m.body, this.expectedServerFinished)) {
      throw new DtlsError('BAD_FINISHED', `the server's Finished message does not match the handshake: it was tampered with or the server derived other keys`, { sendAlert: AlertDescription.decrypt_error });
    }
    this.state = 'connected';
    this.flight = [];
    this.clearTimers();
    const settle = this.settle;
    this.settle = null;
    settle?.resolve();
    const early = this.earlyData;
    this.earlyData = [];
    // After the caller's `await` has attached its 'message' listener.
    if (early.length) setImmediate(() => { for (const d of early) if (this.state === 'connected') this.emit('message', d); });
  }
}

function parseHandshakeFragmentsSafe(body: Buffer) {
  try { return parseHandshakeFragments(body); } catch { return []; }
}

function hintFor(description: number): string {
  switch (description) {
    case AlertDescription.handshake_failure: return ' (the server accepts none of our cipher suites, groups or signature algorithms, or wants a client certificate)';
    case AlertDescription.bad_certificate: return ' (the server refused our (empty) client certificate)';
    case AlertDescription.decrypt_error: case AlertDescription.bad_record_mac: return ' (the server could not verify our messages)';
    default: return '';
  }
}
