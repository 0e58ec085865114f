// Record protection state per direction and epoch: sequence numbers, AEAD keys, replay windows.
// This is the per-record hot path of an established session, so each epoch's key is prepared
// once (RecordKey: key bytes + nonce buffer), the additional data is written into one buffer per
// direction, and a sealed record is built in a single buffer (header, explicit nonce,
// ciphertext, tag) instead of being concatenated from pieces.
// `Buffer` imported, not the global: on Node 20 the global is a getter, paid on every per-record use.
import { Buffer } from 'node:buffer';
import { ADDITIONAL_DATA_LENGTH, CipherSuite, EXPLICIT_NONCE_LENGTH, RecordKey, writeAdditionalData } from './crypto/ciphersuites';
import { DTLS_1_2, DtlsRecord, MAX_RECORD_BODY, RECORD_HEADER_LENGTH, readSequence, writeRecordHeader } from './protocol/record';
import { ReplayWindow } from './replay-window';
import { DtlsError } from './errors';
import { cidOverhead, sealCidRecord } from './protocol/connection-id';

export interface EpochKeys { suite: CipherSuite; key: Buffer; salt: Buffer }

const MAX_SEQUENCE = 2 ** 48 - 1;

interface WriteState { sequence: number; key: RecordKey | null }
interface ReadState { window: ReplayWindow; key: RecordKey | null }

export class RecordLayer {
  private readonly writers = new Map<number, WriteState>([[0, { sequence: 0, key: null }]]);
  private readonly readers = new Map<number, ReadState>([[0, { window: new ReplayWindow(), key: null }]]);
  /** Reused for every record: setAAD copies it before seal/open returns. */
  private readonly writeAad = Buffer.alloc(ADDITIONAL_DATA_LENGTH);
  private readonly readAad = Buffer.alloc(ADDITIONAL_DATA_LENGTH);
  /** Epoch the peer's records are expected in (raised by its ChangeCipherSpec). */
  readEpoch = 0;
  /**
   * The CID the server asked us to send with (RFC 9146), once negotiated: every protected record
   * we send then carries it (protocol/connection-id.ts). Null: plain RFC 6347 records.
   */
  writeCid: Buffer | null = null;

  setWriteKeys(epoch: number, keys: EpochKeys): void {
    this.writers.set(epoch, { sequence: 0, key: new RecordKey(keys.suite, keys.key, keys.salt) });
  }

  setReadKeys(epoch: number, keys: EpochKeys): void {
    this.readers.set(epoch, { window: new ReplayWindow(), key: new RecordKey(keys.suite, keys.key, keys.salt) });
  }


  /** One encoded record in `epoch` with the next sequence number of that epoch. */
  seal(type: number, epoch: number, plaintext: Buffer): Buffer {
    const state = this.writers.get(epoch);
    if (!state) throw new DtlsError('PROTOCOL', `no keys for epoch ${epoch}`);
    const sequence = state.sequence;
    if (sequence >= MAX_SEQUENCE) throw new DtlsError('PROTOCOL', 'DTLS sequence numbers exhausted; a new handshake is needed');
    state.sequence = sequence + 1;
    const key = state.key;
    if (!key) {
      const record = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + plaintext.length);
      writeRecordHeader(record, 0, type, DTLS_1_2, epoch, sequence, plaintext.length);
      plaintext.copy(record, RECORD_HEADER_LENGTH);
      return record;
    }
    if (this.writeCid) return sealCidRecord(key, DTLS_1_2, epoch, sequence, this.writeCid, type, plaintext);
    const bodyLength = EXPLICIT_NONCE_LENGTH + plaintext.length + key.tagLength;
    // Every byte is written below (RecordKey.sealInto checks its part), so no zero-fill.
    const record = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + bodyLength);
    writeRecordHeader(record, 0, type, DTLS_1_2, epoch, sequence, bodyLength);
    // The explicit nonce is the record's own epoch + sequence (header bytes 3..10): unique per
    // key (RFC 6655 3 and RFC 5288 3 allow the sequence number), no random bytes per record. A
    // loop, not Buffer#copy: a copy within one buffer makes a view object per record.
    for (let i = 0; i < EXPLICIT_NONCE_LENGTH; i++) record[RECORD_HEADER_LENGTH + i] = record[3 + i];
    writeAdditionalData(this.writeAad, 0, epoch, sequence, type, DTLS_1_2, plaintext.length);
    key.sealInto(record, RECORD_HEADER_LENGTH, this.writeAad, plaintext);
    return record;
  }

  /** Bytes a record in `epoch` adds around its plaintext. */
  overhead(epoch: number): number {
    const key = this.writers.get(epoch)?.key;
    if (epoch === 0 || !key) return RECORD_HEADER_LENGTH;
    return RECORD_HEADER_LENGTH + EXPLICIT_NONCE_LENGTH + key.tagLength + (this.writeCid ? cidOverhead(this.writeCid) : 0);
  }

  /**
   * An established session's usual datagram, one protected record of `type` in the read epoch
   * that fills it, opened where it lies (no record list, record object or view of its body, as
   * parseDatagram() and open() make): its plaintext, or 'dropped' when it is replayed, too old or
   * not authentic (open() says which; all are silently discarded, RFC 6347 4.1.2.7). Null when
   * the datagram is anything else: it goes the general way.
   */
  openLone(d: Buffer, type: number): Buffer | 'dropped' | null {
    const epoch = this.readEpoch;
    const bodyLength = d.length - RECORD_HEADER_LENGTH;
    if (epoch === 0 || bodyLength < 0 || d[0] !== type || ((d[1] << 8) | d[2]) !== DTLS_1_2) return null;
    if (((d[3] << 8) | d[4]) !== epoch || ((d[11] << 8) | d[12]) !== bodyLength || bodyLength > MAX_RECORD_BODY) return null;
    const state = this.readers.get(epoch);
    const key = state?.key;
    if (!state || !key) return null;
    const sequence = readSequence(d, 0);
    if (!state.window.check(sequence)) return 'dropped';
    const length = key.plaintextLength(bodyLength);
    if (length < 0) return 'dropped';
    writeAdditionalData(this.readAad, 0, epoch, sequence, type, DTLS_1_2, length);
    const plaintext = key.openAt(d, RECORD_HEADER_LENGTH, bodyLength, this.readAad);
    if (!plaintext) return 'dropped';
    state.window.mark(sequence);
    return plaintext;
  }

  /**
   * The plaintext of a received record, or why it must be dropped: replayed or too old, no
   * keys (yet) for its epoch, or (epoch > 0) not authentic. Only authentic records move the replay window.
   */
  open(record: DtlsRecord): Buffer | 'no-keys' | 'replayed' | 'forged' {
    const state = this.readers.get(record.epoch);
    if (!state) return 'no-keys';
    if (!state.window.check(record.sequence)) return 'replayed';
    let plaintext: Buffer | null = record.body;
    if (record.epoch > 0) {
      const key = state.key;
      if (!key) return 'no-keys';
      const length = key.ciphertextLength(record.body);
      if (length < 0) return 'forged';
      writeAdditionalData(this.readAad, 0, record.epoch, record.sequence, record.type, record.version, length);
      plaintext = key.open(record.body, this.readAad);
      if (!plaintext) return 'forged';
    }
    state.window.mark(record.sequence);
    return plaintext;
  }
}
