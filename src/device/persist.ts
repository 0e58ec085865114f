// `persist`: every message a connection accepts is written to its disk queue (disk-queue.ts)
// BEFORE it joins the outbox, so the status never counts a message as queued that a crash could
// still lose. A message leaves the disk when it ends for good (delivered, refused, dropped); one
// that ends because the connection stopped stays, and the next open sends it again (after a
// restart, or when a stopped connection starts again). Those read back have no Node-RED message:
// they are counted in the log and the status instead.
//
// A disk that cannot be written (full, read-only, no permission) never stops a message: it goes
// through the memory queue alone, and the status and the log say so until a write succeeds.
import { DiskQueue, type DropReason, type RecoveryReport } from './disk-queue';
import { DeviceError, type DoneCallback } from './errors';
import type { BatchShape } from './batch';
import type { DeviceMessage, Entry } from './outbox';
import type { GatewayTarget } from './gateway';

export interface PersistOptions {
  /** The queue's own folder (queueFolder(userDir, configNodeId)). */
  dir: string;
  maxBytes: number;
  maxAgeMs: number;
  /** Tests: how long after a delivery the position on disk is saved. */
  cursorDelayMs?: number;
}

/** What the persisted queue needs from its connection. */
export interface PersistHost {
  /** Hands a message to the outbox (after it is on disk, or could not be written). */
  enqueue(message: DeviceMessage, done: DoneCallback, gateway: GatewayTarget | undefined, diskId?: number): void;
  /** Takes queued (not in-flight) messages with these disk ids out of the outbox; returns their done callbacks. */
  removeQueued(ids: ReadonlySet<number>): DoneCallback[];
  /** `session` is still the connection's current one. */
  isCurrent(session: number): boolean;
  /** The counts changed (status, throttled). */
  changed(): void;
  warn(text: string): void;
  info(text: string): void;
}

export interface PersistStatus {
  /** Messages written to disk and not yet ended. */
  onDisk: number;
  /** Of those, read back after a restart and not yet ended. */
  recovered: number;
  /** The file system's code when the last write or the open failed (ENOSPC, EACCES…). */
  diskError?: string;
}

const KINDS = new Set(['telemetry', 'attributes']);
const SHAPES = new Set(['wrap', 'entry', 'entries']);
const NEWLINE = 0x0a;

const readings = (n: number): string => (n === 1 ? '1 reading' : `${n} readings`);

/** One record: a header line (kind, qos, receivedAt, batch shape) and the body as sent. */
export function encodeRecord(m: DeviceMessage, gateway?: GatewayTarget): Buffer {
  // A gateway's sub-device: its name and type ("x" for a disconnect), as JSON strings (any text).
  const target = gateway ? `,"g":${JSON.stringify(gateway.device)},"t":${JSON.stringify(gateway.type)}${gateway.disconnect ? ',"x":1' : ''}` : '';
  const head = `{"k":"${m.kind}","q":${m.qos}${m.receivedAt === undefined ? '' : `,"r":${m.receivedAt}`}${m.batchShape ? `,"s":"${m.batchShape}"` : ''}${target}}\n`;
  const headBytes = target ? Buffer.byteLength(head) : head.length;
  const out = Buffer.allocUnsafe(headBytes + m.body.length);
  out.write(head, 0, target ? 'utf8' : 'latin1');
  m.body.copy(out, headBytes);
  return out;
}

/** A message read back, with the sub-device it was for when a gateway sent it. */
export type StoredMessage = DeviceMessage & { gateway?: GatewayTarget };

/**
 * The message of a record read back, or undefined when it is not one of ours. A values object
 * without a ts ("wrap") becomes `{"ts":receivedAt,"values":…}`, so a recovered reading carries
 * the time it was taken on every path (alone or in an array), not the time it is delivered.
 */
export function decodeRecord(data: Buffer): StoredMessage | undefined {
  const nl = data.indexOf(NEWLINE);
  if (nl < 0) return undefined;
  let head: { k?: unknown; q?: unknown; r?: unknown; s?: unknown; g?: unknown; t?: unknown; x?: unknown };
  try {
    head = JSON.parse(data.toString('utf8', 0, nl)) as typeof head;
  } catch {
    return undefined;
  }
  if (!KINDS.has(head.k as string) || (head.q !== 0 && head.q !== 1)) return undefined;
  const receivedAt = Number.isSafeInteger(head.r) ? (head.r as number) : undefined;
  let batchShape = SHAPES.has(head.s as string) ? (head.s as BatchShape) : undefined;
  let body = data.subarray(nl + 1);
  if (batchShape === 'wrap' && receivedAt !== undefined) {
    body = Buffer.concat([Buffer.from(`{"ts":${receivedAt},"values":`), body, Buffer.from('}')]);
    batchShape = 'entry';
  }
  const message: StoredMessage = { kind: head.k as DeviceMessage['kind'], qos: head.q, body, receivedAt, batchShape };
  if (typeof head.g === 'string' && head.g) {
    message.gateway = { device: head.g, type: typeof head.t === 'string' ? head.t : 'default' };
    if (head.x === 1) message.gateway.disconnect = true;
  }
  return message;
}

interface Accepting {
  message: DeviceMessage;
  done: DoneCallback;
  session: number;
  gateway?: GatewayTarget;
  /** undefined while the write is under way; then the record's id, or null when it failed. */
  id?: number | null;
  queue?: DiskQueue;
}

/** How often drops for the size or age limit are summed up in the log (a full queue drops on every write). */
const DROP_LOG_MS = 10_000;

export class PersistedQueue {
  private opening: Promise<DiskQueue | undefined> = Promise.resolve(undefined);
  private closing: Promise<void> = Promise.resolve();
  /** The open queue (undefined while it opens, after a close, or when it could not be opened). */
  private queue: DiskQueue | undefined;
  /** Messages accepted while the queue was opening: they are written first, in order. */
  private waitingForOpen = 0;
  /** In arrival order: a message joins the outbox only once it and every one before it are written. */
  private readonly accepting: Accepting[] = [];
  private recoveredLeft = 0;
  private recoveredTally = { delivered: 0, failed: 0 };
  private diskError: string | undefined;
  private loggedError: string | undefined;
  private readonly drops: Record<DropReason, number> = { age: 0, size: 0 };
  private dropTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: PersistOptions,
    private readonly host: PersistHost,
  ) {}

  /** Messages accepted whose write is still under way (they count against the queue size). */
  get writing(): number {
    return this.accepting.length;
  }

  /** Recovered messages not yet ended (they do not count against the queue size). */
  get recovering(): number {
    return this.recoveredLeft;
  }

  status(): PersistStatus {
    return { onDisk: this.queue?.count ?? 0, recovered: this.recoveredLeft, diskError: this.diskError };
  }

  /** Opens the folder (after any earlier close) and hands what an earlier run left to the outbox, first. */
  open(session: number): void {
    this.queue = undefined;
    // Never a rejected promise: the messages that wait for it would carry it into the event loop.
    this.opening = this.closing.then(() => this.openQueue(session)).catch((err: unknown) => {
      this.writeFailed(err);
      return undefined;
    });
  }

  /**
   * The next open waits for `closed` too: the connection this one replaces (a redeploy) uses the
   * same folder, and its records are read back only once it has saved its position and closed.
   */
  openAfter(closed: Promise<unknown>): void {
    const earlier = this.closing;
    this.closing = Promise.all([earlier, closed.catch(() => {})]).then(() => {});
  }

  /** Saves the position and closes the file; messages not ended stay for the next open. */
  close(): Promise<void> {
    const opened = this.opening;
    this.opening = Promise.resolve(undefined);
    this.queue = undefined;
    // A second close (the last node stopped, then the config node closes) waits for the first.
    const closing = Promise.all([this.closing, opened]).then(async ([, queue]) => {
      // Writes still under way may drop old records: sum up after them.
      await queue?.close();
      this.flushDrops();
    });
    // The caller hears of a failed close; the next open only waits for it.
    this.closing = closing.catch(() => {});
    return closing;
  }

  /** Writes the message, then gives it to the outbox; `done` as for DeviceConnection.submit. */
  accept(message: DeviceMessage, done: DoneCallback, session: number, gateway?: GatewayTarget): void {
    const item: Accepting = { message, done, session, gateway };
    this.accepting.push(item);
    // The hot path: the queue is open and nothing waits for it to open (the file keeps arrival order).
    if (this.queue && this.waitingForOpen === 0) {
      this.write(item, this.queue);
      return;
    }
    this.waitingForOpen++;
    void this.opening
      .then((queue) => {
        this.waitingForOpen--;
        if (queue) {
          this.write(item, queue);
        } else {
          item.id = null;
          this.handOver();
        }
      })
      .catch((err: unknown) => this.host.warn(`persist: ${err instanceof Error ? err.message : String(err)}`));
  }

  private write(item: Accepting, queue: DiskQueue): void {
    item.queue = queue;
    const written = (ids: number[]): void => {
      item.id = ids[0];
      if (this.diskError) {
        this.diskError = undefined;
        this.loggedError = undefined;
        this.host.info(`the disk queue in ${this.options.dir} is written again`);
      }
      this.handOver();
    };
    const failed = (err: unknown): void => {
      item.id = null;
      this.writeFailed(err);
      this.handOver();
    };
    queue
      .append([encodeRecord(item.message, item.gateway)])
      .then(written, failed)
      .catch((err: unknown) => this.host.warn(`persist: ${err instanceof Error ? err.message : String(err)}`));
  }

  private handOver(): void {
    while (this.accepting.length && this.accepting[0].id !== undefined) {
      const item = this.accepting.shift() as Accepting;
      const id = item.id ?? undefined;
      const done = this.live(item.done, item.queue, id);
      if (id !== undefined && !item.queue?.has(id)) done(this.dropError('size'));
      else if (!this.host.isCurrent(item.session)) done(new DeviceError('not sent: the device connection was stopped while the message was written', 'STOPPED'));
      else this.host.enqueue(item.message, done, item.gateway, id);
    }
    this.host.changed();
  }

  /**
   * A live message's end: it leaves the disk unless the connection stopped or another config node
   * took its token (then it is sent after the next open).
   */
  private live(done: DoneCallback, queue: DiskQueue | undefined, id: number | undefined): DoneCallback {
    if (id === undefined || !queue) return done;
    return (err) => {
      if (err?.code === 'STOPPED') {
        done(new DeviceError(`${err.message}; it stays on disk and is sent when the connection starts again`, 'STOPPED'));
        return;
      }
      if (err?.code === 'TOKEN_IN_USE') {
        done(new DeviceError(`${err.message} It stays on disk and is sent once this configuration has the token to itself.`, err.code));
        return;
      }
      queue.complete(id);
      done(err);
    };
  }

  private async openQueue(session: number): Promise<DiskQueue | undefined> {
    let opened: { queue: DiskQueue; report: RecoveryReport };
    try {
      opened = await DiskQueue.open({ dir: this.options.dir, maxBytes: this.options.maxBytes, maxAgeMs: this.options.maxAgeMs, cursorDelayMs: this.options.cursorDelayMs });
    } catch (err) {
      this.writeFailed(err);
      return undefined;
    }
    const { queue, report } = opened;
    queue.onDrop = (ids, reason) => this.dropped(ids, reason);
    this.report(report);
    // Stopped while it opened: the close that follows closes this queue; nothing is handed over.
    if (!this.host.isCurrent(session)) return queue;
    this.queue = queue;
    for (const record of report.records) {
      const message = decodeRecord(record.data);
      if (!message) {
        queue.complete(record.id);
        continue;
      }
      this.recoveredLeft++;
      const { gateway, ...rest } = message;
      this.host.enqueue(rest, (err) => this.recoveredEnded(queue, record.id, err), gateway, record.id);
    }
    this.host.changed();
    return queue;
  }

  private report(report: RecoveryReport): void {
    const dir = this.options.dir;
    const unreadable = report.records.filter((r) => !decodeRecord(r.data)).length;
    if (report.tornBytes > 0) {
      this.host.warn(
        `the disk queue in ${dir} ended in an incomplete or damaged record (${report.tornBytes} bytes, from a crash or power cut during a write): ` +
          `those bytes were cut off; every complete record before them is kept`,
      );
    }
    if (report.droppedByAge > 0) this.host.warn(`${readings(report.droppedByAge)} on disk older than the age limit dropped, not sent`);
    if (unreadable > 0) this.host.warn(`${unreadable} records in the disk queue in ${dir} could not be read and were dropped`);
    const count = report.records.length - unreadable;
    if (count > 0) this.host.info(`${readings(count)} recovered from disk (${dir}): sent first, in order, each with its own timestamp`);
  }

  private recoveredEnded(queue: DiskQueue, id: number, err: DeviceError | undefined): void {
    // Stopped again before it went out (or another config node took the token): it stays on disk for the next open.
    if (err?.code === 'STOPPED' || err?.code === 'TOKEN_IN_USE') {
      this.recoveredLeft--;
    } else {
      queue.complete(id);
      this.recoveredLeft--;
      if (err) this.recoveredTally.failed++;
      else this.recoveredTally.delivered++;
    }
    if (this.recoveredLeft === 0 && this.recoveredTally.delivered + this.recoveredTally.failed > 0) {
      const { delivered, failed } = this.recoveredTally;
      this.recoveredTally = { delivered: 0, failed: 0 };
      const text = `readings recovered from disk: ${delivered} delivered, ${failed} failed`;
      if (failed > 0) this.host.warn(`${text}${err ? ` (last: ${err.message})` : ''}`);
      else this.host.info(text);
    }
    this.host.changed();
  }

  private writeFailed(err: unknown): void {
    const code = (err as NodeJS.ErrnoException)?.code ?? 'EIO';
    this.diskError = code;
    this.host.changed();
    if (this.loggedError === code) return;
    this.loggedError = code;
    const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EACCES' || code === 'EPERM' ? 'no permission' : code === 'EROFS' ? 'the file system is read-only' : (err as Error)?.message ?? String(err);
    this.host.warn(`cannot write the disk queue in ${this.options.dir} (${why}, ${code}): messages are kept in memory only, and are lost if Node-RED stops before they are sent`);
  }

  private dropped(ids: number[], reason: DropReason): void {
    const error = this.dropError(reason);
    for (const done of this.host.removeQueued(new Set(ids))) done(error);
    this.drops[reason] += ids.length;
    if (!this.dropTimer) {
      this.dropTimer = setTimeout(() => this.flushDrops(), DROP_LOG_MS);
      this.dropTimer.unref();
    }
    this.host.changed();
  }

  private dropError(reason: DropReason): DeviceError {
    return reason === 'size'
      ? new DeviceError('not sent: dropped from the disk queue to stay within its size limit (the oldest go first)', 'DISK_SIZE_LIMIT')
      : new DeviceError('not sent: older than the disk queue age limit', 'DISK_AGE_LIMIT');
  }

  private flushDrops(): void {
    clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    const mb = Math.round(this.options.maxBytes / 1e5) / 10;
    const days = Math.round(this.options.maxAgeMs / 864e4) / 10;
    if (this.drops.size) this.host.warn(`${readings(this.drops.size)} dropped, not sent: the disk queue reached its size limit (${mb} MB); the oldest went first`);
    if (this.drops.age) this.host.warn(`${readings(this.drops.age)} dropped, not sent: older than the disk queue age limit (${days} days)`);
    this.drops.size = 0;
    this.drops.age = 0;
  }
}

/**
 * A redeploy hands a connection's queue to its heir, both with persist (one folder per config
 * node): every entry with a disk record ends STOPPED here (it stays on disk, and the heir reads
 * it back); the others are returned to be handed over in memory. Both would send it twice.
 */
export function leaveOnDisk(entries: Entry[]): Entry[] {
  const stays = new DeviceError('stopped: the device configuration was redeployed; its new connection sends the message from disk', 'STOPPED');
  const rest: Entry[] = [];
  for (const entry of entries) {
    if (entry.diskId === undefined) rest.push(entry);
    else entry.done(stays);
  }
  return rest;
}
