// The socket an MQTT session runs on: TCP, or TLS with the server certificate verified (CA,
// host name, partial chains only when allowed) and, for X.509 device credentials, the client
// certificate. It resolves only once the socket is connected (and, for MQTTS, the certificate
// accepted): the CONNECT packet carries the token, so mqtt.js gets the socket after that
// (transport.ts).
import net from 'node:net';
import tls from 'node:tls';
import { TransportError, type ConnectionSettings } from '../transport';
import { classifyClientCertAlert, classifySocketError, type Where } from './errors';

const CONNECT_TIMEOUT_MS = 30_000;

export interface SocketHooks {
  /** The TLS handshake starts ('phase' 'securing'). */
  securing(): void;
  /** The socket exists (close() destroys it while it is still opening). */
  opening(socket: net.Socket): void;
  /** Redacts a failure before it leaves the transport. */
  fail(err: TransportError): TransportError;
}

/** TCP (and TLS with verification) up to the point where MQTT may speak. */
export function openSocket(settings: ConnectionSettings, where: Where, hooks: SocketHooks): Promise<net.Socket> {
  const { host, port, caCert, verifyServer, serverName } = settings;
  return new Promise((resolve, reject) => {
    let socket: net.Socket;
    const ready = 'secureConnect';
    if (where.tls) {
      const checkedName = serverName || host;
      const options: tls.ConnectionOptions = {
        host,
        port,
        rejectUnauthorized: verifyServer,
        // SNI carries a host name only (RFC 6066): never an IP address.
        servername: net.isIP(checkedName) ? undefined : checkedName,
        checkServerIdentity: (_hostname, cert) => (verifyServer ? tls.checkServerIdentity(checkedName, cert) : undefined),
      };
      // Several concatenated PEM certificates in one string are all trusted by node:tls.
      if (caCert && caCert.trim()) options.ca = caCert;
      // Same trust rule as CoAPS: a non-root CA ends the chain only when the user allows it (Node >= 20.18 / 22.9).
      if (settings.allowPartialChain) options.allowPartialTrustChain = true;
      const auth = settings.auth;
      if (auth?.type === 'x509') {
        // The device certificate first, any chain after it: node:tls sends them all.
        options.cert = auth.certPem;
        options.key = auth.keyPem;
        if (auth.passphrase) options.passphrase = auth.passphrase;
      }
      try {
        socket = tls.connect(options);
      } catch (err) {
        // A key that does not fit the certificate or a wrong passphrase (settings.ts checks
        // both first): never retried, never quoted (the message could hold key material).
        reject(new TransportError(`the client certificate and key cannot be used for TLS (${String((err as { code?: string }).code ?? 'invalid')}): paste the certificate and its matching key again`, 'certificate', 'CLIENT_KEY'));
        return;
      }
      hooks.securing();
    } else {
      socket = net.connect({ host, port });
    }
    // No Nagle (RFC 896): after any small write of ours (a PUBACK for a pushed attribute or RPC,
    // a PINGREQ) the next publish would wait for the server's ACK of it, which delayed ACK holds
    // back up to 40 ms (200 ms on some stacks); publishes paced apart then reach ThingsBoard
    // together and are charged to its rate-limit buckets together. ThingsBoard's own MQTT
    // transport (Netty) sets TCP_NODELAY too.
    socket.setNoDelay(true);
    hooks.opening(socket);
    const timer = setTimeout(() => {
      const err = Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' });
      socket.destroy(err);
    }, CONNECT_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      socket.removeListener(where.tls ? ready : 'connect', onReady);
      socket.removeListener('close', onClose);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      socket.destroy();
      const refused = settings.auth?.type === 'x509' ? classifyClientCertAlert(err, where) : undefined;
      reject(hooks.fail(refused ?? classifySocketError(err, where)));
    };
    // close() while the socket is still opening destroys it without an 'error'.
    const onClose = () => {
      cleanup();
      reject(new TransportError('connection closed before it was established', 'closed', 'CLOSED'));
    };
    const onReady = () => {
      cleanup();
      // From here mqtt.js reports socket errors; this keeps a late one from being unhandled.
      // A module-level function: a closure made here would keep this whole opening scope (its
      // timer, the TLS options, the hooks) alive for as long as the socket is open.
      socket.on('error', ignoreLateError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once(where.tls ? ready : 'connect', onReady);
    socket.once('close', onClose);
  });
}

function ignoreLateError(): void {}
