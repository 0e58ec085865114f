// The connection state on a downlink node (thingsboard-in, thingsboard-request), like the out
// node shows it but without the outbound queue count (that is the out nodes' business), plus a
// problem of the node's own (a refused subscription) that stays until it is resolved. Texts are
// keys of the node's own catalog "status" section, translated once per key and parameters.
import { statusView, type DeviceStatus } from '../device/status';
import { redact } from '../transports/redact';
import type { Node, NodeStatus, RED } from './red';

export interface StatusShower {
  /** The device connection's status (a DeviceUser's onStatus). */
  show(status: DeviceStatus): void;
  /** A problem of this node (key in "status", red ring) until clearProblem(). */
  problem(key: string): void;
  clearProblem(): void;
}

export function statusShower(RED: RED, node: Node, token: () => string): StatusShower {
  const texts = new Map<string, string>();
  const translate = (key: string, params?: Record<string, string | number>): string => {
    const id = params ? `${key}|${Object.values(params).join('|')}` : key;
    let text = texts.get(id);
    if (text === undefined) {
      if (texts.size >= 64) texts.clear();
      text = RED._(`status.${key}`, params);
      texts.set(id, text);
    }
    return text;
  };
  let shown: NodeStatus | undefined;
  let last: DeviceStatus | undefined;
  let problemKey: string | undefined;
  const render = (): void => {
    let next: NodeStatus = {};
    const view = last ? statusView(last) : undefined;
    if (problemKey && last?.state === 'connected') {
      next = { fill: 'red', shape: 'ring', text: translate(problemKey) };
    } else if (view) {
      let text = translate(view.key, view.params);
      if (view.lastFailure) text += ` · ${translate('lastFailed', { code: view.lastFailure })}`;
      next = { fill: view.fill, shape: view.shape, text: redact(text, token()) };
    }
    if (shown && shown.fill === next.fill && shown.shape === next.shape && shown.text === next.text) return;
    shown = next;
    node.status(next);
  };
  return {
    show(status) {
      last = status;
      render();
    },
    problem(key) {
      problemKey = key;
      render();
    },
    clearProblem() {
      if (problemKey === undefined) return;
      problemKey = undefined;
      render();
    },
  };
}

/** "a, b ,c" or ["a","b"] → ["a","b","c"]: trimmed, empty entries dropped, duplicates once. */
export function nameList(value: unknown): string[] {
  const parts = Array.isArray(value) ? value.map((v) => String(v)) : value === undefined || value === null ? [] : String(value).split(',');
  return [...new Set(parts.map((p) => p.trim()).filter((p) => p.length > 0))];
}

export interface DeviceLookup {
  device: import('./red').ThingsboardDeviceNode | null;
  connection: import('../device/connection').DeviceConnection | undefined;
  /** Set when the node cannot work (no device chosen, or its configuration has problems). */
  configError: string | undefined;
  token(): string;
}

/** The node's thingsboard-device and its connection; shows the red status when there is none. */
export function findDevice(RED: RED, node: Node, deviceId: string | undefined): DeviceLookup {
  const device = (deviceId ? RED.nodes.getNode(deviceId) : null) as import('./red').ThingsboardDeviceNode | null;
  const connection = device?.connection;
  let configError: string | undefined;
  if (!device) {
    configError = RED._('errors.noDevice');
    node.status({ fill: 'red', shape: 'dot', text: RED._('status.noDevice') });
  } else if (!connection) {
    configError = RED._('errors.configProblems', { problems: device.problems.join('; ') });
    node.status({ fill: 'red', shape: 'dot', text: RED._('status.configError', { problem: device.problems[0] ?? '' }) });
  }
  return { device, connection, configError, token: () => String(device?.credentials?.accessToken ?? '') };
}
