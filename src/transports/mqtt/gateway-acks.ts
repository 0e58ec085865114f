// ThingsBoard's gateway acknowledges a publish that carries several sub-devices ONCE PER DEVICE
// ENTRY, every PUBACK with the packet's id, each after that device's part was accepted; a part
// that fails closes the connection. So the first PUBACK of such a publish proves only its first
// part. This file makes "acknowledged" mean "every part accepted":
// - a packed publish settles only when as many PUBACKs as it has device entries arrived (counted
//   from mqtt.js's 'packetreceive', which comes before mqtt.js's own handling); a close before
//   that fails it (kind 'closed': the device layer sends it again, at least once);
// - its packet id stays reserved until then (HoldingIds), so a late PUBACK of it can never be
//   taken for another packet's;
// - a broker that acknowledges once per packet (any plain MQTT broker) is recognised on the
//   first packed publish: no further PUBACK within PROBE_MS while the connection stays open.
//   That publish then counts as delivered on its one PUBACK (for such a broker it proves the
//   whole packet) and no more publishes are packed. Once the server has shown one PUBACK per
//   entry, it is trusted to keep doing so: later packs wait for all of theirs, however long.
// - the PUBACKs after a pack's first are counted on the socket and never reach mqtt.js
//   (extra-acks.ts), which has nothing to do with them: its outgoing entry went with the first.
import { EMPTY_MAP } from '../../empty';
import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { ExtraAckFilter, filterIncoming } from './extra-acks';
import { TransportError, type SendCallback } from '../transport';

/** How long the first packed publish waits for its second PUBACK before the broker counts as "one per packet". */
export const PROBE_MS = 10_000;

interface Pack {
  need: number;
  got: number;
  firstAcked: boolean;
  /** Its first PUBACK went through to mqtt.js (extra-acks.ts): later ones are counted there. */
  firstSeen: boolean;
  id: number;
  body: Buffer;
  callback: SendCallback;
  timer?: NodeJS.Timeout;
  settled: boolean;
}

/** mqtt.js's message-id provider, skipping ids whose extra PUBACKs may still come. */
export class HoldingIds {
  private next = 1 + Math.floor(Math.random() * 65534);
  private last = 0;

  constructor(private readonly held: Pick<ReadonlyMap<number, unknown>, 'has'>) {}

  allocate(): number | null {
    for (let i = 0; i < 65535; i++) {
      const id = this.next;
      this.next = id === 65535 ? 1 : id + 1;
      if (!this.held.has(id)) {
        this.last = id;
        return id;
      }
    }
    return null;
  }

  getLastAllocated(): number | null {
    return this.last || null;
  }

  register(id: number): boolean {
    return !this.held.has(id);
  }

  deallocate(): void {}

  clear(): void {}
}

export class PackedAcks {
  /** Packed publishes by packet id (set when mqtt.js writes them). */
  // Both made by the first pack: only a gateway sends packs (memory per idle connection).
  private byIdMap: Map<number, Pack> | undefined;
  private byBodyMap: Map<Buffer, Pack> | undefined;
  /** 'probe' until the server showed how it acknowledges packs; 'off': one PUBACK per packet. */
  private mode: 'probe' | 'perEntry' | 'off' = 'probe';
  private client: MqttClient | undefined;
  /** The packets of `client` are listened to. */
  private watching = false;

  /** A new id provider for a new mqtt.js client. */
  ids(): HoldingIds {
    return new HoldingIds(this);
  }

  /** Whether a pack waits for PUBACKs with packet id `id` (HoldingIds does not hand it out). */
  has(id: number): boolean {
    return this.byIdMap?.has(id) ?? false;
  }

  private get byId(): ReadonlyMap<number, Pack> {
    return this.byIdMap ?? EMPTY_MAP;
  }

  private get byBody(): ReadonlyMap<Buffer, Pack> {
    return this.byBodyMap ?? EMPTY_MAP;
  }

  /** Whether publishes may carry several sub-devices (false once the broker showed one PUBACK per packet). */
  get packing(): boolean {
    return this.mode !== 'off';
  }

  /** The server has shown one PUBACK per device entry: a pack waits for all, however long. */
  get proven(): boolean {
    return this.mode === 'perEntry';
  }

  /** Counts the extra PUBACKs on `socket` before mqtt.js reads it (extra-acks.ts). */
  watch(socket: Duplex): void {
    filterIncoming(socket, new ExtraAckFilter(this));
  }

  /** A success PUBACK for `id` arrived on the socket: true when it is a pack's extra one (counted here). */
  extraAck(id: number): boolean {
    const pack = this.byId.get(id);
    if (!pack) return false;
    if (!pack.firstSeen) {
      pack.firstSeen = true;
      return false;
    }
    pack.got++;
    this.check(pack);
    return true;
  }

  /** The client of the current connection: its packets are watched once it carries a pack. */
  attach(client: MqttClient): void {
    this.client = client;
    this.watching = false;
  }

  /**
   * Listens to the packets of the current client, from its first pack on: most connections never
   * send one, and a listener is two closures and two event entries per connection (and a call
   * per packet).
   */
  private watchPackets(): void {
    const client = this.client;
    if (!client || this.watching) return;
    this.watching = true;
    client.on('packetsend', (packet: { cmd: string; payload?: unknown; messageId?: number }) => {
      if (packet.cmd !== 'publish' || !Buffer.isBuffer(packet.payload)) return;
      const pack = this.byBody.get(packet.payload);
      if (!pack || packet.messageId === undefined) return;
      this.byBodyMap?.delete(packet.payload);
      pack.id = packet.messageId;
      (this.byIdMap ??= new Map()).set(pack.id, pack);
    });
    client.on('packetreceive', (packet: { cmd: string; messageId?: number; reasonCode?: number }) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
      const pack = this.byId.get(packet.messageId);
      if (!pack) return;
      if (packet.reasonCode !== undefined && packet.reasonCode >= 0x80) {
        // MQTT 5: one device entry refused (0x97: its rate limit). The first one reaches mqtt.js's
        // callback as well; a later one is only seen here.
        this.settle(pack, new TransportError(`ThingsBoard refused a part of the message (PUBACK 0x${packet.reasonCode.toString(16)})`, 'rejected', `PUBACK_${packet.reasonCode}`));
        return;
      }
      pack.got++;
      this.check(pack);
    });
  }

  /**
   * `publish` sends `body` (QoS 1) and calls back on its first PUBACK (mqtt.js); `entries` = device
   * entries in the body. `callback` once: every part accepted, or why not.
   */
  publish(body: Buffer, entries: number, publish: (callback: SendCallback) => void, callback: SendCallback): void {
    const pack: Pack = { need: entries, got: 0, firstAcked: false, firstSeen: false, id: -1, body, callback, settled: false };
    this.watchPackets();
    (this.byBodyMap ??= new Map()).set(body, pack);
    publish((err) => {
      if (err) return this.settle(pack, err);
      pack.firstAcked = true;
      this.check(pack);
      if (!pack.settled && this.mode === 'probe') {
        pack.timer = setTimeout(() => {
          // The connection is open and no second PUBACK came: a broker that acknowledges once
          // per packet, for which that PUBACK covers the whole packet.
          this.mode = 'off';
          this.settle(pack);
        }, PROBE_MS);
      }
    });
  }

  /** The connection is gone: every pack still waiting fails (it may not have arrived whole). */
  failAll(err: TransportError): void {
    for (const pack of [...this.byId.values(), ...this.byBody.values()]) this.settle(pack, err);
  }

  private check(pack: Pack): void {
    if (pack.settled || !pack.firstAcked || pack.got < pack.need) return;
    if (this.mode === 'probe') this.mode = 'perEntry';
    this.settle(pack);
  }

  private settle(pack: Pack, err?: TransportError): void {
    if (pack.settled) return;
    pack.settled = true;
    if (pack.timer) clearTimeout(pack.timer);
    if (this.byId.get(pack.id) === pack) this.byIdMap?.delete(pack.id);
    if (this.byBody.get(pack.body) === pack) this.byBodyMap?.delete(pack.body);
    pack.callback(err);
  }
}
