// Bounds-checked reading and simple writing of TLS vectors. Every read past the end throws a
// PROTOCOL DtlsError (decode_error), so a hostile datagram can never cause anything else.
import { protocolError } from '../errors';

export class ByteReader {
  private pos = 0;
  constructor(private readonly buf: Buffer, private readonly what = 'message') {}

  get remaining(): number { return this.buf.length - this.pos; }
  get offset(): number { return this.pos; }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw protocolError(`${this.what} is truncated`);
  }
  u8(): number { this.need(1); return this.buf[this.pos++]; }
  u16(): number { this.need(2); const v = this.buf.readUInt16BE(this.pos); this.pos += 2; return v; }
  u24(): number { this.need(3); const v = this.buf.readUIntBE(this.pos, 3); this.pos += 3; return v; }
  u48(): number { this.need(6); const v = this.buf.readUIntBE(this.pos, 6); this.pos += 6; return v; }
  bytes(n: number): Buffer { this.need(n); const v = this.buf.subarray(this.pos, this.pos + n); this.pos += n; return v; }
  vec8(): Buffer { return this.bytes(this.u8()); }
  vec16(): Buffer { return this.bytes(this.u16()); }
  vec24(): Buffer { return this.bytes(this.u24()); }
  rest(): Buffer { return this.bytes(this.remaining); }
  end(): void { if (this.remaining !== 0) throw protocolError(`${this.what} has ${this.remaining} trailing bytes`); }
}

export function u8(v: number): Buffer { return Buffer.from([v & 0xff]); }
export function u16(v: number): Buffer { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; }
export function u24(v: number): Buffer { const b = Buffer.alloc(3); b.writeUIntBE(v, 0, 3); return b; }
export function u48(v: number): Buffer { const b = Buffer.alloc(6); b.writeUIntBE(v, 0, 6); return b; }
export function vec8(b: Buffer): Buffer { return Buffer.concat([u8(b.length), b]); }
export function vec16(b: Buffer): Buffer { return Buffer.concat([u16(b.length), b]); }
export function vec24(b: Buffer): Buffer { return Buffer.concat([u24(b.length), b]); }
