'use strict';
// A UDP relay on 127.0.0.1 that sits between a client and a real server and loses (or rewrites)
// datagrams on purpose, so tests can prove that retransmission and error handling work over a bad
// network without mocking the protocol. Used by the CoAP and CoAPS (DTLS) tests.
//
//   const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, dropToServer: 0.2,
//     dropToClient: 0.2, random: seededRandom(42) });
//   // point the client at 127.0.0.1:relay.port ... then: await relay.close();
//
// Each client address gets its own upstream socket, so the server sees one distinct peer per
// client (as it would without the relay) and its answers find their way back.
// `transform(direction, datagram)` may return a replacement Buffer, or null to drop the datagram;
// it runs after the random drop decision. `stats` counts per direction and in total.
//
// It can also behave like a NAT: `idleTimeoutMs` forgets a client's mapping after that long without
// a datagram from the client (RFC 4787: outbound traffic refreshes it), so the server's datagrams
// to it are dropped and the client's next datagram leaves from a new port; `rebindEveryMs` moves a
// client to a new upstream port that often whatever the traffic (a cellular network's rebinding).
// `stats.bindings` counts upstream ports handed out. `delayMs` delays every datagram each way.
const dgram = require('node:dgram');
const { seededRandom } = require('./seeded-random');

/** A small deterministic PRNG (mulberry32) so lossy tests are reproducible. */

/**
 * @param {{ target: {host: string, port: number}, dropToServer?: number, dropToClient?: number,
 *   random?: () => number, transform?: (direction: 'toServer'|'toClient', datagram: Buffer) => Buffer|null,
 *   host?: string }} opts
 * @returns {Promise<{ port: number, close: () => Promise<void>, stats: object }>}
 */
async function startLossyRelay({ target, dropToServer = 0, dropToClient = 0, random = Math.random, transform, host = '127.0.0.1', idleTimeoutMs = 0, rebindEveryMs = 0, delayMs = 0 }) {
  const family = target.host.includes(':') ? 'udp6' : 'udp4';
  const front = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const upstreams = new Map(); // "addr:port" of a client → its socket towards the server
  const stats = {
    forwarded: 0,
    dropped: 0,
    toServer: { forwarded: 0, dropped: 0 },
    toClient: { forwarded: 0, dropped: 0 },
    bindings: 0,
    expiredDrops: 0,
  };
  let closed = false;

  const pass = (direction, datagram, dropRate) => {
    let out = random() < dropRate ? null : datagram;
    if (out && transform) out = transform(direction, out);
    if (out) {
      stats.forwarded++;
      stats[direction].forwarded++;
    } else {
      stats.dropped++;
      stats[direction].dropped++;
    }
    return out;
  };

  // `delayMs`: every datagram waits that long each way (a round trip of 2 × delayMs).
  const later = (fn) => {
    if (!delayMs) return fn();
    setTimeout(() => { if (!closed) { try { fn(); } catch { /* closed meanwhile */ } } }, delayMs);
  };

  const expired = (up, now) => (idleTimeoutMs > 0 && now - up.lastOut > idleTimeoutMs) || (rebindEveryMs > 0 && now - up.boundAt >= rebindEveryMs);

  const upstreamFor = (rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    const now = Date.now();
    let up = upstreams.get(key);
    if (up && !expired(up, now)) {
      up.lastOut = now;
      return up.sock;
    }
    if (up) {
      upstreams.delete(key);
      try { up.sock.close(); } catch { /* closed */ }
    }
    const sock = dgram.createSocket(family);
    up = { sock, lastOut: now, boundAt: now };
    const mine = up;
    sock.on('error', () => { /* a test relay: an upstream error just loses datagrams */ });
    sock.on('message', (datagram) => {
      if (closed) return;
      // A NAT that forgot the mapping drops what the server sends to it.
      if (idleTimeoutMs > 0 && Date.now() - mine.lastOut > idleTimeoutMs) {
        stats.expiredDrops++;
        return;
      }
      const out = pass('toClient', datagram, dropToClient);
      if (out) later(() => front.send(out, rinfo.port, rinfo.address));
    });
    sock.bind(0, family === 'udp6' ? '::1' : '127.0.0.1');
    stats.bindings++;
    upstreams.set(key, up);
    return sock;
  };

  front.on('error', () => { /* as above */ });
  front.on('message', (datagram, rinfo) => {
    if (closed) return;
    const up = upstreamFor(rinfo);
    const out = pass('toServer', datagram, dropToServer);
    if (out) later(() => up.send(out, target.port, target.host));
  });

  await new Promise((resolve, reject) => {
    front.once('error', reject);
    front.bind(0, host, () => {
      front.off('error', reject);
      resolve();
    });
  });

  const close = async () => {
    if (closed) return;
    closed = true;
    const sockets = [front, ...[...upstreams.values()].map((u) => u.sock)];
    upstreams.clear();
    await Promise.all(sockets.map((s) => new Promise((resolve) => {
      try { s.close(resolve); } catch { resolve(); }
    })));
  };

  // setRebindEveryMs: start (or stop) rebinding later, e.g. once a handshake is over.
  return { port: front.address().port, close, stats, clients: () => upstreams.size, setRebindEveryMs: (ms) => { rebindEveryMs = ms; } };
}

module.exports = { startLossyRelay, seededRandom };
