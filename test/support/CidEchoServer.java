// A DTLS 1.2 echo server with Connection ID (RFC 9146), built on Bouncy Castle's TLS API, for the
// tests: an ECDSA certificate, ECDHE_ECDSA AES-GCM suites, a CID of 8 bytes for a client that
// offers the extension (as ThingsBoard's Californium does), and an address that follows the
// client: a record from a new address is accepted only when it carries a CID (content type
// tls12_cid), like a server that identifies the association by CID rather than by address.
// It serves one client at a time: a ClientHello from another address ends the current session.
// Usage: java -cp <bc jars>:<dir> CidEchoServer <port> <key.pk8.der> <cid|nocid> <cert.der>...
// (the certificates leaf first).
// With -Dforward=<port> it relays instead of echoing, like a DTLS-terminating proxy: each
// session's application records go as plain datagrams to 127.0.0.1:<port> from a socket of its
// own, and what comes back goes to the client over the session (at its latest address).
// With -Dresume=true it gives each session a 32-byte session id and resumes it when a client offers
// it again (RFC 5246 7.3, an abbreviated handshake), as Californium does.
// Prints "LISTEN <port>", then "HANDSHAKE <n> CID <hex|none> <full|resumed>" for each handshake,
// "OFFERED a known|an unknown|a spent session" when a client offers a session id (with resume),
// and "REBIND <address>" when the client's address changes.
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.util.PrivateKeyFactory;
import org.bouncycastle.tls.Certificate;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.DTLSServerProtocol;
import org.bouncycastle.tls.DTLSTransport;
import org.bouncycastle.tls.DatagramTransport;
import org.bouncycastle.tls.DefaultTlsServer;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.SignatureAndHashAlgorithm;
import org.bouncycastle.tls.TlsCredentialedSigner;
import org.bouncycastle.tls.TlsSession;
import org.bouncycastle.tls.crypto.TlsCertificate;
import org.bouncycastle.tls.crypto.TlsCryptoParameters;
import org.bouncycastle.tls.crypto.impl.bc.BcDefaultTlsCredentialedSigner;
import org.bouncycastle.tls.crypto.impl.bc.BcTlsCrypto;
import org.bouncycastle.util.encoders.Hex;

public class CidEchoServer {
  static final int TLS12_CID = 25;

  /** UDP transport that answers the last address the client was seen at. */
  static final class FollowingTransport implements DatagramTransport {
    final DatagramSocket socket;
    volatile SocketAddress peer;
    volatile boolean established;

    /** A new client's first datagram, which ended the previous session (see receive). */
    DatagramPacket first;
    DatagramPacket newcomer;

    FollowingTransport(DatagramSocket socket, DatagramPacket first) {
      this.socket = socket;
      this.first = first;
    }

    public int getReceiveLimit() { return 1500; }
    public int getSendLimit() { return 1400; }

    public int receive(byte[] buf, int off, int len, int waitMillis) throws IOException {
      long deadline = System.currentTimeMillis() + Math.max(1, waitMillis);
      while (true) {
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) return -1;
        DatagramPacket packet;
        if (first != null) {
          packet = first;
          first = null;
          System.arraycopy(packet.getData(), 0, buf, off, packet.getLength());
        } else {
          socket.setSoTimeout((int) left);
          packet = new DatagramPacket(buf, off, len);
          try {
            socket.receive(packet);
          } catch (SocketTimeoutException e) {
            return -1;
          }
        }
        SocketAddress from = packet.getSocketAddress();
        if (peer == null) {
          peer = from;
        } else if (!from.equals(peer)) {
          // A ClientHello from a stranger: a new client; this server serves one at a time, so
          // the current session ends and the next one starts with that datagram.
          if (established && packet.getLength() > 13 && buf[off] == 22 && buf[off + 3] == 0 && buf[off + 4] == 0) {
            newcomer = new DatagramPacket(java.util.Arrays.copyOfRange(buf, off, off + packet.getLength()), packet.getLength(), from);
            throw new IOException("a new client");
          }
          // A stranger's record is dropped, unless it names the association by its CID.
          if (!established || packet.getLength() == 0 || (buf[off] & 0xff) != TLS12_CID) continue;
          peer = from;
          System.out.println("REBIND " + from);
        }
        return packet.getLength();
      }
    }

    public void send(byte[] buf, int off, int len) throws IOException {
      if (peer != null) socket.send(new DatagramPacket(buf, off, len, peer));
    }

    public void close() { }
  }

  static final class Server extends DefaultTlsServer {
    final Certificate certificate;
    final AsymmetricKeyParameter key;
    final boolean offerCid;
    /** The CID this server gave (its getConnectionIDLocal() reads empty once the handshake is over). */
    byte[] issued;

    Server(BcTlsCrypto crypto, Certificate certificate, AsymmetricKeyParameter key, boolean offerCid) {
      super(crypto);
      this.certificate = certificate;
      this.key = key;
      this.offerCid = offerCid;
    }

    protected ProtocolVersion[] getSupportedVersions() { return ProtocolVersion.DTLSv12.only(); }

    protected int[] getSupportedCipherSuites() {
      return new int[] { CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 };
    }

    protected TlsCredentialedSigner getECDSASignerCredentials() {
      return new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), (BcTlsCrypto) getCrypto(), key, certificate,
          SignatureAndHashAlgorithm.getInstance(org.bouncycastle.tls.HashAlgorithm.sha256, org.bouncycastle.tls.SignatureAlgorithm.ecdsa));
    }

    /** Sessions by id, across handshakes (each handshake has a Server of its own). */
    static final Map<String, TlsSession> sessions = new ConcurrentHashMap<>();
    static final boolean resume = Boolean.getBoolean("resume");

    public byte[] getNewSessionID() {
      if (!resume) return null;
      byte[] id = new byte[32];
      new SecureRandom().nextBytes(id);
      return id;
    }

    /** The session as the handshake completed it (notifySession() sees it before it has a master secret). */
    public void notifyHandshakeComplete() throws IOException {
      super.notifyHandshakeComplete();
      TlsSession session = context.getSession();
      if (resume && session != null && session.isResumable()) sessions.put(Hex.toHexString(session.getSessionID()), session);
    }

    public TlsSession getSessionToResume(byte[] sessionID) {
      if (!resume) return null;
      TlsSession session = sessions.get(Hex.toHexString(sessionID));
      if (sessionID.length > 0) System.out.println("OFFERED " + (session == null ? "an unknown" : session.isResumable() ? "a known" : "a spent") + " session");
      return session != null && session.isResumable() ? session : null;
    }

    boolean resumed() { return context.getSecurityParametersConnection().isResumedSession(); }

    protected byte[] getNewConnectionID() {
      if (!offerCid) return null;
      byte[] cid = new byte[8];
      new SecureRandom().nextBytes(cid);
      issued = cid;
      return cid;
    }
  }

  static final int forwardPort = Integer.getInteger("forward", 0);

  /** A socket for one session's upstream datagrams; a thread sends what comes back over `dtls`. */
  static DatagramSocket relayBack(DTLSTransport dtls) throws IOException {
    DatagramSocket upstream = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), 0));
    Thread t = new Thread(() -> {
      byte[] in = new byte[2048];
      try {
        while (true) {
          DatagramPacket packet = new DatagramPacket(in, in.length);
          upstream.receive(packet);
          synchronized (dtls) { dtls.send(in, 0, packet.getLength()); }
        }
      } catch (IOException e) {
        // the session ended and closed the socket
      }
    });
    t.setDaemon(true);
    t.start();
    return upstream;
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    AsymmetricKeyParameter key = PrivateKeyFactory.createKey(Files.readAllBytes(Paths.get(args[1])));
    boolean offerCid = "cid".equals(args[2]);
    BcTlsCrypto crypto = new BcTlsCrypto(new SecureRandom());
    TlsCertificate[] certs = new TlsCertificate[args.length - 3];
    for (int i = 3; i < args.length; i++) certs[i - 3] = crypto.createCertificate(Files.readAllBytes(Paths.get(args[i])));
    Certificate chain = new Certificate(certs);
    DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port));
    System.out.println("LISTEN " + socket.getLocalPort());
    System.out.flush();
    int handshakes = 0;
    byte[] buf = new byte[2048];
    DatagramPacket first = null;
    while (true) {
      FollowingTransport transport = new FollowingTransport(socket, first);
      first = null;
      Server server = new Server(crypto, chain, key, offerCid);
      DTLSTransport dtls;
      try {
        dtls = new DTLSServerProtocol().accept(server, transport);
      } catch (IOException e) {
        System.out.println("HANDSHAKE-FAILED " + e);
        continue;
      }
      handshakes++;
      byte[] cid = server.issued;
      System.out.println("HANDSHAKE " + handshakes + " CID " + (cid == null || cid.length == 0 ? "none" : Hex.toHexString(cid)) + (server.resumed() ? " resumed" : " full"));
      System.out.flush();
      transport.established = true;
      DatagramSocket upstream = forwardPort > 0 ? relayBack(dtls) : null;
      try {
        while (true) {
          int n = dtls.receive(buf, 0, buf.length, 60000);
          if (n < 0) continue;
          if (upstream != null) upstream.send(new DatagramPacket(buf, 0, n, InetAddress.getByName("127.0.0.1"), forwardPort));
          else dtls.send(buf, 0, n);
        }
      } catch (IOException e) {
        if (upstream != null) upstream.close();
        first = transport.newcomer;
        // close_notify or a fatal alert: wait for the next handshake
        System.out.println("CLOSED " + e);
        System.out.flush();
      }
    }
  }
}
