// A small append-only file queue that keeps unsent messages across a restart, a crash or a power
// cut. One folder per config node; records go into numbered segment files, each record framed as
//   u32 payload length | u32 CRC-32 of the payload | f64 epoch ms when it was saved | payload
// and a cursor file says where the oldest undelivered record starts. Appends that arrive while a
// write is under way are written together and made durable with ONE fdatasync (group commit), so
// the cost per reading falls as the rate rises. Delivery is at least once: the cursor is saved
// shortly after deliveries (and on close), so a crash in between sends those records again; they
// carry their own timestamps, so ThingsBoard keeps one value per key and ts.
//
// Reading back stops at the first record that is incomplete or fails its CRC (a torn last write);
// the bytes after it are reported, never parsed. Nothing here throws into the caller's event loop:
// failures reject the promise of the call that caused them.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from './crc32';

const HEADER_BYTES = 16;
const CURSOR_FILE = 'cursor.json';
const SEGMENT_SUFFIX = '.log';
/** Larger than any message ThingsBoard accepts (its maxPayloadSize is 64 KiB by default). */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export interface DiskQueueOptions {
  /** The folder of this queue (created when missing). */
  dir: string;
  /** Bytes of undelivered records kept at most; the oldest go first when a new one would not fit. */
  maxBytes: number;
  /** Records older than this are dropped (counted) when the queue opens and when it appends. */
  maxAgeMs: number;
  /** A new segment file starts when the current one reaches this size. */
  segmentBytes?: number;
  /** How long after a delivery the cursor is saved (deliveries in between share one write). */
  cursorDelayMs?: number;
  now?: () => number;
}

export interface StoredRecord {
  id: number;
  savedAt: number;
  data: Buffer;
}

export type DropReason = 'age' | 'size';

export interface RecoveryReport {
  /** Records read back, oldest first. */
  records: StoredRecord[];
  /** Bytes after the last complete record of a segment (a torn write), not read. */
  tornBytes: number;
  /** Records read back but older than maxAgeMs, dropped. */
  droppedByAge: number;
}

interface Live {
  id: number;
  segment: number;
  /** Offset just past this record in its segment. */
  end: number;
  bytes: number;
  savedAt: number;
  settled: boolean;
}

interface PendingAppend {
  frames: Buffer[];
  records: Live[];
  resolve: (ids: number[]) => void;
  reject: (err: Error) => void;
}

function segmentName(no: number): string {
  return `${String(no).padStart(10, '0')}${SEGMENT_SUFFIX}`;
}

function frame(data: Buffer, savedAt: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length);
  out.writeUInt32BE(data.length, 0);
  out.writeUInt32BE(crc32(data), 4);
  out.writeDoubleBE(savedAt, 8);
  data.copy(out, HEADER_BYTES);
  return out;
}

/** Complete records of one segment from `offset` on, and how many bytes after them were torn. */
function readSegment(bytes: Buffer, offset: number): { records: { savedAt: number; data: Buffer; end: number }[]; tornBytes: number } {
  const records: { savedAt: number; data: Buffer; end: number }[] = [];
  let at = offset;
  while (at + HEADER_BYTES <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const end = at + HEADER_BYTES + length;
    if (length > MAX_RECORD_BYTES || end > bytes.length) break;
    const data = bytes.subarray(at + HEADER_BYTES, end);
    if (crc32(data) !== bytes.readUInt32BE(at + 4)) break;
    records.push({ savedAt: bytes.readDoubleBE(at + 8), data: Buffer.from(data), end });
    at = end;
  }
  return { records, tornBytes: bytes.length - at };
}

export class DiskQueue {
  private readonly live: Live[] = [];
  private readonly byId = new Map<number, Live>();
  private nextId = 1;
  private liveBytes = 0;
  /** Records in `live` not yet settled (the status asks often: no walk over the queue). */
  private unsettled = 0;
  private segment: number;
  private segmentSize: number;
  private handle: fsp.FileHandle | undefined;
  private pending: PendingAppend[] = [];
  private writing: Promise<void> | undefined;
  private cursor: { segment: number; offset: number };
  private cursorSaved = true;
  private cursorTimer: NodeJS.Timeout | undefined;
  private cursorWrite: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly segmentBytes: number;
  private readonly cursorDelayMs: number;
  private readonly now: () => number;

  /** Called with the ids of records dropped to respect maxBytes or maxAgeMs (never silently). */
  onDrop: (ids: number[], reason: DropReason) => void = () => {};

  private constructor(private readonly options: DiskQueueOptions, cursor: { segment: number; offset: number }, segment: number, size: number) {
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    this.cursorDelayMs = options.cursorDelayMs ?? 200;
    this.now = options.now ?? Date.now;
    this.cursor = cursor;
    this.segment = segment;
    this.segmentSize = size;
  }

  /**
   * Opens (or creates) the queue in `options.dir` and reads back what an earlier run left
   * undelivered. The records returned are live in the new queue: complete() them once delivered.
   */
  static async open(options: DiskQueueOptions): Promise<{ queue: DiskQueue; report: RecoveryReport }> {
    await fsp.mkdir(options.dir, { recursive: true });
    let cursor = { segment: 0, offset: 0 };
    try {
      const saved = JSON.parse(await fsp.readFile(path.join(options.dir, CURSOR_FILE), 'utf8')) as { segment?: unknown; offset?: unknown };
      if (Number.isSafeInteger(saved.segment) && Number.isSafeInteger(saved.offset)) cursor = { segment: saved.segment as number, offset: saved.offset as number };
    } catch {
      // No cursor yet (a new queue) or a torn one: read every segment from its start.
    }
    const segments = (await fsp.readdir(options.dir))
      .filter((name) => /^\d{10}\.log$/.test(name))
      .map((name) => Number(name.slice(0, 10)))
      .sort((a, b) => a - b);
    const now = (options.now ?? Date.now)();
    const report: RecoveryReport = { records: [], tornBytes: 0, droppedByAge: 0 };
    const found: { segment: number; end: number; savedAt: number; data: Buffer }[] = [];
    for (const no of segments) {
      const file = path.join(options.dir, segmentName(no));
      if (no < cursor.segment) {
        await fsp.rm(file, { force: true });
        continue;
      }
      const bytes = await fsp.readFile(file);
      const { records, tornBytes } = readSegment(bytes, no === cursor.segment ? Math.min(cursor.offset, bytes.length) : 0);
      report.tornBytes += tornBytes;
      for (const r of records) found.push({ segment: no, ...r });
      // A torn tail is cut off, so that new records follow the last complete one.
      if (tornBytes > 0) await fsp.truncate(file, bytes.length - tornBytes);
    }
    // New records go into a fresh segment: the old ones stay read-only until they are delivered.
    const last = segments.length ? segments[segments.length - 1] : cursor.segment;
    const queue = new DiskQueue(options, cursor, Math.max(last + 1, cursor.segment), 0);
    for (const r of found) {
      if (now - r.savedAt > options.maxAgeMs) {
        report.droppedByAge++;
        queue.settle(queue.track(r.segment, r.end, r.data.length, r.savedAt));
        continue;
      }
      const entry = queue.track(r.segment, r.end, r.data.length, r.savedAt);
      report.records.push({ id: entry.id, savedAt: r.savedAt, data: r.data });
    }
    queue.advance();
    return { queue, report };
  }

  /** Undelivered records (read back or appended) not yet completed. */
  get count(): number {
    return this.unsettled;
  }

  /** Bytes of those records on disk. */
  get bytes(): number {
    return this.liveBytes;
  }

  /**
   * Writes the records and resolves with their ids once they are on disk (fdatasync). Rejects
   * with the file system's error (full disk, no permission); those records are then not kept.
   */
  append(data: Buffer[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new Error('the disk queue is closed'));
    const savedAt = this.now();
    this.dropOld(savedAt);
    const frames: Buffer[] = [];
    const records: Live[] = [];
    for (const d of data) {
      frames.push(frame(d, savedAt));
      records.push({ id: this.nextId++, segment: -1, end: -1, bytes: d.length, savedAt, settled: false });
    }
    const incoming = records.reduce((n, r) => n + r.bytes, 0);
    this.makeRoom(incoming);
    return new Promise<number[]>((resolve, reject) => {
      this.pending.push({ frames, records, resolve, reject });
      if (!this.writing) this.writing = this.writeLoop();
    });
  }

  /** The record is on disk and neither completed nor dropped. */
  has(id: number): boolean {
    const entry = this.byId.get(id);
    return entry !== undefined && !entry.settled;
  }

  /** The record was delivered, or ended for good (refused): it is not sent again after a restart. */
  complete(id: number): void {
    const entry = this.byId.get(id);
    if (!entry || entry.settled) return;
    this.settle(entry);
    this.advance();
  }

  /** Saves the cursor and closes the file. Records not completed stay for the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.writing) await this.writing.catch(() => {});
    clearTimeout(this.cursorTimer);
    await this.cursorWrite.catch(() => {});
    if (!this.cursorSaved) await this.saveCursor().catch(() => {});
    await this.handle?.close().catch(() => {});
    this.handle = undefined;
  }

  private track(segment: number, end: number, bytes: number, savedAt: number): Live {
    const entry: Live = { id: this.nextId++, segment, end, bytes, savedAt, settled: false };
    this.live.push(entry);
    this.byId.set(entry.id, entry);
    this.liveBytes += bytes;
    this.unsettled++;
    return entry;
  }

  private settle(entry: Live): void {
    entry.settled = true;
    this.unsettled--;
  }

  private dropOld(now: number): void {
    const ids: number[] = [];
    for (const r of this.live) {
      if (now - r.savedAt <= this.options.maxAgeMs) break;
      if (!r.settled && r.segment >= 0) {
        this.settle(r);
        ids.push(r.id);
      }
    }
    if (ids.length) {
      this.advance();
      this.onDrop(ids, 'age');
    }
  }

  private makeRoom(incoming: number): void {
    const ids: number[] = [];
    let kept = this.liveBytes + incoming;
    for (const r of this.live) {
      if (kept <= this.options.maxBytes) break;
      if (!r.settled && r.segment >= 0) {
        this.settle(r);
        kept -= r.bytes;
        ids.push(r.id);
      }
    }
    if (ids.length) {
      this.advance();
      this.onDrop(ids, 'size');
    }
  }

  /** Moves the cursor past every settled record at the head, and deletes segments left behind. */
  private advance(): void {
    let moved = false;
    while (this.live.length && this.live[0].settled && this.live[0].segment >= 0) {
      const head = this.live.shift()!;
      this.byId.delete(head.id);
      this.liveBytes -= head.bytes;
      if (head.segment !== this.cursor.segment) this.removeSegmentsBefore(head.segment);
      this.cursor = { segment: head.segment, offset: head.end };
      moved = true;
    }
    if (moved) this.scheduleCursor();
  }

  private removeSegmentsBefore(segment: number): void {
    for (let no = this.cursor.segment; no < segment; no++) {
      if (no === this.segment) continue;
      void fsp.rm(path.join(this.options.dir, segmentName(no)), { force: true }).catch(() => {});
    }
  }

  private scheduleCursor(): void {
    this.cursorSaved = false;
    if (this.cursorTimer || this.closed) return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      this.cursorWrite = this.cursorWrite.then(() => this.saveCursor()).catch(() => {
        // A cursor that could not be saved only means more records are sent again after a crash.
      });
    }, this.cursorDelayMs);
    this.cursorTimer.unref();
  }

  private async saveCursor(): Promise<void> {
    this.cursorSaved = true;
    const file = path.join(this.options.dir, CURSOR_FILE);
    const temp = `${file}.tmp`;
    await fsp.writeFile(temp, JSON.stringify(this.cursor));
    await fsp.rename(temp, file);
  }

  private async writeLoop(): Promise<void> {
    while (this.pending.length) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.writeBatch(batch);
        for (const p of batch) p.resolve(p.records.map((r) => r.id));
      } catch (err) {
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.writing = undefined;
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    if (!this.handle || this.segmentSize >= this.segmentBytes) {
      await this.handle?.close().catch(() => {});
      if (this.handle) this.segment++;
      this.handle = await fsp.open(path.join(this.options.dir, segmentName(this.segment)), 'a');
      this.segmentSize = (await this.handle.stat()).size;
    }
    const frames = batch.flatMap((p) => p.frames);
    // One buffer, one write: cheaper than an iovec of many small frames.
    const bytes = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const before = this.segmentSize;
    try {
      for (let at = 0; at < bytes.length; ) {
        const { bytesWritten } = await this.handle.write(bytes, at, bytes.length - at);
        if (bytesWritten <= 0) throw Object.assign(new Error('no space left on device (nothing written)'), { code: 'ENOSPC' });
        at += bytesWritten;
      }
      await this.handle.datasync();
    } catch (err) {
      // Cut back a partial write so the next record starts at a frame boundary.
      await this.handle.truncate(before).catch(() => {});
      throw err;
    }
    let at = before;
    for (const p of batch) {
      for (let i = 0; i < p.records.length; i++) {
        const r = p.records[i];
        at += p.frames[i].length;
        r.segment = this.segment;
        r.end = at;
        this.live.push(r);
        this.byId.set(r.id, r);
        this.liveBytes += r.bytes;
        this.unsettled++;
      }
    }
    this.segmentSize = at;
    // Appends that arrived together were not on disk when append() made room for them.
    this.makeRoom(0);
  }
}

/** The folder of one config node's queue: a name no other config node can produce. */
export function queueFolder(userDir: string, configNodeId: string): string {
  // Every other character is escaped (so '.', '/' and '..' cannot leave the folder, and two ids
  // never meet in one name).
  const name = configNodeId.replace(/[^A-Za-z0-9_-]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return path.join(userDir, 'thingsboard-queue', name);
}
