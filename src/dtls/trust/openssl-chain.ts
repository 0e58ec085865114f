// The trust decision on a DTLS server's certificate chain, taken by OpenSSL through node:tls, so a
// CoAPS certificate is trusted exactly when Node's `tls` would trust it (MQTTS, HTTPS).
//
// How: a TLS 1.2 client (tls.connect, the user's CA bundle as `ca`, allowPartialTrustChain when
// asked) runs over an in-memory stream. To its ClientHello we answer, in one flight, a ServerHello
// (a suite that fits the leaf's key type, an empty renegotiation_info as RFC 5746 requires), a
// Certificate holding exactly the chain the DTLS server sent, and a ServerHelloDone. OpenSSL's
// client verifies the chain (X509_verify_cert, the same call, flags and security level as for a
// real TLS connection) as soon as the Certificate is processed; it then expects a
// ServerKeyExchange, so the ServerHelloDone makes it answer with an unexpected_message alert.
// That alert is the deterministic signal that the Certificate was processed in full: at that
// moment the handle's verifyError() (what Node's own onConnectSecure reads) holds the verdict.
// Any other alert (e.g. decode_error for a chain OpenSSL cannot parse) means the chain never
// reached verification and is a refusal, so nothing here can fail open. No private key is needed:
// the client never gets to the point where the server proves it holds one (the DTLS handshake does
// that, with the ServerKeyExchange signature and the Finished).
import { randomBytes, X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';

interface VerifyHandle { verifyError(): (Error & { code?: string }) | null }

export type ChainVerdict = { ok: true } | { ok: false; code: string; message: string };

const TLS_1_2 = 0x0303;
const MAX_RECORD = 16384; // TLS plaintext record limit (RFC 5246 6.2.1)
const ECDHE_ECDSA_AES128_GCM = 0xc02b;
const ECDHE_RSA_AES128_GCM = 0xc02f;
/** A chain larger than this is refused before OpenSSL sees it (OpenSSL's client limit is 100 KB). */
export const MAX_CHAIN_BYTES = 100 * 1024;
const WATCHDOG_MS = 10000;

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(n, 0, 3);
  return b;
}

function handshake(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), u24(body.length), body]);
}

/** Handshake bytes as TLS records of at most 16 KB each (a large chain spans several). */
function records(payload: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < payload.length; at += MAX_RECORD) {
    const part = payload.subarray(at, at + MAX_RECORD);
    const header = Buffer.alloc(5);
    header[0] = 22; // handshake
    header.writeUInt16BE(TLS_1_2, 1);
    header.writeUInt16BE(part.length, 3);
    out.push(header, part);
  }
  return Buffer.concat(out);
}

function serverFlight(chainDer: Buffer[], suite: number): Buffer {
  const hello = Buffer.concat([
    Buffer.from([TLS_1_2 >> 8, TLS_1_2 & 0xff]), randomBytes(32),
    Buffer.from([0]), // no session id
    Buffer.from([suite >> 8, suite & 0xff, 0]), // suite, no compression
    Buffer.from([0, 5, 0xff, 0x01, 0, 1, 0]), // extensions: renegotiation_info, empty (RFC 5746)
  ]);
  const list = Buffer.concat(chainDer.flatMap((der) => [u24(der.length), der]));
  return records(Buffer.concat([
    handshake(2, hello),
    handshake(11, Buffer.concat([u24(list.length), list])),
    handshake(14, Buffer.alloc(0)),
  ]));
}

const contexts = new Map<string, tls.SecureContext>();

/** One secure context per CA bundle and partial-chain setting (the last few kept: parsing a bundle is not free). */
function contextFor(ca: string, allowPartialChain: boolean): tls.SecureContext {
  const key = `${allowPartialChain ? 1 : 0}${ca}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca, ...(allowPartialChain ? { allowPartialTrustChain: true } : {}) } as tls.SecureContextOptions);
    if (contexts.size >= 4) contexts.delete(contexts.keys().next().value as string);
    contexts.set(key, ctx);
  }
  return ctx;
}

/** Checks that `ca` can be used as a trust store (throws OpenSSL's error otherwise). */
export function checkCaBundle(ca: string): void {
  contextFor(ca, false);
}

export interface ChainInput {
  /** The chain as the server sent it, leaf first, DER. */
  chainDer: Buffer[];
  /** The user's CA bundle (PEM), exactly as Node's `tls` would get it. */
  ca: string;
  allowPartialChain?: boolean;
  /** The leaf key's type (KeyObject.asymmetricKeyType), when the caller already knows it. */
  leafKeyType?: string;
}

let openVerifiers = 0;

/**
 * TLS clients of the verifier not yet closed. (Their TLSWRAP handles are released only when the
 * garbage collector gets to them, so async_hooks cannot tell a leak; this count can.)
 */
export function openVerifierCount(): number {
  return openVerifiers;
}

/** OpenSSL's verdict on the chain: X509_verify_cert's result as node:tls reports it. */
export function verifyChainWithOpenSSL(input: ChainInput): Promise<ChainVerdict> {
  const { chainDer } = input;
  if (chainDer.length === 0) return Promise.resolve({ ok: false, code: 'NO_CERTIFICATE', message: 'the server sent no certificate' });
  const size = chainDer.reduce((n, d) => n + d.length + 3, 0);
  if (size > MAX_CHAIN_BYTES) return Promise.resolve({ ok: false, code: 'CHAIN_TOO_LARGE', message: `the server's chain is ${size} bytes` });
  let suite: number;
  try {
    const type = input.leafKeyType ?? new X509Certificate(chainDer[0]).publicKey.asymmetricKeyType;
    suite = type === 'rsa' || type === 'rsa-pss' ? ECDHE_RSA_AES128_GCM : ECDHE_ECDSA_AES128_GCM;
  } catch (err) {
    return Promise.resolve({ ok: false, code: 'UNREADABLE_CERTIFICATE', message: (err as Error).message });
  }
  const secureContext = contextFor(input.ca, input.allowPartialChain === true);

  return new Promise<ChainVerdict>((resolve) => {
    let settled = false;
    let client: tls.TLSSocket | null = null;
    const finish = (verdict: ChainVerdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      resolve(verdict);
      setImmediate(() => client?.destroy());
    };
    // Not the trigger (that is OpenSSL's error above): a guard that fails closed and frees the
    // TLS client should OpenSSL ever wait for more input instead of answering.
    const watchdog = setTimeout(() => finish({ ok: false, code: 'TLS_VERIFIER', message: 'OpenSSL gave no verdict on the chain' }), WATCHDOG_MS);
    watchdog.unref();
    let answered = false;
    const peer = new Duplex({
      read() { /* pushed below */ },
      write(_chunk: Buffer, _enc, callback) {
        callback();
        if (answered) return; // the alert the ServerHelloDone provokes
        answered = true; // the ClientHello: answer with the whole server flight
        peer.push(serverFlight(chainDer, suite));
      },
    });
    client = tls.connect({
      socket: peer, secureContext, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const socket = client as unknown as { ssl?: VerifyHandle | null };
    client.on('error', (err: Error & { code?: string }) => {
      // ServerHelloDone where a ServerKeyExchange must come: the Certificate was processed in
      // full. The handle is still open while 'error' is emitted ('close' follows); verifyError()
      // is Node's own reading of X509_verify_cert's result. After any other error it must not be
      // called: no verdict exists (OK by default), and on Node 20 the call can even crash.
      if (err.code !== 'ERR_SSL_UNEXPECTED_MESSAGE') return finish({ ok: false, code: 'TLS_VERIFIER', message: `OpenSSL refused the certificate message: ${err.message}` });
      const ssl = socket.ssl;
      if (!ssl) return finish({ ok: false, code: 'TLS_VERIFIER', message: 'the TLS handle closed before the verdict was read' });
      const v = ssl.verifyError();
      finish(v ? { ok: false, code: String(v.code ?? 'UNSPECIFIED'), message: v.message } : { ok: true });
    });
    openVerifiers++;
    client.on('close', () => {
      openVerifiers--;
      finish({ ok: false, code: 'TLS_VERIFIER', message: 'the TLS verifier closed without a verdict' });
    });
  });
}
