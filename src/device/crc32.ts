// CRC-32 (IEEE 802.3, as zlib computes it) for the disk queue's record frames. node:zlib has
// crc32() only from Node 20.15 / 22.2; package.json promises Node >= 18.5, so older runtimes use
// this table-driven version (same results; tested against zlib's where both exist).
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The table-driven CRC-32 (exported for the test that compares it with zlib's). */
export function crc32Portable(data: Uint8Array): number {
  const t = (table ??= makeTable());
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export const crc32: (data: Uint8Array) => number = native ? (data) => native(data) >>> 0 : crc32Portable;
