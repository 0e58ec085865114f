'use strict';
// The smallest DTLS 1.2 server that holds its own keys, for hostile-peer tests: one cipher suite
// (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), P-256, an ECDSA certificate made by the test. It
// answers any client (our DtlsSession or `openssl s_client -dtls1_2`) with flights valid for
// that client's randoms, and lets a test script deviations a relay cannot make: a correctly
// encrypted Finished with wrong verify_data, records inserted before or after the
// ChangeCipherSpec, a ServerHello without renegotiation_info, byte-level mutations of any
// message of either flight (fuzzing), spoofed records after the handshake.
//
// It reuses our own compiled protocol and crypto modules (nodes/lib/dtls) for framing, PRF and
// record protection; the server side (parsing ClientHello, signing ServerKeyExchange) is here.
//
//   const engine = new HostileDtlsEngine({ chain: [leafDer], key: leafKeyObject, script });
//   const replies = engine.receive(datagramFromClient);   // datagrams to send back
//
//   const server = await startHostileServer({ chain, key, script }); // the same over UDP
//   server.port; server.engine (the latest client's); await server.close();
//
// script (all optional):
//   helloVerify: true            send a HelloVerifyRequest first
//   renegotiationInfo: false     omit renegotiation_info from the ServerHello
//   certificateRequest: false    no CertificateRequest
//   flight4(items, engine)       returns the items of flight 4 (handshake items: { kind:
//                                'handshake', type, body, epoch: 0 }); the transcript follows
//                                what is returned, so a consistent deviation still verifies
//   flight6(items, engine)       the same for flight 6 ({ kind: 'ccs' } and the Finished);
//                                { kind: 'record', type, epoch, body } is sealed as given,
//                                { kind: 'raw', bytes } goes out untouched
//   finishedVerifyData(vd)       returns the server's verify_data to send
//   datagrams(stage, list, engine) byte-level hook on each flight's datagrams ('flight2' |
//                                'flight4' | 'flight6'), e.g. to fuzz
// A client that sends a certificate chain: engine.clientChain (DER, leaf first), and after its
// CertificateVerify engine.clientVerified (the signature checked over the transcript with the
// leaf's key, ECDSA / RSA PKCS#1 / RSA-PSS as the scheme says).
const crypto = require('node:crypto');
const dgram = require('node:dgram');
const { EventEmitter } = require('node:events');
const lib = '../../nodes/lib/dtls';
const { ByteReader, u16, u8, vec16, vec24, vec8 } = require(`${lib}/protocol/bytes`);
const { parseDatagram, ContentType } = require(`${lib}/protocol/record`);
const { encodeHandshakeMessage, fragmentHandshakeMessage, parseHandshakeFragments, HANDSHAKE_HEADER_LENGTH } = require(`${lib}/protocol/handshake`);
const { encodeExtensions, parseExtensions } = require(`${lib}/protocol/extensions`);
const { HandshakeReassembler } = require(`${lib}/handshake/reassembler`);
const { RecordLayer } = require(`${lib}/record-layer`);
const { suiteById, IMPLICIT_IV_LENGTH } = require(`${lib}/crypto/ciphersuites`);
const { keyBlock, masterSecret, transcriptHash, verifyData } = require(`${lib}/crypto/prf`);

const SUITE = suiteById(0xc02b);
const HT = { client_hello: 1, server_hello: 2, hello_verify_request: 3, certificate: 11, server_key_exchange: 12, certificate_request: 13, server_hello_done: 14, certificate_verify: 15, client_key_exchange: 16, finished: 20 };
const VERIFY_SCHEMES = {
  0x0403: ['sha256', 'ecdsa'], 0x0503: ['sha384', 'ecdsa'], 0x0603: ['sha512', 'ecdsa'],
  0x0401: ['sha256', 'pkcs1'], 0x0501: ['sha384', 'pkcs1'], 0x0601: ['sha512', 'pkcs1'],
  0x0804: ['sha256', 'pss'], 0x0805: ['sha384', 'pss'], 0x0806: ['sha512', 'pss'],
};

/** Checks a client's CertificateVerify body against `signed` with the leaf's public key. */
function checkCertificateVerify(body, leafDer, signed) {
  const r = new ByteReader(body, 'CertificateVerify');
  const scheme = VERIFY_SCHEMES[r.u16()];
  const signature = r.vec16();
  r.end();
  if (!scheme) return false;
  const key = new crypto.X509Certificate(leafDer).publicKey;
  const [hash, kind] = scheme;
  if (kind === 'ecdsa') return crypto.verify(hash, signed, { key, dsaEncoding: 'der' }, signature);
  if (kind === 'pss') return crypto.verify(hash, signed, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  return crypto.verify(hash, signed, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, signature);
}
const EXT = { ec_point_formats: 11, extended_master_secret: 23, renegotiation_info: 0xff01 };
const P256 = 23;
const ECDSA_SHA256 = 0x0403;

function parseClientHello(body) {
  const r = new ByteReader(body, 'ClientHello');
  const version = r.u16();
  const random = Buffer.from(r.bytes(32));
  r.vec8(); // session id
  const cookie = Buffer.from(r.vec8());
  const suitesRaw = r.vec16();
  const suites = [];
  for (let i = 0; i + 1 < suitesRaw.length; i += 2) suites.push(suitesRaw.readUInt16BE(i));
  r.vec8(); // compression methods
  const extensions = r.remaining > 0 ? parseExtensions(r.vec16()) : [];
  return { version, random, cookie, suites, extensions };
}

class HostileDtlsEngine extends EventEmitter {
  constructor({ chain, key, mtu = 1200, script = {} }) {
    super();
    this.chain = chain;
    this.key = key;
    this.mtu = mtu;
    this.script = script;
    this.records = new RecordLayer();
    this.reassembler = new HandshakeReassembler();
    this.serverRandom = crypto.randomBytes(32);
    this.cookie = crypto.randomBytes(16);
    this.nextSeq = 0;
    this.transcript = [];
    this.lastFlight = null; // { stage, items }
    this.established = false;
    /** Application data received from the client, decrypted. */
    this.appData = [];
    /** Alerts received from the client: { level, description, epoch }. */
    this.alerts = [];
    this.clientFinishedOk = null;
  }

  /** Handles one datagram from the client; returns the datagrams to send back. */
  receive(datagram) {
    const out = [];
    let resend = false;
    for (const record of parseDatagram(datagram)) {
      let body = record.body;
      if (record.epoch > 0) {
        const opened = this.records.open(record);
        if (!Buffer.isBuffer(opened)) continue;
        body = opened;
      }
      if (record.type === ContentType.alert && body.length === 2) {
        this.alerts.push({ level: body[0], description: body[1], epoch: record.epoch });
        this.emit('alert', this.alerts[this.alerts.length - 1]);
      } else if (record.type === ContentType.application_data && record.epoch > 0) {
        this.appData.push(Buffer.from(body));
        this.emit('data', Buffer.from(body));
      } else if (record.type === ContentType.handshake) {
        for (const f of parseHandshakeFragments(body)) {
          if (this.reassembler.add(f, record.epoch) === 'old') resend = true;
        }
        // Message by message: the ClientKeyExchange gives the keys for the next record.
        let message;
        while ((message = this.reassembler.takeNext())) out.push(...this.onMessage(message));
      }
    }
    if (resend && out.length === 0 && this.lastFlight) out.push(...this.pack(this.lastFlight.stage, this.lastFlight.items));
    return out;
  }

  onMessage(m) {
    switch (m.type) {
      case HT.client_hello: return this.onClientHello(m);
      case HT.certificate: {
        const list = new ByteReader(new ByteReader(m.body, 'Certificate').vec24(), 'Certificate list');
        this.clientChain = [];
        while (list.remaining > 0) this.clientChain.push(Buffer.from(list.vec24()));
        this.transcript.push(encodeHandshakeMessage(m));
        return [];
      }
      case HT.certificate_verify: {
        const signed = Buffer.concat(this.transcript);
        try { this.clientVerified = !!this.clientChain?.length && checkCertificateVerify(m.body, this.clientChain[0], signed); } catch { this.clientVerified = false; }
        this.transcript.push(encodeHandshakeMessage(m));
        return [];
      }
      case HT.client_key_exchange: return this.onClientKeyExchange(m);
      case HT.finished: return this.onClientFinished(m);
      default: return [];
    }
  }

  nextMessage(type, body) { return { kind: 'handshake', type, body, epoch: 0 }; }

  onClientHello(m) {
    const hello = parseClientHello(m.body);
    this.clientHello = hello;
    this.clientRandom = hello.random;
    this.nextSeq = m.messageSeq; // the server's seq follows the client's (as OpenSSL does)
    if (this.script.helloVerify && !hello.cookie.equals(this.cookie)) {
      const hvr = [this.nextMessage(HT.hello_verify_request, Buffer.concat([u16(0xfefd), vec8(this.cookie)]))];
      this.assignSeq(hvr);
      this.nextSeq = m.messageSeq + 1;
      return this.sendFlight('flight2', hvr, { transcript: false });
    }
    if (!hello.suites.includes(SUITE.id)) throw new Error('hostile server: the client did not offer ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
    const has = (type) => hello.extensions.some((e) => e.type === type);
    this.ems = has(EXT.extended_master_secret);
    const offeredRi = has(EXT.renegotiation_info) || hello.suites.includes(0x00ff);
    this.transcript = [encodeHandshakeMessage(m)];

    const exts = [];
    if (offeredRi && this.script.renegotiationInfo !== false) exts.push({ type: EXT.renegotiation_info, data: vec8(Buffer.alloc(0)) });
    if (this.ems) exts.push({ type: EXT.extended_master_secret, data: Buffer.alloc(0) });
    exts.push({ type: EXT.ec_point_formats, data: vec8(Buffer.from([0])) });
    const serverHello = Buffer.concat([u16(0xfefd), this.serverRandom, vec8(Buffer.alloc(0)), u16(SUITE.id), u8(0), encodeExtensions(exts)]);

    const certificate = vec24(Buffer.concat(this.chain.map((der) => vec24(der))));
    this.ecdh = crypto.createECDH('prime256v1');
    this.ecdh.generateKeys();
    const params = Buffer.concat([u8(3), u16(P256), vec8(this.ecdh.getPublicKey())]);
    const signature = crypto.sign('sha256', Buffer.concat([this.clientRandom, this.serverRandom, params]), { key: this.key, dsaEncoding: 'der' });
    const ske = Buffer.concat([params, u16(ECDSA_SHA256), vec16(signature)]);
    let items = [
      this.nextMessage(HT.server_hello, serverHello),
      this.nextMessage(HT.certificate, certificate),
      this.nextMessage(HT.server_key_exchange, ske),
    ];
    if (this.script.certificateRequest !== false) {
      items.push(this.nextMessage(HT.certificate_request, Buffer.concat([vec8(Buffer.from([64, 1])), vec16(Buffer.concat([u16(0x0403), u16(0x0401)])), vec16(Buffer.alloc(0))])));
    }
    items.push(this.nextMessage(HT.server_hello_done, Buffer.alloc(0)));
    this.assignSeq(items);
    if (this.script.flight4) items = this.script.flight4(items, this);
    return this.sendFlight('flight4', items);
  }

  onClientKeyExchange(m) {
    this.transcript.push(encodeHandshakeMessage(m));
    const peer = new ByteReader(m.body, 'ClientKeyExchange').vec8();
    const preMaster = this.ecdh.computeSecret(peer);
    this.master = masterSecret(SUITE.prfHash, preMaster, {
      extended: this.ems, sessionHash: transcriptHash(SUITE.prfHash, this.transcript),
      clientRandom: this.clientRandom, serverRandom: this.serverRandom,
    });
    const keys = keyBlock(SUITE.prfHash, this.master, this.clientRandom, this.serverRandom, SUITE.keyLength, IMPLICIT_IV_LENGTH);
    this.records.setReadKeys(1, { suite: SUITE, key: keys.clientKey, salt: keys.clientIv });
    this.records.setWriteKeys(1, { suite: SUITE, key: keys.serverKey, salt: keys.serverIv });
    return [];
  }

  onClientFinished(m) {
    const expected = verifyData(SUITE.prfHash, this.master, 'client finished', transcriptHash(SUITE.prfHash, this.transcript));
    this.clientFinishedOk = m.epoch === 1 && expected.equals(m.body);
    this.transcript.push(encodeHandshakeMessage(m));
    let vd = verifyData(SUITE.prfHash, this.master, 'server finished', transcriptHash(SUITE.prfHash, this.transcript));
    if (this.script.finishedVerifyData) vd = this.script.finishedVerifyData(vd, this);
    let items = [{ kind: 'ccs' }, { kind: 'handshake', type: HT.finished, body: vd, epoch: 1 }];
    this.assignSeq(items);
    if (this.script.flight6) items = this.script.flight6(items, this);
    this.established = true;
    const out = this.sendFlight('flight6', items, { transcript: false });
    this.emit('established');
    return out;
  }

  assignSeq(items) {
    for (const it of items) if (it.kind === 'handshake' && it.seq === undefined) it.seq = this.nextSeq++;
  }

  sendFlight(stage, items, { transcript = true } = {}) {
    if (transcript) for (const it of items) if (it.kind === 'handshake') this.transcript.push(encodeHandshakeMessage({ type: it.type, messageSeq: it.seq, body: it.body }));
    this.lastFlight = { stage, items };
    return this.pack(stage, items);
  }

  /** Seals and packs a flight's items into datagrams of at most `mtu` bytes. */
  pack(stage, items) {
    const datagrams = [];
    let current = [];
    let size = 0;
    const push = (rec) => {
      if (size + rec.length > this.mtu && current.length) { datagrams.push(Buffer.concat(current)); current = []; size = 0; }
      current.push(rec);
      size += rec.length;
    };
    for (const it of items) {
      if (it.kind === 'raw') push(it.bytes);
      else if (it.kind === 'ccs') push(this.records.seal(ContentType.change_cipher_spec, 0, Buffer.from([1])));
      else if (it.kind === 'record') push(this.seal(it.type, it.epoch, it.body));
      else {
        const room = this.mtu - this.records.overhead(it.epoch);
        for (const frag of fragmentHandshakeMessage({ type: it.type, messageSeq: it.seq, body: it.body }, Math.max(room, HANDSHAKE_HEADER_LENGTH + 16))) {
          push(this.records.seal(ContentType.handshake, it.epoch, frag));
        }
      }
    }
    if (current.length) datagrams.push(Buffer.concat(current));
    return this.script.datagrams ? this.script.datagrams(stage, datagrams, this) : datagrams;
  }

  /** One record, sealed with the server's keys for `epoch` (epoch 0: plaintext). */
  seal(type, epoch, body) { return this.records.seal(type, epoch, body); }

  /** An encrypted application data record for the client. */
  applicationData(data) { return this.seal(ContentType.application_data, 1, Buffer.from(data)); }
}

/** The engine over UDP on 127.0.0.1: one engine per client address (a new one per ClientHello seq 0). */
async function startHostileServer(options) {
  const socket = dgram.createSocket('udp4');
  const engines = new Map();
  const server = new EventEmitter();
  server.engine = null;
  server.errors = [];
  let lastPeer = null;
  socket.on('message', (msg, rinfo) => {
    const id = `${rinfo.address}:${rinfo.port}`;
    let engine = engines.get(id);
    if (!engine) {
      engine = new HostileDtlsEngine(options);
      engines.set(id, engine);
      server.engine = engine;
      server.emit('engine', engine);
    }
    lastPeer = rinfo;
    let replies = [];
    try { replies = engine.receive(msg); } catch (err) { server.errors.push(err); return; }
    for (const d of replies) socket.send(d, rinfo.port, rinfo.address);
  });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  server.port = socket.address().port;
  /** Sends raw bytes to the latest client (e.g. a spoofed record). */
  server.sendToClient = (bytes) => new Promise((resolve) => socket.send(bytes, lastPeer.port, lastPeer.address, resolve));
  server.close = () => new Promise((resolve) => { try { socket.close(resolve); } catch { resolve(); } });
  return server;
}

/** A P-256 CA and leaf for 127.0.0.1 / localhost, made by test/support/pki.js: { chain, key, caPem, leafPem, keyPem }. */
async function makeHostileServerPki(leafOptions = {}) {
  const { createCA, createLeaf } = require('./pki');
  const root = await createCA({ name: 'Hostile Test Root', keyType: 'ec-p256', hash: 'SHA-256' });
  const leaf = await createLeaf({ issuer: root, keyType: 'ec-p256', hash: 'SHA-256', ...leafOptions });
  const der = new crypto.X509Certificate(leaf.certPem).raw;
  return { chain: [der], key: crypto.createPrivateKey(leaf.keyPem), caPem: root.certPem, leafPem: leaf.certPem, keyPem: leaf.keyPem };
}

module.exports = { HostileDtlsEngine, startHostileServer, makeHostileServerPki, HT, SUITE };
