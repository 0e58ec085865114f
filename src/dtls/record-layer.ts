// Record protection state per direction and epoch: sequence numbers, AEAD keys, replay windows.
import { CipherSuite, aeadOpen, aeadSeal, additionalData } from './crypto/ciphersuites';
import { DTLS_1_2, DtlsRecord, encodeRecord } from './protocol/record';
import { ReplayWindow } from './replay-window';
import { DtlsError } from './errors';

export interface EpochKeys { suite: CipherSuite; key: Buffer; salt: Buffer }

const MAX_SEQUENCE = 2 ** 48 - 1;

export class RecordLayer {
  private writeSeq = new Map<number, number>([[0, 0]]);
  private writeKeys = new Map<number, EpochKeys>();
  private readKeys = new Map<number, EpochKeys>();
  private windows = new Map<number, ReplayWindow>([[0, new ReplayWindow()]]);
  /** Epoch the peer's records are expected in (raised by its ChangeCipherSpec). */
  readEpoch = 0;

  setWriteKeys(epoch: number, keys: EpochKeys): void { this.writeKeys.set(epoch, keys); this.writeSeq.set(epoch, 0); }
  setReadKeys(epoch: number, keys: EpochKeys): void { this.readKeys.set(epoch, keys); this.windows.set(epoch, new ReplayWindow()); }
  hasReadKeys(epoch: number): boolean { return epoch === 0 || this.readKeys.has(epoch); }

  /** One encoded record in `epoch` with the next sequence number of that epoch. */
  seal(type: number, epoch: number, plaintext: Buffer): Buffer {
    const sequence = this.writeSeq.get(epoch) ?? 0;
    if (sequence >= MAX_SEQUENCE) throw new DtlsError('PROTOCOL', 'DTLS sequence numbers exhausted; a new handshake is needed');
    this.writeSeq.set(epoch, sequence + 1);
    if (epoch === 0) return encodeRecord({ type, version: DTLS_1_2, epoch, sequence, body: plaintext });
    const keys = this.writeKeys.get(epoch);
    if (!keys) throw new DtlsError('PROTOCOL', `no keys for epoch ${epoch}`);
    const explicitNonce = Buffer.alloc(8);
    explicitNonce.writeUInt16BE(epoch, 0);
    explicitNonce.writeUIntBE(sequence, 2, 6);
    const aad = additionalData(epoch, sequence, type, DTLS_1_2, plaintext.length);
    const body = aeadSeal(keys.suite, keys.key, keys.salt, explicitNonce, aad, plaintext);
    return encodeRecord({ type, version: DTLS_1_2, epoch, sequence, body });
  }

  /** Bytes a record in `epoch` adds around its plaintext. */
  overhead(epoch: number): number {
    const keys = this.writeKeys.get(epoch);
    return 13 + (epoch === 0 || !keys ? 0 : 8 + keys.suite.tagLength);
  }

  /**
   * The plaintext of a received record, or why it must be dropped: replayed or too old, no
   * keys (yet) for its epoch, or (epoch > 0) not authentic. Only authentic records move the replay window.
   */
  open(record: DtlsRecord): Buffer | 'no-keys' | 'replayed' | 'forged' {
    const window = this.windows.get(record.epoch);
    if (!window) return 'no-keys';
    if (!window.check(record.sequence)) return 'replayed';
    let plaintext: Buffer | null = record.body;
    if (record.epoch > 0) {
      const keys = this.readKeys.get(record.epoch);
      if (!keys) return 'no-keys';
      plaintext = aeadOpen(keys.suite, keys.key, keys.salt, record.body,
        (length) => additionalData(record.epoch, record.sequence, record.type, record.version, length));
      if (!plaintext) return 'forged';
    }
    window.mark(record.sequence);
    return plaintext;
  }
}
