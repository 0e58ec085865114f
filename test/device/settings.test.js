'use strict';
// Config node properties (editor text or hand-written numbers/booleans) → ConnectionSettings,
// and device status → Node-RED status (colour, shape, i18n key).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

const root = path.join(__dirname, '..', '..');
const { parseDeviceConfig, defaultClientId, DEFAULT_PORTS } = require(path.join(root, 'nodes/lib/device/settings.js'));
const { statusView } = require(path.join(root, 'nodes/lib/nodes/status-view.js'));

const creds = { accessToken: 'T0KEN_abc', caCert: '' };

test('empty port → the transport default; text and numbers both accepted', { timeout: 30000 }, () => {
  for (const transport of ['mqtt', 'mqtts', 'coap', 'coaps']) {
    const withCa = transport === 'coaps' ? { ...creds, caCert: '-----BEGIN CERTIFICATE-----' } : creds;
    const { settings, problems } = parseDeviceConfig({ host: 'tb.example', port: '', transport }, withCa, 'n1');
    assert.deepEqual(problems, []);
    assert.equal(settings.port, DEFAULT_PORTS[transport]);
  }
  assert.deepEqual([1883, 8883, 5683, 5684], Object.values(DEFAULT_PORTS));
  assert.equal(parseDeviceConfig({ host: 'h', port: '1884' }, creds).settings.port, 1884);
  assert.equal(parseDeviceConfig({ host: 'h', port: 1885 }, creds).settings.port, 1885);
});

test('defaults: verify on, clean session, MQTT 3.1.1, keepalive 60, 64 KiB, queue 1000, CON, 4 in flight', { timeout: 30000 }, () => {
  const { settings, queueSize, problems } = parseDeviceConfig({ host: 'h' }, creds, 'abc.123');
  assert.deepEqual(problems, []);
  assert.equal(settings.transport, 'mqtt');
  assert.equal(settings.verifyServer, true);
  assert.equal(settings.allowPartialChain, false, 'partial chains off unless asked');
  assert.equal(parseDeviceConfig({ host: 'h', allowPartialChain: 'true' }, creds).settings.allowPartialChain, true);
  assert.equal(settings.mqtt.cleanSession, true);
  assert.equal(settings.mqtt.protocolVersion, 4);
  assert.equal(settings.mqtt.keepaliveSeconds, 60);
  assert.equal(settings.maxPayloadBytes, 65536);
  assert.equal(queueSize, 1000);
  assert.equal(settings.coap.confirmable, true);
  assert.equal(settings.coap.maxInFlight, 4);
  assert.equal(settings.mqtt.clientId, 'nr-tb-abc123', 'stable id from the node id');
  assert.equal(defaultClientId('abc.123'), settings.mqtt.clientId);
});

test('strings and booleans from hand-written flows', { timeout: 30000 }, () => {
  const { settings } = parseDeviceConfig(
    { host: ' [::1] ', transport: 'mqtts', verifyServer: 'false', cleanSession: false, protocolVersion: 5, keepalive: 30, clientId: ' mine ', serverName: 'tb.local', confirmable: 'false' },
    { accessToken: ' tok ', caCert: 'PEM' },
  );
  assert.equal(settings.host, '::1');
  assert.equal(settings.verifyServer, false);
  assert.equal(settings.mqtt.cleanSession, false);
  assert.equal(settings.mqtt.protocolVersion, 5);
  assert.equal(settings.mqtt.keepaliveSeconds, 30);
  assert.equal(settings.mqtt.clientId, 'mine');
  assert.equal(settings.serverName, 'tb.local');
  assert.equal(settings.accessToken, 'tok');
  assert.equal(settings.caCert, 'PEM');
  assert.equal(settings.coap.confirmable, false);
  assert.equal(parseDeviceConfig({ host: 'h', protocolVersion: '5' }, creds).settings.mqtt.protocolVersion, 5);
});

test('problems: no host, scheme in host, bad port, no token, bad transport, bad numbers', { timeout: 30000 }, () => {
  const p = (config, c = creds) => parseDeviceConfig(config, c).problems.join(' | ');
  assert.match(p({ host: '' }), /host is empty/);
  assert.match(p({ host: 'mqtt://tb.example' }), /without a scheme/);
  assert.match(p({ host: 'h', port: '70000' }), /port/);
  assert.match(p({ host: 'h', port: 'abc' }), /port/);
  assert.match(p({ host: 'h' }, {}), /access token is empty/);
  assert.match(p({ host: 'h', transport: 'http' }), /transport/);
  assert.match(p({ host: 'h', keepalive: '-1' }), /keepalive/);
  assert.match(p({ host: 'h', queueSize: '0' }), /queue size/);
  assert.match(p({ host: 'h', protocolVersion: '3' }), /protocol version/);
  assert.ok(!p({ host: 'h' }, { accessToken: 'SECRET_x' }).includes('SECRET_x'));
});

test('status view: colours, shapes and keys the locale file defines', { timeout: 30000 }, () => {
  const base = { queued: 0, unverified: false };
  assert.equal(statusView({ ...base, state: 'idle' }), undefined);
  assert.deepEqual(statusView({ ...base, state: 'connecting' }), { fill: 'yellow', shape: 'ring', key: 'connecting', queued: 0 });
  assert.deepEqual(statusView({ ...base, state: 'connected' }), { fill: 'green', shape: 'dot', key: 'connected', queued: 0 });
  assert.equal(statusView({ ...base, state: 'connected', unverified: true }).key, 'connectedUnverified');
  assert.deepEqual(statusView({ ...base, state: 'reconnecting', retryInSeconds: 4, queued: 3 }), { fill: 'red', shape: 'ring', key: 'reconnecting', params: { seconds: 4 }, queued: 3 });
  assert.equal(statusView({ ...base, state: 'unauthorized' }).key, 'unauthorized');
  assert.equal(statusView({ ...base, state: 'certificate', code: 'HOST_MISMATCH' }).key, 'hostMismatch');
  assert.equal(statusView({ ...base, state: 'certificate', code: 'EXPIRED' }).key, 'certificateExpired');
  assert.equal(statusView({ ...base, state: 'certificate', code: 'UNKNOWN_CA' }).key, 'certificateUntrusted');
  // One catalog of status texts (thingsboard-device.json); no node set keeps a copy of its own.
  const catalog = JSON.parse(fs.readFileSync(path.join(root, 'nodes/locales/en-US/thingsboard-device.json'), 'utf8'));
  for (const key of ['connecting', 'securing', 'connected', 'connectedUnverified', 'reconnecting', 'unauthorized', 'hostMismatch', 'certificateExpired', 'certificateUntrusted', 'caMissing', 'queued', 'lastFailed', 'configError', 'noDevice', 'subscriptionRefused']) {
    assert.equal(typeof catalog.status[key], 'string', `status.${key} in thingsboard-device.json`);
  }
  for (const type of ['thingsboard-out', 'thingsboard-in', 'thingsboard-request', 'thingsboard-rpc-response']) {
    const own = JSON.parse(fs.readFileSync(path.join(root, `nodes/locales/en-US/${type}.json`), 'utf8'));
    assert.equal(own.status, undefined, `${type}.json has no status texts of its own`);
  }
  assert.match(catalog.status.reconnecting, /__seconds__/);
  assert.match(catalog.status.queued, /__count__/);
  assert.match(catalog.warnings.configProblems, /__problems__/);
});

test('CoAPS without a CA is a configuration problem (DTLS has no system CAs); verification off or MQTTS is not', () => {
  const { COAPS_NEEDS_CA } = require(path.join(root, 'nodes/lib/device/settings.js'));
  assert.match(COAPS_NEEDS_CA, /^CoAPS needs the CA certificate of your ThingsBoard server: paste it in the device's CA certificate field/);
  for (const caCert of ['', '  \n']) {
    assert.deepEqual(parseDeviceConfig({ host: 'h', transport: 'coaps' }, { ...creds, caCert }).problems, [COAPS_NEEDS_CA]);
  }
  assert.deepEqual(parseDeviceConfig({ host: 'h', transport: 'coaps', verifyServer: false }, creds).problems, []);
  assert.deepEqual(parseDeviceConfig({ host: 'h', transport: 'mqtts' }, creds).problems, []);
  // The transport says the same if it is ever reached without one (status: its own key).
  assert.equal(statusView({ state: 'certificate', queued: 0, code: 'NO_CA', unverified: false }).key, 'caMissing');
});

test('persist: off by default; on with 100 MB and 7 days unless set; limits from text or numbers; bad limits are problems', { timeout: 30000 }, () => {
  assert.equal(parseDeviceConfig({ host: 'h' }, creds).persist, undefined);
  assert.equal(parseDeviceConfig({ host: 'h', persist: false }, creds).persist, undefined);
  assert.deepEqual(parseDeviceConfig({ host: 'h', persist: true }, creds).persist, { maxBytes: 100 * 1024 * 1024, maxAgeMs: 7 * 86400000 });
  assert.deepEqual(parseDeviceConfig({ host: 'h', persist: 'true', persistMaxMB: '2', persistMaxDays: 1 }, creds).persist, { maxBytes: 2 * 1024 * 1024, maxAgeMs: 86400000 });
  const bad = parseDeviceConfig({ host: 'h', persist: true, persistMaxMB: '0', persistMaxDays: 'week' }, creds).problems.join(' | ');
  assert.match(bad, /disk queue size limit \(MB\) must be a whole number from 1/);
  assert.match(bad, /disk queue age limit \(days\) must be a whole number from 1 to 3650 \(it is "week"\)/);
});
