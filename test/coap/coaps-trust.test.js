'use strict';
// Trust rules end to end, through the transports a user configures: CoAPS (our DTLS client, against
// libcoap's coap-server-openssl) and MQTTS (node:tls, against the MQTT emulator) agree on partial
// chains (an intermediate alone in the CA PEM needs allowPartialChain), and a chain signed by a
// name-constrained CA for another domain is refused with a message that says why, before the token
// leaves.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { opensslPki } = require('../support/openssl-pki');
const { CoapTransport, fastTiming, settings, telemetry, outcome } = require('./common');
const { MqttTransport } = require('../../nodes/lib/transports/mqtt/transport');
const { DeviceStore } = require('../../emulator/store');
const { trustRule } = require('../../nodes/lib/dtls/trust/verify-words');
const { startMqttEmulator } = require('../../emulator/mqtt');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const TOKEN = 'TrustTok3nZ9';
const CA = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n';
const LEAF = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n';

let pki; let pem; let servers = {}; const closers = [];

before(async () => {
  if (!havePeer('openssl') || !havePeer('coap-server-openssl')) return;
  pki = await opensslPki();
  for (const k of ['root', 'inter', 'leaf', 'nc']) pki.key(k, 'ec:P-256');
  pki.cert('root', { key: 'root', cn: 'Trust Test Root', ext: CA });
  pki.cert('inter', { key: 'inter', cn: 'Trust Test Intermediate', issuer: 'root', ext: CA });
  pki.cert('leaf', { key: 'leaf', cn: 'localhost', issuer: 'inter', ext: LEAF });
  pki.cert('nc', { key: 'nc', cn: 'Example.org Issuing CA', issuer: 'root', ext: `${CA}nameConstraints=critical,permitted;DNS:.example.org\n` });
  pki.cert('ncLeaf', { key: 'leaf', cn: 'localhost', issuer: 'nc', ext: LEAF });
  pem = {};
  for (const n of ['root', 'inter', 'leaf', 'nc', 'ncLeaf']) pem[n] = await pki.pem(n);
  const leafKey = fs.readFileSync(await pki.keyFile('leaf'), 'utf8');
  for (const [name, leaf, inter] of [['good', pem.leaf, pem.inter], ['nc', pem.ncLeaf, pem.nc]]) {
    const file = path.join(pki.dir, `served-${name}.pem`);
    const cas = path.join(pki.dir, `served-${name}-cas.pem`);
    fs.writeFileSync(file, leaf);
    fs.writeFileSync(cas, pem.root + inter); // libcoap builds the chain it sends from -R
    const chain = leaf + inter;
    const coap = await startCoapServer({ command: 'coap-server-openssl', extraArgs: ['-c', file, '-j', await pki.keyFile('leaf'), '-R', cas, '-n'] });
    closers.push(() => coap.stop());
    const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }] });
    const mqtt = await startMqttEmulator({ store, tls: { certPem: chain, keyPem: leafKey } });
    closers.push(() => mqtt.close());
    servers[name] = { coap, mqtt, store };
  }
});

after(async () => {
  for (const c of closers.reverse()) await c();
  pki?.remove();
});

const coaps = (name, overrides) => new CoapTransport(settings(servers[name].coap.port + 1, { transport: 'coaps', accessToken: TOKEN, ...overrides }));
const mqtts = (name, overrides) => new MqttTransport(settings(servers[name].mqtt.port, {
  transport: 'mqtts', accessToken: TOKEN, mqtt: { clientId: `trust-${Math.random().toString(16).slice(2)}`, keepaliveSeconds: 60, cleanSession: true, protocolVersion: 4 }, ...overrides,
}));

async function attempt(transport) {
  const r = await outcome(transport.connect());
  if (r.ok) await transport.send(telemetry({ via: transport.name }));
  await transport.close();
  return r;
}

test('an intermediate alone in the CA PEM: CoAPS and MQTTS both refuse it, and both accept it with allowPartialChain', async (t) => {
  if (!requirePeer(t, 'openssl') || !requirePeer(t, 'coap-server-openssl')) return;
  for (const make of [coaps, mqtts]) {
    const refused = await attempt(make('good', { caCert: pem.inter }));
    assert.equal(refused.ok, false, `${make.name}: an intermediate must not be an anchor by default`);
    assert.equal(refused.err.kind, 'certificate', `${make.name}: ${refused.err.message}`);
    assert.equal(refused.err.code, 'UNKNOWN_CA');
    const accepted = await attempt(make('good', { caCert: pem.inter, allowPartialChain: true }));
    assert.equal(accepted.ok, true, `${make.name} with allowPartialChain: ${accepted.err && accepted.err.message}`);
  }
  // The same rule in the same words on both transports; CoAPS also names the certificates.
  const coapRefusal = await attempt(coaps('good', { caCert: pem.inter }));
  const mqttRefusal = await attempt(mqtts('good', { caCert: pem.inter }));
  const rule = trustRule('UNABLE_TO_GET_ISSUER_CERT').rule;
  for (const r of [coapRefusal, mqttRefusal]) {
    assert.ok(r.err.message.includes(`server certificate not trusted (UNABLE_TO_GET_ISSUER_CERT): the server's certificate chain`), r.err.message);
    assert.ok(r.err.message.includes(rule), r.err.message);
    assert.match(r.err.message, /allow partial chain/);
  }
  assert.match(coapRefusal.err.message, /"CN=Trust Test Intermediate" is there, its issuer "CN=Trust Test Root" is not/);
  assert.equal(await coapGet(servers.good.coap.port, `api/v1/${TOKEN}/telemetry`), JSON.stringify({ via: 'coaps' }));
  assert.equal(servers.good.store.latest('dev1').via.value, 'mqtts');
  // The root in the CA PEM works without the option, for both.
  for (const make of [coaps, mqtts]) assert.equal((await attempt(make('good', { caCert: pem.root }))).ok, true);
});

test('a chain from a name-constrained CA for another domain is refused, saying why; the token never leaves', async (t) => {
  if (!requirePeer(t, 'openssl') || !requirePeer(t, 'coap-server-openssl')) return;
  const token = 'NcNeverSentTok3n';
  const r = await attempt(coaps('nc', { caCert: pem.root, accessToken: token }));
  assert.equal(r.ok, false);
  assert.equal(r.err.kind, 'certificate');
  assert.equal(r.err.permanent, true);
  assert.match(r.err.message, /\(UNSPECIFIED: permitted subtree violation\).*for "CN=localhost"/);
  const m = await attempt(mqtts('nc', { caCert: pem.root, accessToken: token }));
  assert.equal(m.ok, false);
  assert.equal(m.err.kind, 'certificate', m.err.message);
  assert.match(m.err.message, /permitted subtree violation/);
  const rule = trustRule('UNSPECIFIED', 'permitted subtree violation').rule;
  for (const e of [r.err, m.err]) assert.ok(e.message.includes(rule), e.message);
  await new Promise((res) => setTimeout(res, 100));
  assert.ok(!servers.nc.coap.log().includes(token), 'the token reached the CoAPS server');
});
