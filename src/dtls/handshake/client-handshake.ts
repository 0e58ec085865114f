// The client side of the DTLS 1.2 handshake, message by message (RFC 6347 4.2.4):
//
//   flight 1  ClientHello                       ->
//   flight 2                                    <-  HelloVerifyRequest (cookie)
//   flight 3  ClientHello + cookie              ->
//   flight 4                                    <-  ServerHello, Certificate, ServerKeyExchange,
//                                                   [CertificateRequest], ServerHelloDone
//   flight 5  [Certificate], ClientKeyExchange, [CertificateVerify], ChangeCipherSpec, Finished  ->
//   flight 6                                    <-  ChangeCipherSpec, Finished
//
// The session (session.ts) owns the records and hands whole messages here in order; this file
// keeps the transcript and the keys, checks each message, and starts our next flight. Nothing
// reaches application data before the certificate chain, the host name, the ServerKeyExchange
// signature and the server's Finished were all verified. The chain and the host name are
// OpenSSL's decision, as for node:tls (src/dtls/trust/); the rest is checked here.
import { randomBytes, timingSafeEqual, X509Certificate, KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { DtlsError, protocolError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { DTLS_1_2 } from '../protocol/record';
import { HandshakeMessage, HandshakeType, encodeHandshakeMessage } from '../protocol/handshake';
import {
  ExtensionType, extendedMasterSecretExtension, pointFormatsExtension, renegotiationInfoExtension,
  serverNameExtension, signatureAlgorithmsExtension, supportedGroupsExtension, Extension,
} from '../protocol/extensions';
import { CONNECTION_ID_EXTENSION, connectionIdExtension, parseConnectionIdExtension } from '../protocol/connection-id';
import {
  encodeClientHello, encodeClientKeyExchange, type CertificateRequest,
  parseCertificate, parseCertificateRequest, parseHelloVerifyRequest, parseServerHello, parseServerKeyExchange,
} from '../protocol/messages';
import { RecordLayer } from '../record-layer';
import { CIPHER_SUITES, CipherSuite, IMPLICIT_IV_LENGTH, suiteById } from '../crypto/ciphersuites';
import { SUPPORTED_GROUPS, createEphemeralKey, type EphemeralKey } from '../crypto/key-exchange';
import { SIGNATURE_SCHEMES, schemeById, verifySignature } from '../crypto/signature';
import { keyBlock, masterSecret, transcriptHash, verifyData } from '../crypto/prf';
import { parseServerChain, serverPublicKey } from '../crypto/certificates';
import { checkServerCertificate } from '../trust/server-certificate';
import { FlightItem, FlightSender } from './flight';
import { answerCertificateRequest, certificateVerifyBody, type ClientCredentials } from './client-auth';
import { ReceivedMessage } from './reassembler';
import { offeredSessionId, resumes, type ResumableSession } from './resumption';

export interface SessionOptions {
  /** Host name or IP address the server certificate must name. */
  identity: string;
  /** The user's CA bundle (PEM), given to OpenSSL as node:tls's `ca`. */
  ca: string;
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
  /** Our certificate chain and key, sent when the server asks for a certificate (client-auth.ts). */
  clientCredentials?: ClientCredentials;
  /** An earlier session with this server to resume (handshake/resumption.ts). */
  resume?: ResumableSession;
}

export type SessionState = 'idle' | 'wait_server_hello' | 'wait_server_hello_done' | 'wait_change_cipher_spec' | 'wait_finished' | 'connected' | 'closed';

/** What the handshake needs from its session. */
export interface HandshakeContext {
  state: SessionState;
  readonly records: RecordLayer;
  readonly flight: FlightSender;
}

export class ClientHandshake {
  readonly clientRandom = randomBytes(32);
  cipherSuite: CipherSuite | null = null;
  /** The server certificate chain (leaf first), once received (verified unless verify is off). */
  peerCertificates: X509Certificate[] = [];
  /** Whether the extended master secret (RFC 7627) was negotiated. */
  extendedMasterSecret = false;
  /** Whether a HelloVerifyRequest cookie was received (flight 3 instead of 1). */
  get hasCookie(): boolean { return this.cookie.length > 0; }
  /** The server resumed the offered session (abbreviated handshake). */
  resumed = false;
  /** Abbreviated handshake: our last flight, sent again when the server repeats its Finished. */
  finalFlight: FlightItem[] | null = null;
  /** What a later handshake may resume, once this one is complete (undefined: the server gave no session id). */
  get resumable(): ResumableSession | undefined {
    const suite = this.cipherSuite;
    if (!suite || this.sessionId.length === 0 || this.master.length === 0) return undefined;
    return { sessionId: this.sessionId, masterSecret: this.master, cipherSuite: suite.id, extendedMasterSecret: this.extendedMasterSecret, identity: this.options.identity };
  }

  private serverRandom: Buffer = Buffer.alloc(0);
  private cookie: Buffer = Buffer.alloc(0);
  private helloVerifyCount = 0;
  private nextSendSeq = 0;
  private transcript: Buffer[] = [];
  private serverKey: KeyObject | null = null;
  private certificateRequest: CertificateRequest | null = null;
  private ephemeralGroup = 0;
  private serverEphemeral: Buffer = Buffer.alloc(0);
  /**
   * Our ECDHE key for the group we offer first, made right after the ClientHello went out: it
   * depends on nothing the server sends, so it is made while the server works on its flight
   * instead of between its flight and ours. Used for this handshake only, if the server picks that group.
   */
  private preparedKey: { group: number; key: EphemeralKey } | null = null;
  private expectedServerFinished: Buffer = Buffer.alloc(0);
  private sessionId: Buffer = Buffer.alloc(0);
  private master: Buffer = Buffer.alloc(0);
  /** In flight 4, which message types may come next. */
  private expect: number[] = [];
  /**
   * While OpenSSL verifies the chain (src/dtls/trust/): resolves to the failure, or null. The
   * session hands us no further message until it settles, so nothing after the Certificate is
   * acted on (and no flight 5 is sent) before the chain and the host name were verified.
   */
  pendingTrust: Promise<DtlsError | null> | null = null;

  constructor(private readonly options: SessionOptions, private readonly ctx: HandshakeContext) {}

  private nextMessage(type: HandshakeType, body: Buffer): HandshakeMessage {
    return { type, messageSeq: this.nextSendSeq++, body };
  }

  sendClientHello(): void {
    const extensions: Extension[] = [];
    const sni = this.options.identity;
    if (sni && isIP(sni) === 0) extensions.push(serverNameExtension(sni)); // RFC 6066: never an IP
    extensions.push(
      supportedGroupsExtension(SUPPORTED_GROUPS),
      pointFormatsExtension(),
      signatureAlgorithmsExtension(SIGNATURE_SCHEMES.map((s) => s.id)),
      extendedMasterSecretExtension(),
      renegotiationInfoExtension(),
      connectionIdExtension(),
    );
    const body = encodeClientHello({
      random: this.clientRandom,
      sessionId: offeredSessionId(this.options.resume, this.options.identity),
      cookie: this.cookie,
      cipherSuites: CIPHER_SUITES.map((s) => s.id),
      extensions,
    });
    const message = this.nextMessage(HandshakeType.client_hello, body);
    // The transcript starts again with the ClientHello that carries the cookie (RFC 6347 4.2.6).
    this.transcript = [encodeHandshakeMessage(message)];
    this.ctx.flight.start([{ kind: 'handshake', epoch: 0, message }]);
    // A resumed session needs no key exchange: only a full handshake prepares one.
    if (!this.preparedKey && !this.options.resume) this.preparedKey = { group: SUPPORTED_GROUPS[0], key: createEphemeralKey(SUPPORTED_GROUPS[0]) };
  }

  /** Handles one whole server message, in order. Returns true once the server's Finished verified. */
  handle(m: ReceivedMessage): boolean {
    const state = this.ctx.state;
    const unexpected = (why = '') => protocolError(`unexpected ${HandshakeType[m.type] ?? `handshake type ${m.type}`} in state ${state}${why}`, AlertDescription.unexpected_message);
    if (state === 'wait_server_hello') {
      if (m.type === HandshakeType.hello_verify_request) { this.onHelloVerifyRequest(m); return false; }
      if (m.type === HandshakeType.server_hello) { this.onServerHello(m); return false; }
      throw unexpected();
    }
    if (state === 'wait_server_hello_done') {
      switch (m.type) {
        case HandshakeType.certificate: this.onCertificate(m); return false;
        case HandshakeType.server_key_exchange: this.onServerKeyExchange(m); return false;
        case HandshakeType.certificate_request: this.onCertificateRequest(m); return false;
        case HandshakeType.server_hello_done: this.onServerHelloDone(m); return false;
        default: throw unexpected();
      }
    }
    // After our flight 5 the server's next record must be its ChangeCipherSpec; a handshake
    // message before it (even a Finished) is unprotected and out of place (RFC 5246 7.4.9).
    if (state === 'wait_change_cipher_spec') throw unexpected(' (before the server\'s ChangeCipherSpec)');
    if (state === 'wait_finished' && m.type === HandshakeType.finished) {
      if (m.epoch !== 1) throw unexpected(' (not protected by the new keys)');
      this.onFinished(m);
      return true;
    }
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
    const allowed = [ExtensionType.server_name, ExtensionType.ec_point_formats, ExtensionType.extended_master_secret, ExtensionType.renegotiation_info, CONNECTION_ID_EXTENSION];
    for (const ext of hello.extensions) {
      if (!allowed.includes(ext.type)) throw protocolError(`the server sent extension ${ext.type}, which we did not offer`, AlertDescription.unsupported_extension);
      if (ext.type === ExtensionType.renegotiation_info && !(ext.data.length === 1 && ext.data[0] === 0)) {
        throw protocolError('renegotiation_info is not empty in an initial handshake', AlertDescription.handshake_failure);
      }
    }
    // A ServerHello without renegotiation_info comes from a server that does not do RFC 5746
    // secure renegotiation. We refuse it, as OpenSSL 3's client does by default ("unsafe legacy
    // renegotiation disabled", handshake_failure; checked against `openssl s_client -dtls1_2`
    // in test/dtls/hostile-server.test.js): such a server could have spliced an attacker's
    // session in front of ours by renegotiating it with our handshake (RFC 5746 1). We never
    // renegotiate ourselves, but only the server's answer shows it is not a legacy server.
    // Californium (ThingsBoard), OpenSSL, GnuTLS and mbed TLS servers all send it.
    if (!hello.extensions.some((e) => e.type === ExtensionType.renegotiation_info)) {
      throw protocolError('the server did not send renegotiation_info: it does not support secure renegotiation (RFC 5746), which we require as OpenSSL does; update the server\'s DTLS library', AlertDescription.handshake_failure);
    }
    this.extendedMasterSecret = hello.extensions.some((e) => e.type === ExtensionType.extended_master_secret);
    // RFC 9146 3: the server's CID goes into every record we protect from our Finished on; a
    // server that does not echo the extension (or sends an empty CID) gets RFC 6347 records.
    const cidExtension = hello.extensions.find((e) => e.type === CONNECTION_ID_EXTENSION);
    const cid = cidExtension ? parseConnectionIdExtension(cidExtension.data) : null;
    this.ctx.records.writeCid = cid && cid.length > 0 ? cid : null;
    this.serverRandom = Buffer.from(hello.random);
    this.cipherSuite = suite;
    this.sessionId = Buffer.from(hello.sessionId);
    this.transcript.push(encodeHandshakeMessage(m));
    const resume = this.options.resume;
    if (resumes(resume, offeredSessionId(resume, this.options.identity), hello, this.extendedMasterSecret)) {
      this.startAbbreviated(resume.masterSecret);
      return;
    }
    this.ctx.state = 'wait_server_hello_done';
    // Our ClientHello stays armed until flight 4 is complete: repeating it makes the server
    // repeat its flight when fragments of it were lost (RFC 6347 4.2.4).
    this.expect = [HandshakeType.certificate];
  }

  private checkOrder(m: HandshakeMessage): void {
    if (!this.expect.includes(m.type)) {
      throw protocolError(`${HandshakeType[m.type]} arrived out of order (expected ${this.expect.map((t) => HandshakeType[t]).join(' or ')})`, AlertDescription.unexpected_message);
    }
  }

  private onCertificate(m: HandshakeMessage): void {
    this.checkOrder(m);
    const chain = parseServerChain(parseCertificate(m.body));
    const suite = this.cipherSuite as CipherSuite;
    // node:crypto parses a certificate's key lazily: an unsupported or broken key surfaces here.
    this.serverKey = certificateStep('has a public key that cannot be read', () => serverPublicKey(chain[0], suite.auth));
    if (this.options.verify) {
      this.pendingTrust = checkServerCertificate(chain, {
        ca: this.options.ca, identity: this.options.identity, allowPartialChain: this.options.allowPartialChain, leafKeyType: this.serverKey.asymmetricKeyType,
      });
    }
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
    this.certificateRequest = parseCertificateRequest(m.body);
    this.transcript.push(encodeHandshakeMessage(m));
    this.expect = [HandshakeType.server_hello_done];
  }

  private onServerHelloDone(m: HandshakeMessage): void {
    this.checkOrder(m);
    if (m.body.length !== 0) throw protocolError('ServerHelloDone is not empty');
    this.transcript.push(encodeHandshakeMessage(m));
    const suite = this.cipherSuite as CipherSuite;

    const items: FlightItem[] = [];
    // Without a client certificate: an empty chain and no CertificateVerify (ThingsBoard "wants" one only).
    const clientAuth = this.certificateRequest ? answerCertificateRequest(this.certificateRequest, this.options.clientCredentials) : undefined;
    if (clientAuth) {
      const cert = this.nextMessage(HandshakeType.certificate, clientAuth.certificateBody);
      this.transcript.push(encodeHandshakeMessage(cert));
      items.push({ kind: 'handshake', epoch: 0, message: cert });
    }
    const prepared = this.preparedKey;
    this.preparedKey = null;
    const ephemeral = prepared && prepared.group === this.ephemeralGroup ? prepared.key : createEphemeralKey(this.ephemeralGroup);
    const preMaster = ephemeral.deriveSecret(this.serverEphemeral);
    const cke = this.nextMessage(HandshakeType.client_key_exchange, encodeClientKeyExchange(ephemeral.publicKey));
    this.transcript.push(encodeHandshakeMessage(cke));
    items.push({ kind: 'handshake', epoch: 0, message: cke });

    const master = masterSecret(suite.prfHash, preMaster, {
      extended: this.extendedMasterSecret,
      sessionHash: transcriptHash(suite.prfHash, this.transcript),
      clientRandom: this.clientRandom,
      serverRandom: this.serverRandom,
    });
    if (clientAuth?.scheme && this.options.clientCredentials) {
      // Signs every handshake message so far, ClientKeyExchange included; the extended master
      // secret's session hash above ends at ClientKeyExchange too (RFC 7627 3).
      const verify = this.nextMessage(HandshakeType.certificate_verify, certificateVerifyBody(clientAuth.scheme, this.options.clientCredentials.key, Buffer.concat(this.transcript)));
      this.transcript.push(encodeHandshakeMessage(verify));
      items.push({ kind: 'handshake', epoch: 0, message: verify });
    }
    this.master = master;
    this.setKeys(master);

    items.push({ kind: 'ccs', epoch: 0 });
    const finished = this.nextMessage(HandshakeType.finished, verifyData(suite.prfHash, master, 'client finished', transcriptHash(suite.prfHash, this.transcript)));
    this.transcript.push(encodeHandshakeMessage(finished));
    items.push({ kind: 'handshake', epoch: 1, message: finished });
    this.expectedServerFinished = verifyData(suite.prfHash, master, 'server finished', transcriptHash(suite.prfHash, this.transcript));

    this.ctx.state = 'wait_change_cipher_spec';
    this.ctx.flight.start(items);
  }

  private onFinished(m: HandshakeMessage): void {
    if (m.body.length !== 12 || !timingSafeEqual(m.body, this.expectedServerFinished)) {
      throw new DtlsError('BAD_FINISHED', `the server's Finished message does not match the handshake: it was tampered with or the server derived other keys`, { sendAlert: AlertDescription.decrypt_error });
    }
    if (this.resumed) this.sendAbbreviatedFinished(m);
  }

  private setKeys(master: Buffer): void {
    const suite = this.cipherSuite as CipherSuite;
    const keys = keyBlock(suite.prfHash, master, this.clientRandom, this.serverRandom, suite.keyLength, IMPLICIT_IV_LENGTH);
    this.ctx.records.setWriteKeys(1, { suite, key: keys.clientKey, salt: keys.clientIv });
    this.ctx.records.setReadKeys(1, { suite, key: keys.serverKey, salt: keys.serverIv });
  }

  /** The server resumed our session: its ChangeCipherSpec and Finished come next (resumption.ts). */
  private startAbbreviated(master: Buffer): void {
    const suite = this.cipherSuite as CipherSuite;
    this.resumed = true;
    this.master = master;
    this.setKeys(master);
    this.expectedServerFinished = verifyData(suite.prfHash, master, 'server finished', transcriptHash(suite.prfHash, this.transcript));
    // Our ClientHello stays armed until the server's Finished arrives (its flight may be lost).
    this.ctx.state = 'wait_change_cipher_spec';
  }

  /** Abbreviated handshake, the server's Finished verified: our ChangeCipherSpec and Finished. */
  private sendAbbreviatedFinished(serverFinished: HandshakeMessage): void {
    const suite = this.cipherSuite as CipherSuite;
    this.transcript.push(encodeHandshakeMessage(serverFinished));
    const finished = this.nextMessage(HandshakeType.finished, verifyData(suite.prfHash, this.master, 'client finished', transcriptHash(suite.prfHash, this.transcript)));
    this.transcript.push(encodeHandshakeMessage(finished));
    this.finalFlight = [{ kind: 'ccs', epoch: 0 }, { kind: 'handshake', epoch: 1, message: finished }];
    this.ctx.flight.start(this.finalFlight);
  }
}

/**
 * Runs a certificate check; anything but a DtlsError it throws (node:crypto on a certificate it
 * parsed but cannot use) becomes BAD_CERTIFICATE, so a hostile chain never ends as an internal error.
 */
function certificateStep<T>(what: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof DtlsError) throw err;
    throw new DtlsError('BAD_CERTIFICATE', `the server's certificate ${what}: ${(err as Error)?.message ?? err}`, { sendAlert: AlertDescription.bad_certificate, cause: err });
  }
}
