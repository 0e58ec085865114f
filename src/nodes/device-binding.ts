// What every node that uses a device does the same way, in one place: find its thingsboard-device
// config node and the connection (a red status and a clear error when there is none), show the
// connection's status, register as one of its users, and on close cancel what it still waits for
// and deregister before telling Node-RED it is done. Texts that reach the user are redacted.
import type { DeviceConnection, DeviceError, DeviceUser } from '../device';
import { redact } from '../shared';
import { statusShower, statusText, type StatusShower } from './device-status';
import type { Node, RED, ThingsboardDeviceNode } from './red';

export interface DeviceBinding {
  /** Undefined when the node cannot work: then `configError` says why (done(err) with it). */
  connection: DeviceConnection | undefined;
  device: ThingsboardDeviceNode | null;
  configError: string | undefined;
  status: StatusShower;
  /** The device's secrets (access token, password, private key, …, and what provisioning
   *  obtained) for redact(): read when needed, the list grows when provisioning succeeds. */
  token(): string | readonly string[];
  /** `err`'s text, redacted, as the Error for Node-RED's done(). */
  error(err: Error | DeviceError | string): Error;
}

export interface BindOptions {
  /** Show the number of queued messages (the out node's business). */
  queued?: boolean;
  /** Runs first when the node closes (e.g. stop listening to the downlink). */
  onClose?: () => void;
}

/** Binds `node` to the device `deviceId` names, for the node's whole life (close included). */
export function bindDevice(RED: RED, node: Node, deviceId: string | undefined, options: BindOptions = {}): DeviceBinding {
  const device = (deviceId ? RED.nodes.getNode(deviceId) : null) as ThingsboardDeviceNode | null;
  const token = () => device?.secrets ?? String(device?.credentials?.accessToken ?? '');
  let connection = device?.connection;
  let configError: string | undefined;
  if (!device) {
    configError = RED._('errors.noDevice');
    node.status({ fill: 'red', shape: 'dot', text: statusText(RED, 'noDevice') });
  } else if (!connection) {
    configError = RED._('errors.configProblems', { problems: device.problems.join('; ') });
    node.status({ fill: 'red', shape: 'dot', text: statusText(RED, 'configError', { problem: device.problems[0] ?? '' }) });
  }
  if (configError) connection = undefined;
  const status = statusShower(RED, node, token, { queued: options.queued });
  // The status shower is the node's user of the connection: it shows what it is told.
  const user: DeviceUser = status;
  if (connection) connection.register(user);

  node.on('close', (_removed, done) => {
    if (!connection) return done();
    try {
      options.onClose?.();
      // Its waiting requests end now (done(err)), not at their timeout after the node is gone.
      connection.downlink.cancel(node);
    } catch (err) {
      node.warn(redact(`closing the node failed: ${(err as Error)?.message ?? String(err)}`, token()));
    }
    // keepQueue: what this node queued still goes out after a redeploy (device-shelf.ts).
    connection.deregister(user, { keepQueue: true }).then(
      () => done(),
      (err: unknown) => {
        node.warn(redact(`closing the node failed: ${(err as Error)?.message ?? String(err)}`, token()));
        done();
      },
    );
  });

  return {
    connection,
    device,
    configError,
    status,
    token,
    error: (err) => new Error(redact(typeof err === 'string' ? err : err.message, token())),
  };
}
