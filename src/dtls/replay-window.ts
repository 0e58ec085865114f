// Anti-replay sliding window (RFC 6347 4.1.2.6, RFC 4303 3.4.3) over 48-bit sequence numbers.
// A record is checked before decryption (cheap rejection) and marked only after it authenticated,
// so forged records cannot move the window.
//
// Plain numbers, no BigInt: this runs for every received record. Sequence numbers are below
// 2^48, exact in a double; the 64-bit bitmap is two unsigned 32-bit words (JS bit operators
// work on 32 bits): `low` holds offsets 0..31 behind the highest, `high` offsets 32..63.
export const MAX_WINDOW = 64;

export class ReplayWindow {
  private highest = -1;
  private low = 0; // bit i set = (highest - i) seen, i in 0..31
  private high = 0; // bit i set = (highest - 32 - i) seen, i in 0..31
  private readonly size: number;

  constructor(size = MAX_WINDOW) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_WINDOW) throw new RangeError(`replay window size must be 1..${MAX_WINDOW}, not ${size}`);
    this.size = size;
  }

  /** True when `seq` is new and not too old. */
  check(seq: number): boolean {
    if (seq > this.highest) return true;
    const diff = this.highest - seq;
    if (diff >= this.size) return false;
    return diff < 32 ? ((this.low >>> diff) & 1) === 0 : ((this.high >>> (diff - 32)) & 1) === 0;
  }

  mark(seq: number): void {
    if (seq > this.highest) {
      this.shift(this.highest < 0 ? MAX_WINDOW : seq - this.highest);
      this.low = (this.low | 1) >>> 0;
      this.highest = seq;
      return;
    }
    const diff = this.highest - seq;
    if (diff >= this.size) return;
    if (diff < 32) this.low = (this.low | (1 << diff)) >>> 0;
    else this.high = (this.high | (1 << (diff - 32))) >>> 0;
  }

  /**
   * Moves every bit `n` (>= 1) places towards older; bits beyond 63 fall out. JS masks shift
   * counts to 5 bits (`x << 32` is `x << 0`), so every count used here stays within 0..31.
   */
  private shift(n: number): void {
    if (n >= 64) {
      this.low = this.high = 0;
    } else if (n >= 32) {
      this.high = (this.low << (n - 32)) >>> 0;
      this.low = 0;
    } else {
      this.high = ((this.high << n) | (this.low >>> (32 - n))) >>> 0;
      this.low = (this.low << n) >>> 0;
    }
  }
}
