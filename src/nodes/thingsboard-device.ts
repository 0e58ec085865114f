// The `thingsboard-device` config node: parses its properties and credentials and owns the one
// DeviceConnection that every `thingsboard-out` node using it shares. The connection itself
// (users, queue, reconnect, status) lives in src/device and knows nothing about Node-RED.
import { DeviceConnection, DeviceRegistry, parseDeviceConfig, secretsOf, type DeviceConfig } from '../device';
import { redactSecrets } from '../shared';
import type { RED, ThingsboardDeviceNode } from './red';
import { registerDeviceAdmin } from './device-admin';

/** The credentials of type password: secrets wherever they appear. */
const SECRET_CREDENTIALS = ['accessToken', 'password', 'clientKey', 'clientKeyPassphrase', 'provisionSecret'];

export = function (RED: RED) {
  // This function runs once per Node-RED runtime: what its device connections share lives here.
  const registry = new DeviceRegistry();

  function ThingsboardDevice(this: ThingsboardDeviceNode, config: DeviceConfig & { name?: string }) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const parsed = parseDeviceConfig(config, node.credentials, node.id);
    // Every secret of this device: problems and logs never show one.
    const given = node.credentials ?? {};
    const secrets = [...secretsOf(parsed.settings), ...SECRET_CREDENTIALS.map((k) => String(given[k] ?? '')).filter(Boolean)];
    node.secrets = secrets;
    node.problems = parsed.problems.map((p) => redactSecrets(p, secrets));
    node.maxPayloadBytes = parsed.settings.maxPayloadBytes;
    node.transportName = parsed.settings.transport;
    // Node-RED hands only the `credentials` entries to node.credentials: a caCert written beside
    // host and port (hand-written flow JSON) would otherwise be ignored without a word.
    const misplacedCa = (config as { caCert?: unknown }).caCert;
    if (typeof misplacedCa === 'string' && misplacedCa.trim() !== '') node.warn(RED._('warnings.caCertOnNode'));
    if (node.problems.length > 0) {
      node.warn(RED._('warnings.configProblems', { problems: node.problems.join('; ') }));
    } else {
      node.connection = new DeviceConnection(parsed.settings, {
        registry,
        queueSize: parsed.queueSize,
        log: {
          warn: (text) => node.warn(redactSecrets(text, secrets)),
          info: (text) => node.log(redactSecrets(text, secrets)),
        },
      });
    }
    node.on('close', (_removed, done) => {
      const connection = node.connection;
      if (!connection) return done();
      connection.close().then(
        () => done(),
        () => done(),
      );
    });
  }

  registerDeviceAdmin(RED);
  RED.nodes.registerType('thingsboard-device', ThingsboardDevice, {
    credentials: {
      accessToken: { type: 'password' },
      caCert: { type: 'text' },
      username: { type: 'text' },
      password: { type: 'password' },
      clientCert: { type: 'text' },
      clientKey: { type: 'password' },
      clientKeyPassphrase: { type: 'password' },
      provisionKey: { type: 'text' },
      provisionSecret: { type: 'password' },
    },
  });
};
