'use strict';
// DtlsDgramSocket as the coap Agent's hot path uses it, against openssl s_server: every dgram
// send() form, encrypted synchronously without copying, errors through the callback on a later
// tick, the cached local address.
const test = require('node:test');
const assert = require('node:assert/strict');
const { connectDtls } = require('../../nodes/lib/dtls');
const { DtlsDgramSocket } = require('../../nodes/lib/transports/coap/dtls-dgram-adapter');
const { requirePeer } = require('../support/peers');
const { freeUdpPort } = require('../support/ports');
const { startSServer } = require('../support/dtls-peers');
const { makeDtlsPki } = require('./fixtures');

let pki;
const running = new Set();
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  pki?.remove();
});

test('DtlsDgramSocket: send(buf, offset, length, port, address, cb), the form the Agent uses, delivers exactly its bytes; the buffer may be reused at once', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const server = await startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'] });
  running.add(server);
  const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'] });
  const socket = new DtlsDgramSocket(conn);
  const sent = (...args) => new Promise((resolve) => socket.send(...args, (err, bytes) => resolve({ err, bytes })));

  const whole = Buffer.from('form-one\n');
  assert.deepEqual(await sent(whole, 0, whole.length, port, '127.0.0.1'), { err: null, bytes: 9 });
  const framed = Buffer.from('XXXXform-six\nYYYY');
  assert.deepEqual(await sent(framed, 4, 9, port, '127.0.0.1'), { err: null, bytes: 9 });
  // Encrypted before send() returns: overwriting the buffer right after changes nothing sent.
  const reused = Buffer.from('reused-original\n');
  const done = sent(reused, 0, reused.length, port, '127.0.0.1');
  reused.write('OVERWRITTEN-NOW\n');
  assert.deepEqual(await done, { err: null, bytes: 16 });

  await server.waitFor(/reused-original/);
  const out = server.output();
  for (const line of ['form-one', 'form-six', 'reused-original']) assert.ok(out.includes(`${line}\n`), `${line} reached the server`);
  assert.ok(!/XXXX|YYYY/.test(out), 'offset/length framing respected');
  assert.ok(!out.includes('OVERWRITTEN'), 'the bytes sent are the ones given at send() time');

  // The local address: the socket's real one, asked once and handed out as one frozen object.
  const local = socket.address();
  assert.equal(local, socket.address());
  assert.ok(Object.isFrozen(local));
  assert.equal(local.address, '127.0.0.1');
  assert.ok(local.port > 0);

  await new Promise((resolve) => socket.close(resolve));
  // After close: no throw, the callback gets the error on a later tick.
  let sync = true;
  const after = await new Promise((resolve) => { socket.send(Buffer.from('late'), 0, 4, port, '127.0.0.1', (err) => resolve({ err, sync })); sync = false; });
  assert.equal(after.sync, false, 'callback not called synchronously');
  assert.equal(after.err?.code, 'CLOSED');
  await assert.rejects(conn.send(Buffer.from('late')), { code: 'CLOSED' });
});
