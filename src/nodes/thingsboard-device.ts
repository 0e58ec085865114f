// The `thingsboard-device` config node: parses its properties and credentials and owns the one
// DeviceConnection that every node of this device (out, in, request, rpc-response) shares. The
// connection itself (users, queue, reconnect, status) lives in src/device and knows nothing
// about Node-RED. With `provision`, the connection's transport first provisions (or loads what
// an earlier start obtained, kept encrypted by provision-store.ts). What survives a redeploy is
// device-shelf.ts.
import os from 'node:os';
import path from 'node:path';
import { DeviceConnection, DeviceRegistry, parseDeviceConfig, ProvisionedTransport, queueFolder, secretsOf, type DeviceConfig, type DeviceLog } from '../device';
import { credentialSecret, provisionStore, userDirOf } from './provision-store';
import { redactSecrets } from '../shared';
import { shelfOf, deviceKey, drop, settingsKey, type RuntimeEvents, type ShelfEntry } from './device-shelf';
import type { RED, ThingsboardDeviceNode } from './red';
import { registerDeviceAdmin } from './device-admin';

/** The connection's log: the config node's, every secret of the device redacted (a class: one per device). */
class NodeLog implements DeviceLog {
  constructor(
    private readonly node: ThingsboardDeviceNode,
    private readonly secrets: readonly string[],
  ) {}

  warn(text: string): void {
    this.node.warn(redactSecrets(text, this.secrets));
  }

  info(text: string): void {
    this.node.log(redactSecrets(text, this.secrets));
  }

  debug(text: string): void {
    this.node.debug?.(redactSecrets(text, this.secrets));
  }
}

/** The credentials of type password: secrets wherever they appear. */
const SECRET_CREDENTIALS = ['accessToken', 'password', 'clientKey', 'clientKeyPassphrase', 'provisionSecret'];

export = function (RED: RED) {
  // This function runs once per Node-RED runtime: what its device connections share lives here.
  const registry = new DeviceRegistry();
  const shelf = shelfOf((RED as unknown as { events?: RuntimeEvents }).events);

  function ThingsboardDevice(this: ThingsboardDeviceNode, config: DeviceConfig & { name?: string }) {
    RED.nodes.createNode(this, config);
    const node = this;
    node.name = config.name;
    const parsed = parseDeviceConfig(config, node.credentials, node.id);
    // Every secret of this device: problems and logs never show one.
    const given = node.credentials ?? {};
    // concat: an array of the exact length (a spread into a literal leaves room to grow, per device).
    const secrets = secretsOf(parsed.settings).concat(SECRET_CREDENTIALS.map((k) => String(given[k] ?? '')).filter(Boolean));
    node.secrets = secrets;
    node.problems = parsed.problems.map((p) => redactSecrets(p, secrets));
    node.maxPayloadBytes = parsed.settings.maxPayloadBytes;
    node.transportName = parsed.settings.transport;
    // Node-RED hands only the `credentials` entries to node.credentials: a caCert written beside
    // host and port (hand-written flow JSON) would otherwise be ignored without a word.
    const misplacedCa = (config as { caCert?: unknown }).caCert;
    if (typeof misplacedCa === 'string' && misplacedCa.trim() !== '') node.warn(RED._('warnings.caCertOnNode'));
    const provision = parsed.provision;
    const userDir = userDirOf(RED);
    if (provision && !userDir && node.problems.length === 0) node.problems.push('provisioning needs the Node-RED user directory to keep the credentials it obtains');
    // Checked before asking: a device ThingsBoard created for credentials we could not keep
    // would refuse every later provisioning of the same name.
    if (provision && userDir && !credentialSecret(RED) && node.problems.length === 0) {
      node.problems.push("provisioning keeps what it obtains encrypted with Node-RED's credential secret, and encryption is off (credentialSecret: false in settings.js): set a credentialSecret, then restart");
    }
    node.gateway = parsed.gateway;
    const key = settingsKey(parsed.settings, { queueSize: parsed.queueSize, rateLimits: parsed.rateLimits, provision, gateway: parsed.gateway });
    const device = deviceKey(parsed.settings, secretsOf(parsed.settings));
    // The connection of this config node before a redeploy (device-shelf.ts).
    const previous = shelf.take(node.id);
    if (node.problems.length > 0) {
      node.warn(RED._('warnings.configProblems', { problems: node.problems.join('; ') }));
      if (previous) void drop(previous);
    } else if (previous && previous.key === key) {
      node.connection = previous.connection;
    } else {
      // The old connection lets go of the token first: two holders of one token may not connect.
      const heir = previous && previous.device === device ? previous : undefined;
      if (heir) heir.connection.releaseToken();
      else if (previous) void drop(previous);
      const plan = provision && userDir ? {
        request: provision.request,
        x509: provision.x509,
        store: provisionStore(userDir, node.id, credentialSecret(RED)),
        // Redaction follows: what provisioning obtains is a secret from the moment it is known.
        onSecret: (secret: string) => { if (secret && !secrets.includes(secret)) secrets.push(secret); },
      } : undefined;
      node.connection = new DeviceConnection(parsed.settings, {
        registry,
        label: config.name || node.id,
        ...(plan ? { createTransport: (settings: typeof parsed.settings) => new ProvisionedTransport(settings, plan) } : {}),
        queueSize: parsed.queueSize,
        gateway: parsed.gateway,
        // One folder per config node id in the user directory (the same after a restart).
        persist: parsed.persist && { ...parsed.persist, dir: queueFolder(userDirOf(RED) ?? path.join(os.homedir(), '.node-red'), node.id) },
        rateLimits: parsed.rateLimits,
        log: new NodeLog(node, secrets),
      });
      if (heir) void heir.connection.handOver(node.connection);
    }
    const dropped = (count: number): void => node.warn(RED._('warnings.droppedOnClose', { count }));
    node.on('close', (removed, done) => {
      const connection = node.connection;
      if (!connection) return done();
      const entry: ShelfEntry = { connection, key, device, dropped };
      // Restarted (redeploy, runtime stop): the shelf keeps the connection for the config node
      // that replaces it. Deleted: its messages cannot go anywhere. Node-RED waits for done():
      // it is called however closing ends, and a failure is logged.
      if (!removed && shelf.redeploying) {
        shelf.park(node.id, entry);
        return done();
      }
      drop(entry).then(
        () => done(),
        (err: unknown) => {
          node.warn(redactSecrets(`closing the device connection failed: ${err instanceof Error ? err.message : String(err)}`, secrets));
          done();
        },
      );
    });
  }

  registerDeviceAdmin(RED, (routes, permission) => {
    // "Forget provisioned credentials": for a device deleted in ThingsBoard; the next start provisions again.
    routes.post('/thingsboard-device/:id/provisioned/forget', permission('thingsboard-device.write'), (req, res) => {
      const userDir = userDirOf(RED);
      const forgotten = userDir ? provisionStore(userDir, req.params.id, undefined).forget() : false;
      res.json({ forgotten });
    });
  });
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
