'use strict';
// Redeploys of CoAP and CoAPS flows leave nothing behind: after many partial and full redeploys
// (config node changed and not), each of which really restarts the endpoint (a new UDP socket
// each time, counted), every timer and socket alive (async_hooks: ref'd or not, in any state),
// the ref'd active resources and the listeners on process, RED.events and the coap global agent
// are back to what one deployed flow had (test/support/leaks.js), and messages still arrive. The servers run in
// their own processes (an in-process CoAP server keeps a timer per request for deduplication,
// which would hide or fake a leak): libcoap's coap-server-notls for CoAP, coap-server-openssl for
// CoAPS (a new DTLS session, with its handshake, each time the connection restarts, so fewer
// rounds).
const { leakSnapshot, settledSnapshot, sharedEmitters, createdCount } = require('../support/leaks');
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, redeploy, allModules, deviceConfig, outsWithProbes, probe, waitFor } = require('../nodes/common');
const { requirePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { createCA, createLeaf, writePki } = require('../support/pki');

const TOKEN = 'LeakTestT0ken9x';

const { openVerifierCount } = require('../../nodes/lib/dtls/trust/openssl-chain');
// CoAPS has no TLS socket of its own: the TLSWRAPs are the OpenSSL chain verifier's in-memory
// clients, which async_hooks sees destroyed only when the garbage collector runs. Counted instead
// by the verifier itself: every one it opened must be closed.
const snapshot = () => {
  const s = leakSnapshot(sharedEmitters(helper));
  delete s.alive.TLSWRAP;
  return { ...s, openVerifiers: openVerifierCount() };
};

/** Deploys `rounds` times and checks that resources return to the one-flow baseline. */
async function redeployRounds({ rounds, config, creds, delivered }) {
  const flowFor = (i) => [
    { id: 'tab', type: 'tab' },
    // Every 4th deploy changes the config node (its endpoint restarts); the others change both
    // out nodes (both deregister; the last-user logic stops the endpoint, the new nodes start it).
    deviceConfig({ ...config, maxInFlight: String(4 + (Math.floor(i / 4) % 2)) }),
    ...outsWithProbes([['a', { name: `a${i}` }], ['b', { kind: 'attributes', name: `b${i}` }]]),
  ];
  await helper.load(allModules(), flowFor(0), creds);
  assert.equal((await probe('a').send({ payload: { i: 0 } })).ok, true, 'first send');
  const before = await settledSnapshot(() => sharedEmitters(helper));
  delete before.alive.TLSWRAP;
  before.openVerifiers = openVerifierCount();
  const socketsBefore = createdCount('UDPWRAP');

  for (let i = 1; i <= rounds; i++) {
    await redeploy(flowFor(i), i % 3 === 0 ? 'full' : 'nodes', creds);
    // The endpoint really restarted: one new UDP socket per deploy.
    await waitFor(() => createdCount('UDPWRAP') - socketsBefore >= i, `the new socket after redeploy ${i}`, 5000);
    if (i % 10 === 0) assert.equal((await probe('a').send({ payload: { i } })).ok, true, `send after redeploy ${i}`);
  }
  const last = await probe('a').send({ payload: { i: rounds } });
  assert.equal(last.ok, true, `last send: ${last.error}`);
  assert.equal(await delivered(), rounds, 'the server has the last reading');
  assert.equal(createdCount('UDPWRAP') - socketsBefore, rounds, 'one endpoint restart (new socket) per deploy');

  // UDP sockets close asynchronously: wait for the counts to settle, then compare.
  let after;
  try {
    await waitFor(() => {
      after = snapshot();
      return JSON.stringify(after) === JSON.stringify(before);
    }, 'resources back to the baseline', 10000);
  } catch {
    assert.deepEqual(after, before, 'timers and sockets alive, active resources and shared listeners after the redeploys');
  }
  return before;
}

/** libcoap -d creates the resource on POST; a plain GET on PORT reads back the last reading. */
const lastReading = (server) => async () => JSON.parse(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`)).i;

test('200 CoAP redeploys leak no sockets, timers or listeners', { timeout: 180000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const server = await startCoapServer();
  t.after(async () => {
    await helper.unload();
    await server.stop();
  });
  const baseline = await redeployRounds({
    rounds: 200,
    config: { transport: 'coap', port: String(server.port) },
    creds: { dev: { accessToken: TOKEN } },
    delivered: lastReading(server),
  });
  t.diagnostic(`baseline ${JSON.stringify(baseline)}`);
});

test('40 CoAPS redeploys (a DTLS session each) leak no sockets, timers or listeners', { timeout: 180000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-leaks-'));
  const root = await createCA({ name: 'Leak Test Root' });
  const leaf = await createLeaf({ issuer: root, commonName: 'localhost' });
  const files = writePki(dir, { 'ca.pem': root.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
  const server = await startCoapServer({
    command: 'coap-server-openssl',
    extraArgs: ['-c', files['leaf.pem'], '-j', files['leaf.key'], '-R', files['ca.pem'], '-n'],
  });
  t.after(async () => {
    await helper.unload();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await redeployRounds({
    rounds: 40,
    config: { transport: 'coaps', port: String(server.port + 1) },
    creds: { dev: { accessToken: TOKEN, caCert: root.certPem } },
    delivered: lastReading(server),
  });
});
