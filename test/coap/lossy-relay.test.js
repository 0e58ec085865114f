'use strict';
// The lossy relay itself: forwards both ways, one upstream per client, drops at the asked rate
// (seeded, so reproducible), transform can rewrite or drop, and close() leaves nothing open.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { startLossyRelay, seededRandom } = require('../support/lossy-relay');
const { waitFor } = require('../support/wait');

// Waits are for counts, not a fixed time: a loaded machine (test files run side by side) can take
// longer than any sleep; every socket is closed in t.after, so a failed assertion cannot leave the
// file's process running.

async function echoServer(t) {
  const sock = dgram.createSocket('udp4');
  const peers = new Set();
  let received = 0;
  sock.on('message', (msg, rinfo) => {
    received++;
    peers.add(`${rinfo.address}:${rinfo.port}`);
    sock.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address);
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const close = closer(sock);
  t.after(close);
  return { port: sock.address().port, peers, close, get received() { return received; } };
}

function closer(sock) {
  let closing = null;
  return () => {
    closing ??= new Promise((r) => sock.close(r));
    return closing;
  };
}

async function relayFor(t, opts) {
  const relay = await startLossyRelay(opts);
  t.after(() => relay.close());
  return relay;
}

async function client(t) {
  const sock = dgram.createSocket('udp4');
  const got = [];
  sock.on('message', (m) => got.push(m.toString()));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const close = closer(sock);
  t.after(close);
  return { sock, got, close };
}

test('forwards both ways with one upstream socket per client', { timeout: 60000 }, async (t) => {
  const server = await echoServer(t);
  const relay = await relayFor(t, { target: { host: '127.0.0.1', port: server.port } });
  const a = await client(t);
  const b = await client(t);
  a.sock.send('a1', relay.port, '127.0.0.1');
  b.sock.send('b1', relay.port, '127.0.0.1');
  a.sock.send('a2', relay.port, '127.0.0.1');
  await waitFor(() => a.got.length >= 2 && b.got.length >= 1, 'the three echoes');
  assert.deepEqual(a.got.sort(), ['echo:a1', 'echo:a2']);
  assert.deepEqual(b.got, ['echo:b1']);
  assert.equal(server.peers.size, 2);
  assert.equal(relay.stats.forwarded, 6);
  assert.equal(relay.stats.dropped, 0);
  await Promise.all([a.close(), b.close(), relay.close(), server.close()]);
});

test('drops at the requested rate, reproducibly with a seed', { timeout: 60000 }, async (t) => {
  const server = await echoServer(t);
  const run = async () => {
    const relay = await relayFor(t, { target: { host: '127.0.0.1', port: server.port }, dropToServer: 0.5, random: seededRandom(7) });
    const c = await client(t);
    for (let i = 0; i < 200; i++) c.sock.send(`m${i}`, relay.port, '127.0.0.1');
    // All 200 decided at the relay, every forwarded one echoed back and relayed to the client.
    const { toServer, toClient } = relay.stats;
    await waitFor(() => toServer.forwarded + toServer.dropped === 200 && toClient.forwarded + toClient.dropped === toServer.forwarded
      && c.got.length === toClient.forwarded, 'the 200 datagrams through the relay and back');
    const result = { got: c.got.length, stats: JSON.parse(JSON.stringify(relay.stats)) };
    await Promise.all([c.close(), relay.close()]);
    return result;
  };
  const first = await run();
  const second = await run();
  assert.deepEqual(first, second);
  assert.equal(first.stats.toServer.dropped + first.stats.toServer.forwarded, 200);
  assert.ok(first.stats.toServer.dropped > 60 && first.stats.toServer.dropped < 140, `dropped ${first.stats.toServer.dropped}`);
  assert.equal(first.got, first.stats.toClient.forwarded);
  await server.close();
});

test('transform rewrites or drops datagrams per direction', { timeout: 60000 }, async (t) => {
  const server = await echoServer(t);
  const relay = await relayFor(t, {
    target: { host: '127.0.0.1', port: server.port },
    transform: (direction, d) => {
      if (direction === 'toServer' && d.toString() === 'drop') return null;
      if (direction === 'toClient') return Buffer.from(d.toString().toUpperCase());
      return d;
    },
  });
  const c = await client(t);
  c.sock.send('keep', relay.port, '127.0.0.1');
  c.sock.send('drop', relay.port, '127.0.0.1');
  await waitFor(() => relay.stats.toServer.forwarded + relay.stats.toServer.dropped === 2 && c.got.length >= 1, 'both datagrams at the relay, one echo back');
  assert.deepEqual(c.got, ['ECHO:KEEP']);
  assert.equal(relay.stats.toServer.dropped, 1);
  await Promise.all([c.close(), relay.close(), server.close()]);
});

test('NAT: a mapping idle longer than idleTimeoutMs is forgotten (server datagrams dropped, next one from a new port); rebindEveryMs moves it anyway', { timeout: 60000 }, async (t) => {
  const server = await echoServer(t);
  const relay = await relayFor(t, { target: { host: '127.0.0.1', port: server.port }, idleTimeoutMs: 300 });
  const c = await client(t);
  c.sock.send('a', relay.port, '127.0.0.1');
  await waitFor(() => c.got.length >= 1, 'echo:a');
  c.sock.send('b', relay.port, '127.0.0.1'); // within 300 ms: same mapping
  await waitFor(() => c.got.length >= 2, 'echo:b');
  assert.deepEqual(c.got, ['echo:a', 'echo:b']);
  assert.equal(server.peers.size, 1);
  await new Promise((r) => setTimeout(r, 400));
  c.sock.send('c', relay.port, '127.0.0.1'); // after the idle timeout: a new port
  await waitFor(() => server.received >= 3, 'c at the server');
  assert.equal(server.peers.size, 2);
  assert.equal(relay.stats.bindings, 2);
  await relay.close();

  const rebinding = await relayFor(t, { target: { host: '127.0.0.1', port: server.port }, rebindEveryMs: 250 });
  server.peers.clear();
  for (let i = 0; i < 4; i++) {
    c.sock.send(`r${i}`, rebinding.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 150));
  }
  await waitFor(() => server.received >= 3 + 4, 'the four datagrams at the server');
  assert.ok(server.peers.size >= 2 && rebinding.stats.bindings === server.peers.size, `${server.peers.size} ports, ${rebinding.stats.bindings} bindings`);
  await Promise.all([c.close(), rebinding.close(), server.close()]);
});
