// src/dtls: a certificate-verified DTLS 1.2 client (RFC 6347) on node:crypto only. It imports
// nothing from Node-RED or other src/ folders.
//
// Use:
//   import { connectDtls, DtlsError } from '../dtls';
//   const conn = await connectDtls({ host: 'tb.example.com', port: 5684, ca: pemBundle });
//   conn.on('message', (plaintext: Buffer) => ...);      // one decrypted record
//   conn.on('close', (err?: DtlsError) => ...);         // session over: make a new connectDtls()
//   await conn.send(Buffer.from(coapBytes));            // one encrypted record
//   conn.write(coapBytes);                              // the same without a promise (throws when closed)
//   await conn.close();                                 // close_notify
//
// Options (DtlsConnectOptions): host, port, ca (PEM bundle: the root, and any intermediate the
// server does not send), verify (default true; false = encrypt without checking chain/dates/host,
// ServerKeyExchange signature and Finished are still checked), allowPartialChain (default false:
// the path must end at a self-signed certificate of `ca`; true: at the first `ca` certificate
// reached, like OpenSSL's X509_V_FLAG_PARTIAL_CHAIN), serverName (name the certificate
// must carry, and SNI when not an IP; an IP is never sent as SNI), handshakeTimeoutMs (default
// 60000), clientCertificate ({certPem, keyPem, passphrase}: answers a CertificateRequest with the
// chain and a CertificateVerify; handshake/client-auth.ts), initialRetransmitMs (default 1000, doubling up to maxRetransmitMs, default 10000), mtu (default 1200), signal (AbortSignal),
// resume (an earlier connection's `resumable`: offered for an abbreviated handshake, RFC 5246
// 7.3; `connection.resumed` tells whether the server took it), createSocket (tests).
//
// Errors: connectDtls rejects, and 'close' carries, a DtlsError with `code`:
//   UNKNOWN_CA (no path to a trust anchor), CERT_EXPIRED (also "not yet valid"), HOST_MISMATCH,
//   BAD_CERTIFICATE (malformed, or a path validation rule broken: CA flag, pathLen, key usage, EKU,
//   name constraints, critical extension, weak key or digest, signature: OpenSSL decides, as for
//   node:tls; src/dtls/trust/; also a leaf on a curve we did not offer or without digitalSignature),
//   BAD_SIGNATURE (ServerKeyExchange), BAD_FINISHED,
//   CLIENT_CERTIFICATE (our client certificate/key unusable, or nothing the server accepts),
//   HANDSHAKE_TIMEOUT, ALERT_RECEIVED (`alert` = description name, e.g. 'handshake_failure';
//   also 'close_notify' when the server closes), PROTOCOL (malformed / unexpected messages),
//   NETWORK (DNS, socket errors, ICMP port unreachable: nothing listens), CLOSED (aborted, or
//   send() after the session ended).
// Verification failures send the matching fatal alert and no application data is ever sent
// before the whole handshake (chain, host, signature, Finished) has been verified.
//
// The `coap` package runs over a DtlsConnection through src/transports/coap/dtls-dgram-adapter.ts.
//
// Supported: ECDHE_ECDSA with AES-128/256-GCM, AES-128/256-CCM, AES-128/256-CCM_8; ECDHE_RSA with
// AES-128/256-GCM; groups X25519, P-256, P-384; ECDSA, RSA PKCS#1 v1.5 and RSA-PSS signatures with
// SHA-256/384/512; extended master secret; HelloVerifyRequest cookies; fragmentation;
// retransmission; anti-replay; a client certificate (or an empty Certificate) when the server asks for one;
// Connection ID (RFC 9146, protocol/connection-id.ts): offered with an empty CID of ours; when
// the server gives one, every protected record we send carries it (tls12_cid), so the session
// survives a change of our address and port; plain records when the server does not echo it.
export { connectDtls, DtlsConnection, DtlsConnectOptions } from './connection';
export { DtlsError, DtlsErrorCode } from './errors';
export { DtlsSession, SessionOptions } from './session';
export { CIPHER_SUITES } from './crypto/ciphersuites';
export type { ResumableSession } from './handshake/resumption';
