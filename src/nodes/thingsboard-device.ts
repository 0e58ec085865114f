// The `thingsboard-device` config node: parses its properties and credentials and owns the one
// DeviceConnection that every node of this device (out, in, request, rpc-response) shares. The
// connection itself (users, queue, reconnect, status) lives in src/device and knows nothing
// about Node-RED.
import { DeviceConnection, DeviceRegistry, parseDeviceConfig, type DeviceConfig } from '../device';
import { redact } from '../shared';
import type { RED, ThingsboardDeviceNode } from './red';

export = function (RED: RED) {
  // This function runs once per Node-RED runtime: what its device connections share lives here.
  const registry = new DeviceRegistry();

  function ThingsboardDevice(this: ThingsboardDeviceNode, config: DeviceConfig & { name?: string }) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const parsed = parseDeviceConfig(config, node.credentials, node.id);
    const token = parsed.settings.accessToken;
    node.problems = parsed.problems.map((p) => redact(p, token));
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
        label: config.name || node.id,
        queueSize: parsed.queueSize,
        log: {
          warn: (text) => node.warn(redact(text, token)),
          info: (text) => node.log(redact(text, token)),
        },
      });
    }
    node.on('close', (_removed, done) => {
      const connection = node.connection;
      if (!connection) return done();
      // Node-RED waits for done(): it is called however closing ends, and a failure is logged.
      connection.close().then(
        () => done(),
        (err: unknown) => {
          node.warn(redact(`closing the device connection failed: ${err instanceof Error ? err.message : String(err)}`, token));
          done();
        },
      );
    });
  }

  RED.nodes.registerType('thingsboard-device', ThingsboardDevice, {
    credentials: {
      accessToken: { type: 'password' },
      caCert: { type: 'text' },
    },
  });
};
