// The connection state on a node: the out node with the outbound queue count (`queued`), the
// downlink nodes (thingsboard-in, thingsboard-request) without it (that is the out nodes'
// business) but with a problem of the node's own (a refused subscription) that stays until it is
// resolved. Every status text is in ONE catalog, the "status" section of thingsboard-device.json
// (the config node owns the connection whose state they describe): translating (i18next) costs
// ~17 µs, so texts are cached per key and parameters, and node.status is only called when what
// it shows changes.
import type { DeviceStatus, DeviceUser } from '../device';
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

export function statusShower(RED: RED, node: Node, token: () => string | readonly string[], options: { queued?: boolean } = {}): StatusShower & DeviceUser {
  return new Shower(RED, node, token, options.queued === true);
}

/**
 * A class, not closures over a scope: every out, in and request node has one (six closures and
 * their scope per node before). It is also the node's DeviceUser (onStatus).
 */
class Shower implements StatusShower, DeviceUser {
  /** The "queued" text with COUNT_MARK for the number: the count changes all the time under load. */
  private queuedTemplate: string | undefined;
  private shown: NodeStatus | undefined;
  private last: DeviceStatus | undefined;
  private problemKey: string | undefined;

  constructor(
    private readonly RED: RED,
    private readonly node: Node,
    private readonly token: () => string | readonly string[],
    private readonly queued: boolean,
  ) {}

  onStatus(status: DeviceStatus): void {
    this.show(status);
  }

  show(status: DeviceStatus): void {
    this.last = status;
    this.render();
  }

  problem(key: string): void {
    this.problemKey = key;
    this.render();
  }

  clearProblem(): void {
    if (this.problemKey === undefined) return;
    this.problemKey = undefined;
    this.render();
  }

  private translate(key: string, params?: Record<string, string | number>): string {
    const id = params ? `${key}|${Object.values(params).join('|')}` : key;
    let texts = textCaches.get(this.RED);
    let text = texts?.get(id);
    if (text === undefined) {
      if (!texts) textCaches.set(this.RED, (texts = new Map()));
      if (texts.size >= TEXT_CACHE_SIZE) texts.clear(); // counts and seconds vary: keep it small
      text = statusText(this.RED, key, params);
      texts.set(id, text);
    }
    return text;
  }

  private queuedText(count: number): string {
    if (this.queuedTemplate === undefined) this.queuedTemplate = statusText(this.RED, 'queued', { count: COUNT_MARK });
    const template = this.queuedTemplate;
    return template.includes(COUNT_MARK) ? template.replace(COUNT_MARK, String(count)) : statusText(this.RED, 'queued', { count });
  }

  private render(): void {
    let next: NodeStatus = {};
    const last = this.last;
    const view = last ? statusView(last) : undefined;
    if (this.problemKey && last?.state === 'connected') {
      next = { fill: 'red', shape: 'ring', text: this.translate(this.problemKey) };
    } else if (view) {
      let text = this.translate(view.key, view.params);
      if (this.queued && view.queued > 0) text += ` · ${this.queuedText(view.queued)}`;
      if (view.lastFailure) text += ` · ${this.translate('lastFailed', { code: view.lastFailure })}`;
      // A gateway says so, with its sub-devices: "connected · gateway · 12 devices".
      if (last?.subDevices !== undefined) text += ` · ${this.translate('gateway', { count: last.subDevices })}`;
      if (this.queued && view.onDisk) text += ` · ${statusText(this.RED, view.recovered ? 'onDiskRecovered' : 'onDisk', { count: view.onDisk, recovered: view.recovered })}`;
      if (view.diskError) text += ` · ${this.translate('diskError', { code: view.diskError })}`;
      next = { fill: view.fill, shape: view.shape, text: redact(text, this.token()) };
    }
    const shown = this.shown;
    if (shown && shown.fill === next.fill && shown.shape === next.shape && shown.text === next.text) return;
    this.shown = next;
    this.node.status(next);
  }
}
