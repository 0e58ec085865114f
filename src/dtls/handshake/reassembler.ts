// Collects handshake fragments (any order, duplicates, overlaps) into whole messages.
//
// The work per fragment is bounded, not only the memory: a message keeps at most MAX_RANGES
// disjoint received ranges (sorted, found by binary search), so a flood of 1-byte fragments at
// distinct offsets costs O(log MAX_RANGES) each instead of re-sorting every range received so
// far. A fragment that would open one range too many is dropped (a real server sends its
// fragments contiguously; after loss a retransmission fills the holes). Each message remembers
// the epoch its fragments came in, so the state machine can refuse a Finished that was not
// protected (RFC 6347 4.1: Finished is the first message of the new epoch).
import { protocolError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { HandshakeFragment, HandshakeMessage } from '../protocol/handshake';

interface Partial {
  type: number;
  epoch: number;
  body: Buffer;
  /** Received byte ranges, disjoint and sorted: starts[i] < ends[i] < starts[i + 1]. */
  starts: number[];
  ends: number[];
}

/** A whole received message, with the epoch of the records that carried it. */
export interface ReceivedMessage extends HandshakeMessage { epoch: number }

/** How far ahead of the next expected message we buffer fragments (a flight has < 10 messages). */
const MAX_SEQ_AHEAD = 16;
/** Disjoint received ranges kept per message; more means a peer fragments for no good reason. */
export const MAX_RANGES = 32;

export class HandshakeReassembler {
  private partial = new Map<number, Partial>();

  /** Messages with a sequence number below this are retransmissions of things already handled. */
  nextSeq = 0;

  /**
   * Adds a fragment that arrived in `epoch`. Returns 'old' for a retransmission of a message
   * already processed, 'ignored' for one too far ahead, one that would open too many holes, or
   * an unprotected one for a message already begun in a newer epoch; otherwise 'stored'. A
   * fragment inconsistent with earlier fragments of the same message and epoch (other type or
   * length) is a protocol error.
   */
  add(f: HandshakeFragment, epoch = 0): 'old' | 'ignored' | 'stored' {
    if (f.messageSeq < this.nextSeq) return 'old';
    if (f.messageSeq >= this.nextSeq + MAX_SEQ_AHEAD) return 'ignored';
    let p = this.partial.get(f.messageSeq);
    if (p && epoch < p.epoch) return 'ignored';
    if (!p || epoch > p.epoch) {
      // A newer epoch's fragment replaces what unprotected records put there.
      p = { type: f.type, epoch, body: Buffer.alloc(f.length), starts: [], ends: [] };
      this.partial.set(f.messageSeq, p);
    } else if (p.type !== f.type || p.body.length !== f.length) {
      throw protocolError(`fragments of handshake message ${f.messageSeq} disagree on its type or length`, AlertDescription.illegal_parameter);
    }
    const start = f.fragmentOffset;
    const end = start + f.fragment.length;
    if (end <= start) return 'stored';
    if (!addRange(p, start, end)) return 'ignored';
    f.fragment.copy(p.body, start);
    return 'stored';
  }

  private isComplete(p: Partial): boolean {
    if (p.body.length === 0) return true;
    return p.starts.length === 1 && p.starts[0] === 0 && p.ends[0] === p.body.length;
  }

  /** The next message in order if it is complete; advances nextSeq. */
  takeNext(): ReceivedMessage | null {
    const p = this.partial.get(this.nextSeq);
    if (!p || !this.isComplete(p)) return null;
    this.partial.delete(this.nextSeq);
    return { type: p.type, messageSeq: this.nextSeq++, body: p.body, epoch: p.epoch };
  }

  /** The lowest-numbered complete message of one of `types`, wherever it is (for ServerHello/HVR whose seq we cannot predict). */
  findComplete(types: number[]): number | null {
    let best: number | null = null;
    for (const [seq, p] of this.partial) {
      if (types.includes(p.type) && this.isComplete(p) && (best === null || seq < best)) best = seq;
    }
    return best;
  }

  /** Forgets everything below `seq` and continues from there. */
  restartAt(seq: number): void {
    for (const key of [...this.partial.keys()]) if (key < seq) this.partial.delete(key);
    this.nextSeq = seq;
  }

  clear(): void { this.partial.clear(); }
}

/** Index of the first range whose end is >= `value` (binary search). */
function firstEndingAtOrAfter(ends: number[], value: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid] < value) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * Merges [start, end) into the ranges of `p`: the ranges it touches or overlaps collapse into
 * one. Returns false (and changes nothing) when it would make more than MAX_RANGES ranges.
 */
function addRange(p: Partial, start: number, end: number): boolean {
  const { starts, ends } = p;
  const i = firstEndingAtOrAfter(ends, start); // first range that can touch the new one
  let j = i;
  while (j < starts.length && starts[j] <= end) j++; // ranges i .. j-1 touch it (at most MAX_RANGES)
  if (i === j) {
    if (starts.length >= MAX_RANGES) return false;
    starts.splice(i, 0, start);
    ends.splice(i, 0, end);
    return true;
  }
  const mergedStart = Math.min(start, starts[i]);
  const mergedEnd = Math.max(end, ends[j - 1]);
  starts.splice(i, j - i, mergedStart);
  ends.splice(i, j - i, mergedEnd);
  return true;
}
