// The connection state on a node: the out node with the outbound queue count (`queued`), the
// downlink nodes (thingsboard-in, thingsboard-request) without it (that is the out nodes'
// business) but with a problem of the node's own (a refused subscription) that stays until it is
// resolved. Every status text is in ONE catalog, the "status" section of thingsboard-device.json
// (the config node owns the connection whose state they describe): translating (i18next) costs
// ~17 µs, so texts are cached per key and parameters, and node.status is only called when what
// it shows changes.
import type { DeviceStatus } from '../device';
import { redact } from '../shared';
import type { Node, NodeStatus, RED } from './red';
import { statusView } from './status-view';

/** Node-RED names a node set's catalog "<module>/<set>"; a key with "<namespace>:" reads another set's. */
const STATUS_CATALOG = 'node-red-contrib-thingsboard-device/thingsboard-device:status.';

/** The status text `key` (a key of the one status catalog) with its parameters. */
export function statusText(RED: RED, key: string, params?: Record<string, unknown>): string {
  return RED._(STATUS_CATALOG + key, params);
}

export interface StatusShower {
  /** The device connection's status (a DeviceUser's onStatus). */
  show(status: DeviceStatus): void;
  /** A problem of this node (key in "status", red ring) until clearProblem(). */
  problem(key: string): void;
  clearProblem(): void;
}

/** Stands for the number in the translated "queued" text (no translation contains it). */
const COUNT_MARK = '\u0000#';

/**
 * Translated status texts by key and parameters, one cache per runtime for all its nodes (a
 * text does not depend on the node; a map per node was ~300 bytes on each of 1,000 out nodes).
 */
const textCaches = new WeakMap<RED, Map<string, string>>();
const TEXT_CACHE_SIZE = 256;

export function statusShower(RED: RED, node: Node, token: () => string | readonly string[], options: { queued?: boolean } = {}): StatusShower {
  const translate = (key: string, params?: Record<string, string | number>): string => {
    const id = params ? `${key}|${Object.values(params).join('|')}` : key;
    let texts = textCaches.get(RED);
    let text = texts?.get(id);
    if (text === undefined) {
      if (!texts) textCaches.set(RED, (texts = new Map()));
      if (texts.size >= TEXT_CACHE_SIZE) texts.clear(); // counts and seconds vary: keep it small
      text = statusText(RED, key, params);
      texts.set(id, text);
    }
    return text;
  };
  // The queue count changes all the time under load: translate its text once, fill in the number.
  let queuedTemplate: string | undefined;
  const queuedText = (count: number): string => {
    if (queuedTemplate === undefined) queuedTemplate = statusText(RED, 'queued', { count: COUNT_MARK });
    return queuedTemplate.includes(COUNT_MARK) ? queuedTemplate.replace(COUNT_MARK, String(count)) : statusText(RED, 'queued', { count });
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
      if (options.queued && view.queued > 0) text += ` · ${queuedText(view.queued)}`;
      if (view.lastFailure) text += ` · ${translate('lastFailed', { code: view.lastFailure })}`;
      // A gateway says so, with its sub-devices: "connected · gateway · 12 devices".
      if (last?.subDevices !== undefined) text += ` · ${translate('gateway', { count: last.subDevices })}`;
      if (options.queued && view.onDisk) text += ` · ${statusText(RED, view.recovered ? 'onDiskRecovered' : 'onDisk', { count: view.onDisk, recovered: view.recovered })}`;
      if (view.diskError) text += ` · ${translate('diskError', { code: view.diskError })}`;
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
