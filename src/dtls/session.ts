// One DTLS 1.2 client session, independent of any socket: feed it datagrams with
// handleDatagram(), it hands datagrams to `io.send`. This file is the record processing: which
// received record may do what in which state. The handshake messages themselves are checked in
// handshake/client-handshake.ts, our flights are (re)sent by handshake/flight.ts.
//
// What an unauthenticated record (epoch 0, or one that fails AEAD) may do (RFC 6347 4.1.2.7):
// - during the handshake, before the server's ChangeCipherSpec: carry flight 2/4 messages, the
//   CCS itself and alerts (the server fails a handshake in the clear); a handshake message after
//   the ServerHelloDone is an unexpected_message;
// - after the server's ChangeCipherSpec: only a retransmitted server flight (tells us our flight
//   5 was lost, so we resend it); nothing else, alerts included;
// - once connected: nothing at all. A spoofed plaintext alert is dropped, as OpenSSL does.
// A record of the current epoch that fails authentication is discarded silently, whatever the
// state; when the handshake then times out having seen such records after the server's
// ChangeCipherSpec, the error is BAD_FINISHED (the server's Finished did not authenticate).
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { DtlsError, protocolError } from './errors';
import { AlertDescription, AlertLevel, alertName, decodeAlert, encodeAlert } from './protocol/alert';
import { ContentType, parseDatagram, DtlsRecord } from './protocol/record';
import { HandshakeFragment, HandshakeType, parseHandshakeFragments } from './protocol/handshake';
import { HandshakeReassembler } from './handshake/reassembler';
import { FlightSender } from './handshake/flight';
import { ClientHandshake, HandshakeContext, SessionOptions, SessionState } from './handshake/client-handshake';
import { RecordLayer } from './record-layer';
import type { ResumableSession } from './handshake/resumption';
import { CipherSuite } from './crypto/ciphersuites';

export { SessionOptions } from './handshake/client-handshake';

export interface SessionIo { send(datagram: Buffer): void }

/** Records of the next epoch that arrived before the ChangeCipherSpec that opens it. */
const MAX_EARLY_RECORDS = 16;
/**
 * Handshake fragments looked at per datagram. A real flight needs a handful per datagram (one
 * per record, a few records per MTU); a flood of tiny fragments is cut off here, so the work
 * per datagram stays bounded whatever its size. What is skipped comes again with a retransmission.
 */
export const MAX_FRAGMENTS_PER_DATAGRAM = 64;
/** Records looked at per datagram, for the same reason (a real datagram carries a few). */
export const MAX_RECORDS_PER_DATAGRAM = 64;

export class DtlsSession extends EventEmitter {
  state: SessionState = 'idle';

  private readonly records = new RecordLayer();
  private readonly reassembler = new HandshakeReassembler();
  private readonly flight: FlightSender;
  private readonly hs: ClientHandshake;
  private earlyRecords: DtlsRecord[] = [];
  private earlyData: Buffer[] = [];
  /** Records of epoch 1 that failed authentication while we waited for the server's Finished. */
  private forgedAfterCcs = 0;
  /** Fragments the current datagram may still have processed (MAX_FRAGMENTS_PER_DATAGRAM). */
  private fragmentBudget = 0;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private settle: { resolve: () => void; reject: (e: DtlsError) => void } | null = null;
  private awaitingTrust = false;

  constructor(private readonly options: SessionOptions, private readonly io: SessionIo) {
    super();
    this.flight = new FlightSender(this.records, {
      mtu: options.mtu,
      initialRetransmitMs: options.initialRetransmitMs ?? 1000,
      maxRetransmitMs: options.maxRetransmitMs ?? 10000,
      send: (d) => this.io.send(d),
      stillHandshaking: () => this.isHandshaking(),
      onError: (err) => this.fail(err instanceof DtlsError ? err : new DtlsError('NETWORK', `cannot retransmit: ${(err as Error)?.message}`, { cause: err })),
    });
    const session = this; // eslint-disable-line @typescript-eslint/no-this-alias
    const ctx: HandshakeContext = {
      get state() { return session.state; },
      set state(s: SessionState) { session.state = s; },
      records: this.records,
      flight: this.flight,
    };
    this.hs = new ClientHandshake(options, ctx);
  }

  /** The negotiated cipher suite, once the ServerHello arrived. */
  get cipherSuite(): CipherSuite | null { return this.hs.cipherSuite; }
  /** The server certificate chain (leaf first), once received. */
  get peerCertificates(): X509Certificate[] { return this.hs.peerCertificates; }
  /** Whether the extended master secret (RFC 7627) was negotiated. */
  get extendedMasterSecret(): boolean { return this.hs.extendedMasterSecret; }
  /** The server resumed the offered session (abbreviated handshake). */
  get resumed(): boolean { return this.hs.resumed; }
  /** The server's Connection ID that our records carry (RFC 9146), or null when none was negotiated. */
  get connectionId(): Buffer | null { return this.records.writeCid; }
  /** Bytes an application record adds around its plaintext (header, nonce, tag; with CID, the CID and inner type). */
  get recordOverhead(): number { return this.records.overhead(1); }
  /** What a later handshake may offer to resume, once connected (handshake/resumption.ts). */
  get resumable(): ResumableSession | undefined { return this.state === 'connected' ? this.hs.resumable : undefined; }

  /** Starts the handshake; resolves when the session is verified and ready for data. */
  handshake(): Promise<void> {
    if (this.state !== 'idle') return Promise.reject(new DtlsError('PROTOCOL', 'handshake already started'));
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.deadlineTimer = setTimeout(() => this.fail(this.timeoutError()), this.options.handshakeTimeoutMs);
      this.state = 'wait_server_hello';
      this.hs.sendClientHello();
    });
  }

  private timeoutError(): DtlsError {
    const peer = this.options.peerLabel ?? 'the server';
    if (this.state === 'wait_finished' && this.forgedAfterCcs > 0) {
      return new DtlsError('BAD_FINISHED', `the server's Finished from ${peer} never authenticated: ${this.forgedAfterCcs} record(s) after its ChangeCipherSpec failed decryption, so the handshake was tampered with or the keys disagree`, { sendAlert: AlertDescription.bad_record_mac });
    }
    const flightNumber = this.state === 'wait_server_hello' ? (this.hs.hasCookie ? 3 : 1) : 5;
    return new DtlsError('HANDSHAKE_TIMEOUT',
      `DTLS handshake with ${peer} did not complete within ${Math.round(this.options.handshakeTimeoutMs / 1000)} s ` +
      `(${this.flight.transmissions} transmissions of flight ${flightNumber}, last state ${this.state}): the server does not answer or the network drops the packets`);
  }

  /** Handles one received datagram. Never throws: failures end the session with a DtlsError. */
  handleDatagram(datagram: Buffer): void {
    if (this.state === 'closed' || this.state === 'idle') return;
    try {
      if (this.state === 'connected') {
        // The usual datagram of an established session: one application_data record.
        const plaintext = this.records.openLone(datagram, ContentType.application_data);
        if (plaintext !== null) {
          if (plaintext !== 'dropped') this.deliver(plaintext);
          return;
        }
      }
      let sawOldHandshake = false;
      this.fragmentBudget = MAX_FRAGMENTS_PER_DATAGRAM;
      for (const record of parseDatagram(datagram, MAX_RECORDS_PER_DATAGRAM)) {
        if (this.processRecord(record)) sawOldHandshake = true;
        if (this.isClosed()) return;
        // Record by record: a handshake message and a ChangeCipherSpec in one datagram are
        // handled in their order (a plaintext Finished before the CCS is caught as such).
        this.driveHandshake();
        if (this.isClosed()) return;
      }
      if (sawOldHandshake && this.isHandshaking() && !this.flight.isEmpty) this.flight.send();
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

  /** Where decrypted application data goes: emitted as 'message' unless the connection takes it directly. */
  deliver: (data: Buffer) => void = (data) => { this.emit('message', data); };

  /** Re-reads the state (TypeScript narrows `this.state` across calls that change it). */
  private isClosed(): boolean { return this.state === 'closed'; }
  private isConnected(): boolean { return this.state === 'connected'; }

  private isHandshaking(): boolean {
    return this.state !== 'idle' && this.state !== 'connected' && this.state !== 'closed';
  }

  private clearTimers(): void {
    this.flight.stop();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  private sendAlert(level: AlertLevel, description: AlertDescription): void {
    const epoch = this.state === 'connected' || this.state === 'wait_change_cipher_spec' || this.state === 'wait_finished' ? 1 : 0;
    this.io.send(this.records.seal(ContentType.alert, epoch, encodeAlert(level, description)));
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
      // After the server's ChangeCipherSpec an unprotected record can only be a repeated server
      // flight (our flight 5 was lost: resend it). Once connected, nothing unprotected counts.
      if (record.epoch !== 0 || record.type !== ContentType.handshake || !this.isHandshaking()) return false;
      return this.takeFragments(record.body, true).some((f) => f.messageSeq < this.reassembler.nextSeq);
    }
    const plaintext = this.records.open(record);
    if (plaintext === 'forged') {
      if (this.state === 'wait_finished') this.forgedAfterCcs++;
      return false; // RFC 6347 4.1.2.7: silently discard
    }
    if (typeof plaintext === 'string') return false; // 'no-keys' or 'replayed'
    return this.processPlaintext(record, plaintext);
  }

  private processPlaintext(record: DtlsRecord, plaintext: Buffer): boolean {
    switch (record.type) {
      case ContentType.handshake: {
        if (this.state === 'connected') {
          // No renegotiation. After an abbreviated handshake our Finished is the last flight: a
          // repeated server Finished says it was lost, so it goes again (RFC 6347 4.2.4).
          if (record.epoch === 1 && this.hs.finalFlight) this.flight.start(this.hs.finalFlight);
          return false;
        }
        let old = false;
        for (const fragment of this.takeFragments(plaintext, false)) {
          if (this.reassembler.add(fragment, record.epoch) === 'old') old = true;
        }
        return old;
      }
      case ContentType.change_cipher_spec: {
        if (plaintext.length !== 1 || plaintext[0] !== 1) throw protocolError('malformed ChangeCipherSpec', AlertDescription.decode_error);
        if (this.state !== 'wait_change_cipher_spec') return false; // early or repeated: ignore
        this.records.readEpoch = 1;
        this.state = 'wait_finished';
        // From here on, epoch-0 records reach the reassembler no more, and an epoch-1 fragment
        // replaces whatever unprotected fragments were stored for its message (reassembler.add).
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
        if (this.state === 'connected') this.deliver(plaintext);
        // Data the server sent right after its Finished that overtook it: deliver once verified.
        else if (this.state === 'wait_finished' && this.earlyData.length < MAX_EARLY_RECORDS) this.earlyData.push(plaintext);
        return false;
      }
      default:
        return false;
    }
  }

  /** The fragments of a record body, within what is left of this datagram's budget. */
  private takeFragments(body: Buffer, lenient: boolean): HandshakeFragment[] {
    if (this.fragmentBudget <= 0) return [];
    let fragments: HandshakeFragment[];
    try {
      fragments = parseHandshakeFragments(body, this.fragmentBudget);
    } catch (err) {
      if (lenient) return [];
      throw err;
    }
    this.fragmentBudget -= fragments.length;
    return fragments;
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

  // ---- the handshake, message by message ------------------------------------------------------

  private driveHandshake(): void {
    for (;;) {
      if (this.hs.pendingTrust) return this.awaitTrust(this.hs.pendingTrust);
      if (this.state === 'wait_server_hello') {
        const seq = this.reassembler.findComplete([HandshakeType.server_hello, HandshakeType.hello_verify_request]);
        if (seq === null) return;
        this.reassembler.restartAt(seq);
      } else if (!this.isHandshaking()) {
        return;
      }
      const message = this.reassembler.takeNext();
      if (!message) return;
      if (this.hs.handle(message)) return this.onConnected();
      if (this.isClosed()) return;
    }
  }

  /** Resumes the handshake once OpenSSL's verdict on the chain is in (or fails with it). */
  private awaitTrust(pending: Promise<DtlsError | null>): void {
    if (this.awaitingTrust) return;
    this.awaitingTrust = true;
    void pending.then((err) => {
      this.awaitingTrust = false;
      if (this.hs.pendingTrust === pending) this.hs.pendingTrust = null;
      if (this.isClosed()) return;
      if (err) return this.fail(err);
      try {
        this.driveHandshake();
      } catch (e) {
        this.fail(e instanceof DtlsError ? e : new DtlsError('PROTOCOL', `internal error while processing a DTLS record: ${(e as Error)?.message}`, { sendAlert: AlertDescription.internal_error, cause: e }));
      }
    });
  }

  private onConnected(): void {
    this.state = 'connected';
    this.clearTimers();
    const settle = this.settle;
    this.settle = null;
    settle?.resolve();
    const early = this.earlyData;
    this.earlyData = [];
    // After the caller's `await` has attached its 'message' listener.
    if (early.length) setImmediate(() => { for (const d of early) if (this.isConnected()) this.deliver(d); });
  }
}

function hintFor(description: number): string {
  switch (description) {
    case AlertDescription.handshake_failure: return ' (the server accepts none of our cipher suites, groups or signature algorithms, or wants a client certificate)';
    case AlertDescription.bad_certificate: return ' (the server refused our (empty) client certificate)';
    case AlertDescription.decrypt_error: case AlertDescription.bad_record_mac: return ' (the server could not verify our messages)';
    default: return '';
  }
}
