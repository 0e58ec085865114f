'use strict';
// thingsboard-device + thingsboard-out in Node-RED (node-red-node-test-helper) against the
// in-process ThingsBoard emulator: payload shapes end to end, QoS 0/1, done() seen by Complete
// and Catch nodes, one connection per config node, redeploys, unauthorized, queue full,
// configuration problems, and no token in any captured text.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, redeploy, allModules, deviceConfig, outsWithProbes, probe, statusTexts, lastStatus, waitFor, scanForTokens } = require('./common');
const { TOKEN, TOKEN2, emulator, testPki } = require('../mqtt/common');
const { freeTcpPort } = require('../support/ports');

let store;
let emu;
const caught = [];

test.before(async () => {
  ({ store, emu } = await emulator());
});

test.after(async () => {
  await emu.close();
});

test.afterEach(async () => {
  // Every text our nodes produced in this test: log lines, statuses, warnings, done(err) messages.
  scanForTokens(caught.splice(0), [TOKEN, TOKEN2, 'WRONG_TOKEN_zz9']);
  await helper.unload();
});

function flow(devOverrides = {}, outs = [['out1', {}]]) {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    deviceConfig({ port: String(emu.port), ...devOverrides }),
    ...outsWithProbes(outs),
  ];
}

const creds = (token = TOKEN) => ({ dev: { accessToken: token } });

async function connected(id) {
  await waitFor(() => /status\.connected/.test((lastStatus(id) || {}).text || ''), `${id} connected`);
}

test('payload shapes end to end, done() after PUBACK seen by Complete', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({}, [['out1', {}], ['attr', { kind: 'attributes' }], ['keyed', { key: 'humidity' }]]), creds());
  const out = probe('out1');
  const attr = probe('attr');
  const keyed = probe('keyed');
  const dev = store.devices.get('dev1');
  const before = dev.messages;

  assert.deepEqual(await out.send({ payload: { temperature: 21.5, ok: true, nested: { a: [1, 2] } } }), { ok: true, count: 1 });
  assert.equal(store.latest('dev1').temperature.value, 21.5, 'stored before done()');
  assert.deepEqual(store.latest('dev1').nested.value, { a: [1, 2] });

  assert.equal((await out.send({ payload: 7, topic: 'pressure' })).ok, true);
  assert.equal(store.latest('dev1').pressure.value, 7);

  assert.equal((await keyed.send({ payload: 55, topic: 'ignored' })).ok, true);
  assert.equal(store.latest('dev1').humidity.value, 55, 'the node Key wins over msg.topic');

  assert.equal((await out.send({ payload: '{"fromText": 3}' })).ok, true);
  assert.equal(store.latest('dev1').fromText.value, 3);
  assert.equal((await out.send({ payload: Buffer.from('[{"b1":1},{"b2":2}]') })).ok, true);
  assert.equal(store.latest('dev1').b2.value, 2);

  const ts = 1_700_000_000_000;
  assert.equal((await out.send({ payload: { ts, values: { withTs: 1 } } })).ok, true);
  assert.deepEqual(store.latest('dev1').withTs, { ts, value: 1 });
  assert.equal((await out.send({ payload: { wrapped: 2 }, ts: new Date(ts + 5) })).ok, true);
  assert.deepEqual(store.latest('dev1').wrapped, { ts: ts + 5, value: 2 });
  assert.equal((await out.send({ payload: [{ ts, values: { s1: 1 } }, { ts: ts + 1, values: { s1: 2 } }] })).ok, true);
  assert.deepEqual(store.devices.get('dev1').telemetry.get('s1').map((e) => e.value), [1, 2]);

  assert.equal((await attr.send({ payload: { firmware: '1.0.3', location: { lat: 1 } } })).ok, true);
  assert.deepEqual(store.devices.get('dev1').attributes.firmware, '1.0.3');

  assert.equal(dev.messages - before, 9);
  assert.equal(out.errors.length + attr.errors.length + keyed.errors.length, 0);
});

test('payload errors: done(err) naming the path, seen by Catch once, nothing sent', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds());
  const out = probe('out1');
  await connected('out1');
  const before = store.devices.get('dev1').messages;
  const errorCalls = () => helper._NodePrototype.error.args.length;
  const errorsBefore = errorCalls();

  const nan = await out.send({ payload: { a: { b: NaN } } });
  assert.equal(nan.ok, false);
  assert.match(nan.error, /payload\.a\.b/);
  assert.match(nan.error, /NaN/);
  caught.push(nan.error);
  const noKey = await out.send({ payload: 5 });
  assert.equal(noKey.ok, false);
  assert.match(noKey.error, /key|topic/i);
  const empty = await out.send({ payload: {} });
  assert.equal(empty.ok, false);
  const big = await out.send({ payload: { blob: 'x'.repeat(70_000) } });
  assert.equal(big.ok, false);
  assert.match(big.error, /65536|bytes|size/i);

  assert.equal(store.devices.get('dev1').messages, before, 'nothing reached ThingsBoard');
  // done(err) logs each failure once (the runtime does it); the node adds no node.error of its own.
  assert.equal(errorCalls() - errorsBefore, 4);
  for (const r of out.results) assert.equal(r.count, 1, 'each message ended exactly once');
});

test('QoS 0 is done once written; QoS 1 once acknowledged; both arrive', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({}, [['q0', { qos: 0 }], ['q1', { qos: '1' }]]), creds());
  const q0 = probe('q0');
  const q1 = probe('q1');
  for (let i = 0; i < 20; i++) assert.equal((await q0.send({ payload: { q0: i } })).ok, true);
  for (let i = 0; i < 20; i++) assert.equal((await q1.send({ payload: { q1: i } })).ok, true);
  assert.equal(store.latest('dev1').q1.value, 19);
  await waitFor(() => store.latest('dev1').q0 && store.latest('dev1').q0.value === 19, 'the last QoS 0 message');
});

test('two out nodes on one config node share ONE connection at the broker', { timeout: 60000 }, async () => {
  const connectsBefore = emu.stats.connects;
  await helper.load(allModules(), flow({}, [['a', {}], ['b', { kind: 'attributes' }]]), creds());
  const a = probe('a');
  const b = probe('b');
  await Promise.all([a.send({ payload: { fromA: 1 } }), b.send({ payload: { fromB: 1 } })]);
  assert.equal(emu.stats.connects - connectsBefore, 1, 'one CONNECT');
  assert.equal(emu.broker.connectedClients, 1, 'one client connected');
  assert.ok(statusTexts('a').some((t) => /status\.connected/.test(t)));
  assert.ok(statusTexts('b').some((t) => /status\.connected/.test(t)), 'status fans out to every user');
});

test('partial and full redeploys: old connection closed, new one works, never two at once', { timeout: 60000 }, async () => {
  const f = flow({}, [['a', {}], ['b', {}]]);
  await helper.load(allModules(), f, creds());
  let a = probe('a');
  assert.equal((await a.send({ payload: { r: 0 } })).ok, true);
  let maxClients = 0;
  const watch = setInterval(() => { maxClients = Math.max(maxClients, emu.broker.connectedClients); }, 5);
  try {
    // Partial ("nodes"): only the changed out node restarts; the config node and b stay.
    const f2 = f.map((n) => (n.id === 'a' ? { ...n, name: 'a2' } : n));
    await redeploy(f2, 'nodes', creds());
    a = probe('a');
    assert.equal((await a.send({ payload: { r: 1 } })).ok, true);
    assert.equal(emu.broker.connectedClients, 1);

    // Partial with the config node changed: it and both users restart.
    const f3 = f2.map((n) => (n.id === 'dev' ? { ...n, keepalive: '30' } : n));
    await redeploy(f3, 'nodes', creds());
    a = probe('a');
    const b = probe('b');
    assert.equal((await a.send({ payload: { r: 2 } })).ok, true);
    assert.equal((await b.send({ payload: { r: 3 } })).ok, true);

    // Full: everything restarts.
    await redeploy(f3, 'full', creds());
    a = probe('a');
    assert.equal((await a.send({ payload: { r: 4 } })).ok, true);
    await waitFor(() => emu.broker.connectedClients === 1, 'one client after the redeploys');
  } finally {
    clearInterval(watch);
  }
  assert.equal(store.latest('dev1').r.value, 4);
  assert.ok(maxClients <= 1, `at most one connection at any time (saw ${maxClients})`);
});

test('removing every out node disconnects; adding one back connects again', { timeout: 60000 }, async () => {
  const f = flow();
  await helper.load(allModules(), f, creds());
  await connected('out1');
  await waitFor(() => emu.broker.connectedClients === 1, 'connected');
  await redeploy(f.filter((n) => n.type === 'tab' || n.id === 'dev'), 'nodes', creds());
  await waitFor(() => emu.broker.connectedClients === 0, 'disconnected after the last user left');
  await redeploy(f, 'nodes', creds());
  const out = probe('out1');
  assert.equal((await out.send({ payload: { back: 1 } })).ok, true);
});

test('wrong token: unauthorized status, done(err) naming it, later messages fail at once', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds('WRONG_TOKEN_zz9'));
  const out = probe('out1');
  const first = await out.send({ payload: { t: 1 } });
  assert.equal(first.ok, false);
  assert.match(first.error, /unauthorized/);
  assert.match(first.error, /access token/);
  caught.push(first.error);
  await waitFor(() => /status\.unauthorized/.test((lastStatus('out1') || {}).text || ''), 'unauthorized status');
  assert.equal(lastStatus('out1').fill, 'red');
  const second = await out.send({ payload: { t: 2 } });
  assert.equal(second.ok, false);
  assert.match(second.error, /unauthorized/);
  assert.ok(helper.log().args.some((a) => /CONNACK 5/.test(JSON.stringify(a))), 'the reason is logged');
});

test('queue full → done(err); queued messages end with done(err) when the flow stops', { timeout: 60000 }, async () => {
  const port = await freeTcpPort(); // nothing listens: the connection stays down
  await helper.load(allModules(), flow({ port: String(port), queueSize: '3' }), creds());
  const out = probe('out1');
  const node = helper.getNode('out1');
  for (const q of [1, 2, 3]) node.receive({ payload: { q }, probe: `queued-${q}` });
  const fourth = await out.send({ payload: { q: 4 } });
  assert.equal(fourth.ok, false);
  assert.match(fourth.error, /queue is full/);
  await waitFor(() => /status\.reconnecting/.test((lastStatus('out1') || {}).text || ''), 'reconnecting status');
  await waitFor(() => /status\.queued/.test((lastStatus('out1') || {}).text || ''), 'queued count in the status');
  // Stopping the flow ends the queued messages with done(err). The Catch node stops with the
  // flow, so watch the runtime's node.error (which done(err) calls) instead.
  await redeploy([{ id: 'tab', type: 'tab' }], 'full');
  const failures = () => helper._NodePrototype.error.args.filter(([err, msg]) => msg && /^queued-/.test(msg.probe));
  await waitFor(() => failures().length === 3, 'done(err) for the 3 queued messages');
  for (const [err] of failures()) assert.match(String(err && err.message ? err.message : err), /stopped/);
});

test('configuration problems: status says so and every message gets done(err)', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({ host: '' }), { dev: {} });
  const out = probe('out1');
  const r = await out.send({ payload: { x: 1 } });
  assert.equal(r.ok, false);
  assert.match(r.error, /errors\.configProblems|host is empty/);
  assert.match(lastStatus('out1').text, /status\.configError/);
  assert.ok(helper.log().args.some((a) => /warnings\.configProblems/.test(JSON.stringify(a))));
});

test('a caCert on the node instead of under credentials is reported, without the certificate', { timeout: 60000 }, async () => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIBmisplacedcertificate\n-----END CERTIFICATE-----\n';
  await helper.load(allModules(), flow({ port: emu.port, caCert: pem }), creds());
  const warned = () => helper.log().args.filter((a) => /warnings\.caCertOnNode/.test(JSON.stringify(a)));
  assert.equal(warned().length, 1, 'one warning that the CA is in the wrong place');
  assert.ok(!helper.log().args.some((a) => JSON.stringify(a).includes('MIIBmisplaced')), 'the certificate is not logged');
  await helper.unload();
  // Under credentials (where the dialog puts it): no warning.
  await helper.load(allModules(), flow({ port: emu.port }), { dev: { ...creds().dev, caCert: pem } });
  assert.equal(warned().length, 0);
});

test('an out node without a device: done(err)', { timeout: 60000 }, async () => {
  await helper.load(allModules(), [{ id: 'tab', type: 'tab' }, ...outsWithProbes([['lonely', { device: '' }]])], {});
  const out = probe('lonely');
  const r = await out.send({ payload: { x: 1 } });
  assert.equal(r.ok, false);
  assert.match(r.error, /errors\.noDevice/);
});

test('hand-written flow values: numbers and booleans where the editor writes text', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({ port: emu.port, keepalive: 30, protocolVersion: 4, queueSize: 10, cleanSession: 'true' }, [['n', { qos: 1 }]]), creds());
  const out = probe('n');
  assert.equal((await out.send({ payload: { handWritten: 1 } })).ok, true);
});

test('MQTTS through the nodes: wrong CA → certificate status and done(err); verification off → warning', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu: tlsEmu } = await emulator({ store, tls: pki.server });
  try {
    await helper.load(allModules(), flow({ transport: 'mqtts', port: String(tlsEmu.port) }), { dev: { accessToken: TOKEN, caCert: pki.otherCaPem } });
    const out = probe('out1');
    const r = await out.send({ payload: { x: 1 } });
    assert.equal(r.ok, false);
    assert.match(r.error, /server certificate not trusted/);
    caught.push(r.error);
    await waitFor(() => /status\.certificateUntrusted/.test((lastStatus('out1') || {}).text || ''), 'certificate status');
    assert.equal(tlsEmu.stats.connects, 0, 'the broker saw no CONNECT');
    scanForTokens([], [TOKEN]);
    await helper.unload();

    await helper.load(allModules(), flow({ transport: 'mqtts', port: String(tlsEmu.port), verifyServer: false }), { dev: { accessToken: TOKEN } });
    const out2 = probe('out1');
    assert.equal((await out2.send({ payload: { unverified: 1 } })).ok, true);
    await waitFor(() => /status\.connectedUnverified/.test((lastStatus('out1') || {}).text || ''), 'unverified status');
    assert.equal(lastStatus('out1').fill, 'yellow');
    const warnings = helper.log().args.filter((a) => a[0] && a[0].level === helper.log().WARN).map((a) => String(a[0].msg));
    assert.equal(warnings.filter((w) => /verification is OFF/.test(w)).length, 1, 'one log warning');
  } finally {
    await tlsEmu.close();
  }
});

test('a burst is coalesced into array publishes: each message stamped when the node received it, msg.ts kept, the object sent as it was on input', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds());
  await connected('out1');
  const out = probe('out1');
  const entries = [];
  let publishes = 0;
  const onTelemetry = (e) => {
    publishes++;
    entries.push(...e.entries);
  };
  store.on('telemetry', onTelemetry);
  try {
    const own = Date.UTC(2024, 0, 1);
    const shared = { burst: -1 }; // one object, changed after every send (a function node's state)
    const before = Date.now();
    const ends = [];
    for (let i = 0; i < 300; i++) {
      shared.burst = i;
      ends.push(out.send(i === 150 ? { payload: { burst: i }, ts: own } : { payload: shared }));
    }
    shared.burst = 'changed after the last send';
    const results = await Promise.all(ends);
    const after = Date.now();
    assert.ok(results.every((r) => r.ok && r.count === 1), 'each message done once');
    assert.deepEqual(entries.map((e) => e.values.burst), Array.from({ length: 300 }, (_, i) => i), 'in order, values as on input');
    assert.ok(publishes < 300, `coalesced (${publishes} publishes for 300 messages)`);
    assert.equal(entries[150].ts, own, 'msg.ts kept');
    for (const e of entries) if (e !== entries[150]) assert.ok(e.ts >= before && e.ts <= after, 'stamped with the time of input');
  } finally {
    store.removeListener('telemetry', onTelemetry);
  }
});
