// Collects handshake fragments (any order, duplicates, overlaps) into whole messages.
import { protocolError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { HandshakeFragment, HandshakeMessage } from '../protocol/handshake';

interface Partial {
  type: number;
  body: Buffer;
  /** Received byte ranges, merged, sorted: [start, end). */
  ranges: Array<[number, number]>;
}

/** How far ahead of the next expected message we buffer fragments (a flight has < 10 messages). */
const MAX_SEQ_AHEAD = 16;

export class HandshakeReassembler {
  private partial = new Map<number, Partial>();

  /** Messages with a sequence number below this are retransmissions of things already handled. */
  nextSeq = 0;

  /**
   * Adds a fragment. Returns 'old' for a retransmission of a message already processed,
   * 'ignored' for one too far ahead, otherwise 'stored'. A fragment inconsistent with earlier
   * fragments of the same message (other type or length) is a protocol error.
   */
  add(f: HandshakeFragment): 'old' | 'ignored' | 'stored' {
    if (f.messageSeq < this.nextSeq) return 'old';
    if (f.messageSeq >= this.nextSeq + MAX_SEQ_AHEAD) return 'ignored';
    let p = this.partial.get(f.messageSeq);
    if (!p) {
      p = { type: f.type, body: Buffer.alloc(f.length), ranges: [] };
      this.partial.set(f.messageSeq, p);
    } else if (p.type !== f.type || p.body.length !== f.length) {
      throw protocolError(`fragments of handshake message ${f.messageSeq} disagree on its type or length`, AlertDescription.illegal_parameter);
    }
    f.fragment.copy(p.body, f.fragmentOffset);
    p.ranges = mergeRange(p.ranges, [f.fragmentOffset, f.fragmentOffset + f.fragment.length]);
    return 'stored';
  }

  private isComplete(p: Partial): boolean {
    if (p.body.length === 0) return true;
    return p.ranges.length === 1 && p.ranges[0][0] === 0 && p.ranges[0][1] === p.body.length;
  }

  /** The next message in order if it is complete; advances nextSeq. */
  takeNext(): HandshakeMessage | null {
    const p = this.partial.get(this.nextSeq);
    if (!p || !this.isComplete(p)) return null;
    this.partial.delete(this.nextSeq);
    return { type: p.type, messageSeq: this.nextSeq++, body: p.body };
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

function mergeRange(ranges: Array<[number, number]>, add: [number, number]): Array<[number, number]> {
  if (add[1] <= add[0]) return ranges;
  const all = [...ranges, add].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
