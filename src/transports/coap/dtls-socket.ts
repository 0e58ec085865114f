// The CoAPS datagram socket: a DTLS 1.2 session from src/dtls, shaped as SocketLike, so the CoAP
// transport runs over it unchanged. DTLS failures become TransportErrors: a certificate problem
// is 'certificate' (permanent: the token is never sent), anything else 'unreachable' (retry).
import { connectDtls, DtlsError, type ResumableSession } from '../../dtls';
import { DtlsDgramSocket } from './dtls-dgram-adapter';
import { COAPS_DATAGRAM_BUDGET, type DatagramLimit } from './blocks';
import type { ConnectionSettings } from '../transport';
import { TransportError } from '../transport';
import type { CreateSocket, SocketLike } from './datagram';

const CERTIFICATE_CODES = new Set(['UNKNOWN_CA', 'CERT_EXPIRED', 'HOST_MISMATCH', 'BAD_CERTIFICATE', 'BAD_SIGNATURE']);

/**
 * A CreateSocket that runs the DTLS handshake to the resolved peer, checking the configured name.
 * It keeps the last session (in memory, for this transport only) and offers it on the next
 * handshake, so a reconnect after a lost session is an abbreviated handshake when the server
 * still knows it (RFC 5246 §7.3); a handshake that fails forgets it.
 */
export function dtlsSocketFactory(settings: ConnectionSettings): CreateSocket {
  let resume: ResumableSession | undefined;
  return async (peer) => {
    if (settings.verifyServer !== false && !settings.caCert.trim()) {
      // A configuration problem, not an untrusted server: nothing was sent anywhere.
      throw new TransportError(
        "CoAPS needs the CA certificate of your ThingsBoard server: paste it in the device's CA certificate field",
        'certificate',
        'NO_CA',
      );
    }
    try {
      const connection = await connectDtls({
        host: peer.address, // already resolved: no second DNS lookup
        port: peer.port,
        ca: settings.caCert || undefined,
        verify: settings.verifyServer !== false,
        allowPartialChain: settings.allowPartialChain === true,
        // The certificate must name what the user configured (or the explicit server name).
        serverName: settings.serverName || peer.host,
        // Handshake flights too stay within what ThingsBoard's DTLS server reads per datagram.
        mtu: COAPS_DATAGRAM_BUDGET,
        clientCertificate: settings.auth?.type === 'x509' ? { certPem: settings.auth.certPem, keyPem: settings.auth.keyPem, passphrase: settings.auth.passphrase } : undefined,
        resume,
      });
      resume = connection.resumable;
      const socket = new DtlsDgramSocket(connection) as unknown as SocketLike & { datagramLimit?: DatagramLimit };
      socket.datagramLimit = { maxDatagramBytes: COAPS_DATAGRAM_BUDGET, recordOverheadBytes: connection.recordOverhead }; // with a Connection ID (RFC 9146) 9 bytes more
      return socket;
    } catch (err) {
      resume = undefined;
      throw dtlsToTransportError(err, `${peer.host}:${peer.port}`, settings.auth?.type === 'x509');
    }
  };
}

/** Alerts a server sends when it does not accept the client certificate we sent. */
const CLIENT_CERT_ALERTS = new Set(['bad_certificate', 'unsupported_certificate', 'certificate_revoked', 'certificate_expired', 'certificate_unknown', 'unknown_ca', 'access_denied']);

export function dtlsToTransportError(err: unknown, where: string, sentClientCertificate = false): TransportError {
  if (err instanceof DtlsError) {
    if (err.code === 'CLIENT_CERTIFICATE') return new TransportError(`DTLS: the client certificate cannot be used: ${err.message}`, 'certificate', 'CLIENT_CERTIFICATE');
    if (sentClientCertificate && err.code === 'ALERT_RECEIVED' && err.alert && CLIENT_CERT_ALERTS.has(err.alert)) {
      return new TransportError(
        `DTLS: ${where} refused the client certificate (alert ${err.alert}): it is expired or not yet valid, or not issued by a CA the server trusts. ` +
          'Use the certificate stored on the device in ThingsBoard (Manage credentials → X.509), valid today, with its matching key.',
        'certificate',
        'CLIENT_CERT_REFUSED',
      );
    }
    if (CERTIFICATE_CODES.has(err.code)) return new TransportError(`DTLS: ${err.message}`, 'certificate', err.code);
    return new TransportError(`DTLS handshake with ${where} failed: ${err.message}`, 'unreachable', err.code);
  }
  const text = err instanceof Error ? err.message : String(err);
  return new TransportError(`DTLS handshake with ${where} failed: ${text}`, 'unreachable', 'DTLS');
}
