'use strict';
// Shared pieces of the MQTT tests: ConnectionSettings for the emulator or mosquitto, a test PKI
// (root CA, server leaf for 127.0.0.1/localhost, an unrelated CA, an expired leaf, a leaf for
// another host name), and the emulator with a store.
const { waitFor } = require('../support/wait');
const path = require('node:path');
const { createCA, createLeaf } = require('../support/pki');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');

const root = path.join(__dirname, '..', '..');
const lib = (p) => require(path.join(root, 'nodes', 'lib', p));

const TOKEN = 'A1_TEST_TOKEN_s3cr3t';
const TOKEN2 = 'B2_OTHER_TOKEN_s3cr3t';

function mqttSettings(overrides = {}) {
  const { mqtt, ...rest } = overrides;
  return {
    transport: 'mqtt',
    host: '127.0.0.1',
    port: 1883,
    accessToken: TOKEN,
    caCert: '',
    verifyServer: true,
    serverName: '',
    maxPayloadBytes: 65536,
    mqtt: { clientId: `test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, keepaliveSeconds: 60, cleanSession: true, protocolVersion: 4, ...mqtt },
    coap: { confirmable: true, maxInFlight: 4 },
    ...rest,
  };
}

let pkiPromise;
/** One PKI per test file (key generation is the slow part). */
function testPki() {
  if (!pkiPromise) {
    pkiPromise = (async () => {
      const ca = await createCA({ name: 'MQTT Test Root', keyType: 'ec-p256' });
      const inter = await createCA({ name: 'MQTT Test Intermediate', keyType: 'ec-p256', issuer: ca });
      const leaf = await createLeaf({ issuer: inter, keyType: 'ec-p256', commonName: 'localhost', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
      const otherCa = await createCA({ name: 'Unrelated Root', keyType: 'ec-p256' });
      const expired = await createLeaf({
        issuer: inter, keyType: 'ec-p256', commonName: 'localhost',
        notBefore: new Date(Date.now() - 20 * 86400e3), notAfter: new Date(Date.now() - 10 * 86400e3),
      });
      const wrongHost = await createLeaf({ issuer: inter, keyType: 'ec-p256', commonName: 'other.example', dnsNames: ['other.example'], ips: [] });
      return {
        caPem: ca.certPem,
        otherCaPem: otherCa.certPem,
        // Servers send leaf + intermediate; clients trust the root only.
        server: { certPem: leaf.certPem + inter.certPem, keyPem: leaf.keyPem },
        expired: { certPem: expired.certPem + inter.certPem, keyPem: expired.keyPem },
        wrongHost: { certPem: wrongHost.certPem + inter.certPem, keyPem: wrongHost.keyPem },
        leafPem: leaf.certPem,
        interPem: inter.certPem,
      };
    })();
  }
  return pkiPromise;
}

async function emulator(opts = {}) {
  const store = opts.store || new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }, { name: 'dev2', token: TOKEN2 }] });
  const emu = await startMqttEmulator({ store, ...opts });
  return { store, emu };
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}


module.exports = { lib, TOKEN, TOKEN2, mqttSettings, testPki, emulator, deferred, waitFor, root };
