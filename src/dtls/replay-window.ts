// Anti-replay sliding window (RFC 6347 4.1.2.6, RFC 4303 3.4.3) over 48-bit sequence numbers.
// A record is checked before decryption (cheap rejection) and marked only after it authenticated,
// so forged records cannot move the window.
export class ReplayWindow {
  private highest = -1;
  private bits = 0n; // bit i set = (highest - i) seen
  constructor(private readonly size = 64) {}

  /** True when `seq` is new and not too old. */
  check(seq: number): boolean {
    if (seq > this.highest) return true;
    const diff = this.highest - seq;
    if (diff >= this.size) return false;
    return ((this.bits >> BigInt(diff)) & 1n) === 0n;
  }

  mark(seq: number): void {
    const mask = (1n << BigInt(this.size)) - 1n;
    if (seq > this.highest) {
      const shift = this.highest < 0 ? this.size : seq - this.highest;
      this.bits = shift >= this.size ? 1n : ((this.bits << BigInt(shift)) | 1n) & mask;
      this.highest = seq;
    } else {
      const diff = this.highest - seq;
      if (diff < this.size) this.bits |= 1n << BigInt(diff);
    }
  }
}
