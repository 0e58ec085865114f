// The outbound half of a device connection: ONE bounded, ordered queue; at most
// transport.maxInFlight sends at once; telemetry that backs up goes out as one array publish
// (batch.ts). A message ends exactly once: done() when ThingsBoard has it, done(err) saying why
// not. What to do about the connection itself (reconnect, permanent failure) is the host's
// (connection.ts) decision; the outbox only reports what a send showed.
import type { FirstMessage, OutboundMessage, Transport, TransportError } from '../transports/transport';
import { batchable, buildBatchBody, fitsAlone, type Batchable, type BatchShape } from './batch';
import { batchRun } from './batch-run';
import { asTransportError, DeviceError, type DoneCallback } from './errors';
import { packCount, sendGateway, sendGatewayPack } from './gateway/send';
import type { GatewayTarget, SubDevices } from './gateway/sub-devices';
import { gatewayInFlight } from './gateway/send';
import { gatewayPackLimit } from './gateway/pacing';
import { Pacer, type BudgetName } from './pacing';
import { PaceGate } from './pace-gate';

/**
 * A message a node hands to the device layer: what goes to ThingsBoard, and for telemetry when
 * the node received it (epoch ms) and how its body can join an array publish (batch.ts). The
 * outbox keeps those two beside the message; the transport sees only {kind, body, qos}.
 */
export interface DeviceMessage extends OutboundMessage {
  receivedAt?: number;
  batchShape?: BatchShape;
}

export interface Entry extends Batchable {
  seq: number;
  done: DoneCallback;
  resends: number;
  /** Send alone: its batch was rejected, so its own answer must say whether it is the bad one. */
  solo: boolean;
  /** Gateway only: the sub-device it is for (gateway/send.ts); undefined = the device itself. */
  gateway?: GatewayTarget;
  /** Its record in the disk queue (persist.ts), when it has one. */
  diskId?: number;
  /** Telemetry data points in the body (counted when a data-point budget applies). */
  points?: number;
}

/** What one publish of `entries` costs per budget (pacing.ts); a gateway adds its own budgets. */
export type CostHook = (entries: readonly Entry[], costs: Partial<Record<BudgetName, number>>) => void;

/** What the outbox needs from the connection that owns it. */
export interface OutboxHost {
  /** The transport messages may go out on now: undefined unless connected. */
  readonly sendingTransport: Transport | undefined;
  /** The stale-callback guard: bumped on every start/stop, so answers of an older one are told apart. */
  readonly generation: number;
  /** `generation` is still the current one and the connection is not closed. */
  isCurrent(generation: number): boolean;
  redact(text: string): string;
  /** A publish went out (rate-limit diagnosis). */
  sent(): void;
  /** The number of waiting messages changed (status is throttled). */
  queueChanged(): void;
  /** A message was delivered (clears the "last message failed" status). */
  delivered(): void;
  /** One message was refused or got no answer (the status shows the code). */
  messageFailed(code: string): void;
  /** ThingsBoard refused the token or the certificate while messages were in flight. */
  permanent(err: TransportError): void;
  /** The connection closed while messages were in flight (they are back in the queue). */
  lost(err: TransportError): void;
}

export class Outbox {
  private readonly queue: Entry[] = [];
  /** Sends (publishes) outstanding, and the messages in them (a batch is one send). */
  private inFlightSends = 0;
  private inFlightMessagesCount = 0;
  private seq = 0;
  /** Send one message at a time (set after a drop with messages in flight). */
  private cautious = false;
  private pumpScheduled = false;
  /** The entry enqueue() is pumping right now: the only one that may go out without its own ts. */
  private arriving: Entry | undefined;
  /** Set by handOver(): where entries in flight go when this connection's stop fails them. */
  private forward: ((entries: Entry[]) => void) | undefined;
  /** Holds the queue back while a rate-limit window has no room (pace-gate.ts). */
  private readonly gate: PaceGate;

  constructor(
    private readonly host: OutboxHost,
    private maxPayloadBytes: number,
    private readonly maxResends: number,
    /** Set on a gateway connection: sub-devices are connected before their data goes out. */
    private readonly subDevices?: SubDevices,
    private readonly pacer: Pacer = new Pacer(),
    costHook?: CostHook,
  ) {
    const ready = (): void => {
      this.pump();
      this.host.queueChanged();
    };
    this.gate = new PaceGate(pacer, subDevices !== undefined, costHook, ready, () => this.host.queueChanged());
  }

  /** Pacing holds messages back now (status "paced"). */
  get paced(): boolean {
    return this.gate.holding;
  }

  /** ThingsBoard said how large a payload it takes (getSessionLimits): never above it. */
  limitPayload(bytes: number): void {
    if (bytes >= 16 && bytes < this.maxPayloadBytes) this.maxPayloadBytes = bytes;
  }

  /** Messages waiting behind the in-flight window. */
  get queued(): number {
    return this.queue.length;
  }

  /** Every message not yet ended: queued plus in flight. */
  get waiting(): number {
    return this.queue.length + this.inFlightMessagesCount;
  }

  /** A new connection session sends with the full window again. */
  restart(): void {
    this.cautious = false;
  }

  enqueue(message: DeviceMessage, done: DoneCallback, gateway?: GatewayTarget, diskId?: number): void {
    const { kind, body, qos, receivedAt, batchShape } = message;
    // Every field in the literal: all entries share one hidden class (V8), gateway or not.
    const entry: Entry = { seq: this.seq++, message: { kind, body, qos }, receivedAt, batchShape, done, resends: 0, solo: false, gateway, diskId, points: undefined };
    this.queue.push(entry);
    if (gateway) {
      this.pumpSoon();
    } else {
      this.arriving = entry;
      try {
        this.pump();
      } finally {
        this.arriving = undefined;
      }
    }
    this.host.queueChanged();
  }

  /**
   * Takes the queued (not in-flight) messages whose disk record is in `ids` out of the queue and
   * returns their done callbacks. The disk drops its oldest records, so the walk starts at the
   * head and stops once every one is found.
   */
  removeQueued(ids: ReadonlySet<number>): DoneCallback[] {
    const removed: DoneCallback[] = [];
    for (let i = 0; i < this.queue.length && removed.length < ids.size; ) {
      const entry = this.queue[i];
      if (entry.diskId !== undefined && ids.has(entry.diskId)) {
        this.queue.splice(i, 1);
        removed.push(entry.done);
      } else {
        i++;
      }
    }
    if (removed.length) this.host.queueChanged();
    return removed;
  }

  /**
   * Sub-device readings are sent on the next turn of the event loop: Node-RED delivers each
   * message in its own setImmediate, so the readings a flow sends together (a poll of many
   * devices) are all queued by then and go out in one packed publish (gateway/send.ts) instead
   * of one publish each, which is what a publish costs on both ends.
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * A redeployed config node for the same device takes over: every queued entry goes to `to` now,
   * and each one in flight follows if its send fails because this connection closed.
   */
  handOver(to: (entries: Entry[]) => void): void {
    this.forward = to;
    const entries = this.queue.splice(0, this.queue.length);
    this.host.queueChanged();
    if (entries.length > 0) to(entries);
  }

  /** Entries handed over by the connection this one replaces: older than anything queued here. */
  adopt(entries: Entry[]): void {
    let seq = (this.queue.length > 0 ? this.queue[0].seq : this.seq) - entries.length;
    for (const entry of entries) entry.seq = seq++;
    this.queue.unshift(...entries);
    this.pump();
    this.host.queueChanged();
  }

  /** Ends every queued (not in-flight) message with `error`. */
  failQueued(error: DeviceError): void {
    this.stopPacing();
    const entries = this.queue.splice(0, this.queue.length);
    for (const entry of entries) entry.done(error);
    this.host.queueChanged();
  }

  pump(): void {
    const host = this.host;
    const transport = host.sendingTransport;
    const generation = host.generation;
    // Re-checked every round: a transport may answer synchronously, and that can drop the session.
    while (transport && host.sendingTransport === transport && generation === host.generation && this.queue.length > 0) {
      // After a drop with messages in flight, one at a time until one is acknowledged: a message
      // the server answers by closing the session then cannot take innocent ones down with it.
      const limit = this.cautious ? 1 : this.subDevices && this.queue[0].gateway ? gatewayInFlight(transport) : Math.max(1, transport.maxInFlight || 1);
      if (this.inFlightSends >= limit) return;
      const count = this.cautious ? 1 : batchRun(this.queue, this.pacer, this.maxPayloadBytes);
      const pack = this.queue[0].gateway && this.subDevices && !this.cautious ? packCount(this.queue, transport, this.subDevices, this.maxPayloadBytes, gatewayPackLimit(this.pacer)) : 0;
      if (!this.gate.allows(this.queue, pack > 1 ? pack : count)) return;
      if (pack > 1) {
        // Several sub-devices in one publish: done() only once ThingsBoard acknowledged every part.
        const batch = this.queue.splice(0, pack);
        this.inFlightSends++;
        this.inFlightMessagesCount += pack;
        host.sent();
        sendGatewayPack(transport, this.subDevices as SubDevices, batch, (err) => this.onSent(batch, generation, err));
        continue;
      }
      if (this.queue[0].gateway && this.subDevices) {
        // One sub-device per publish: its PUBACK then proves exactly these messages.
        const batch = this.queue.splice(0, count);
        this.inFlightSends++;
        this.inFlightMessagesCount += count;
        host.sent();
        sendGateway(transport, this.subDevices, batch, this.maxPayloadBytes, (err) => this.onSent(count === 1 ? batch[0] : batch, generation, err));
        continue;
      }
      if (count === 1) {
        const entry = this.queue.shift() as Entry;
        this.inFlightSends++;
        this.inFlightMessagesCount++;
        host.sent();
        transmit(transport, this.messageFor(entry), (err) => this.onSent(entry, generation, err));
      } else {
        // Messages queued behind the in-flight window: one ThingsBoard array for all of them.
        const batch = this.queue.splice(0, count);
        const first = batch[0].message;
        const body = buildBatchBody(batch, count);
        this.inFlightSends++;
        this.inFlightMessagesCount += count;
        host.sent();
        transmit(transport, { kind: 'telemetry', body, qos: first.qos }, (err) => this.onSent(batch, generation, err));
      }
    }
  }

  /**
   * A reading that waited (for a connection, behind the window, or to be sent again after a
   * drop) carries the time the node received it, as a one-entry array: without a ts ThingsBoard
   * would stamp it with its late arrival. Only one sent the moment it arrived goes as it is.
   */
  private messageFor(entry: Entry): OutboundMessage {
    const waited = entry !== this.arriving || entry.solo;
    return waited && batchable(entry) && fitsAlone(entry, this.maxPayloadBytes)
      ? { kind: entry.message.kind, body: buildBatchBody([entry], 1), qos: entry.message.qos }
      : entry.message;
  }

  /**
   * The head message, taken to go out with the connect (Transport.connectWith): in flight from
   * now. `settle` ends it as a send of pump() ends, except NOT_SENT (it never left): back to the
   * queue, no resend counted, so the connect's failure ends it with every queued message.
   */
  takeForConnect(): FirstMessage | undefined {
    const entry = this.queue[0];
    if (!entry || entry.gateway || this.inFlightSends > 0 || !this.gate.allows(this.queue, 1)) return undefined;
    this.queue.shift();
    this.inFlightSends++;
    this.inFlightMessagesCount++;
    this.host.sent();
    const generation = this.host.generation;
    const settle = (failure?: TransportError): void => {
      if (failure?.code === 'NOT_SENT' && this.host.isCurrent(generation)) {
        this.inFlightSends--;
        this.inFlightMessagesCount--;
        this.putBack([entry]);
        this.host.queueChanged();
        return;
      }
      this.onSent(entry, generation, failure);
    };
    return { message: this.messageFor(entry), settle };
  }

  /** The connection stopped: nothing waits for the pacer any more. */
  stopPacing(): void {
    this.gate.stop();
  }

  /** One send ended: `sent` is a message sent alone or the messages of one array publish. */
  private onSent(sent: Entry | Entry[], generation: number, failure: unknown): void {
    const host = this.host;
    const count = Array.isArray(sent) ? sent.length : 1;
    this.inFlightSends--;
    this.inFlightMessagesCount -= count;
    host.queueChanged();
    if (failure === undefined || failure === null) {
      this.cautious = false;
      host.delivered();
      if (Array.isArray(sent)) for (const entry of sent) entry.done();
      else sent.done();
      if (generation === host.generation) this.pump();
      return;
    }
    const err = asTransportError(failure);
    const entries = Array.isArray(sent) ? sent : [sent];
    if (!host.isCurrent(generation)) {
      if (this.forward) return this.forward(entries);
      // stop() already failed everything that was queued; these were in flight then.
      for (const entry of entries) entry.done(new DeviceError('not sent: the connection was stopped while the message was in flight', 'STOPPED'));
      return;
    }
    switch (err.kind) {
      case 'rejected':
        if (count > 1) {
          // Which message is the bad one? Each goes again on its own and gets its own answer.
          for (const entry of entries) entry.solo = true;
          this.putBack(entries);
        } else {
          const about = entries[0].gateway ? `sub-device ${JSON.stringify(entries[0].gateway.device)}: ` : '';
          entries[0].done(new DeviceError(host.redact(`not sent: ${about}${err.message}`), err.code));
          host.messageFailed(err.code);
        }
        this.pump();
        return;
      case 'timeout': {
        // No answer at all: the same for every message of the array (resending them one by one
        // would only multiply the wait when the peer is gone).
        const error = new DeviceError(host.redact(`not sent: ${err.message}`), err.code);
        for (const entry of entries) entry.done(error);
        host.messageFailed(err.code);
        this.pump();
        return;
      }
      case 'unauthorized':
      case 'certificate':
        this.putBack(entries);
        host.permanent(err);
        return;
      case 'closed':
      case 'unreachable':
      default:
        this.cautious = true;
        this.putBack(this.countResend(entries, count > 1, err));
        host.lost(err);
    }
  }

  /** The entries that may go again after their connection closed; the others fail (poison). */
  private countResend(entries: Entry[], fromBatch: boolean, err: TransportError): Entry[] {
    const again: Entry[] = [];
    for (const entry of entries) {
      entry.resends++;
      // Judged alone from now on: an innocent message must not share a poison one's resends.
      if (fromBatch) entry.solo = true;
      if (entry.resends > this.maxResends) {
        entry.done(
          new DeviceError(
            this.host.redact(
              `not sent: the connection closed every time this message was in flight (${entry.resends} times); ` +
                `ThingsBoard may be refusing it (payload too large for the server, rate limits). Last error: ${err.message}`,
            ),
            'RESENDS_EXHAUSTED',
          ),
        );
      } else {
        again.push(entry);
      }
    }
    return again;
  }

  /**
   * At-least-once: messages whose send failed go back in their original places (`entries` are
   * in order; the queue is always in seq order).
   */
  private putBack(entries: Entry[]): void {
    let i = 0;
    for (const entry of entries) {
      while (i < this.queue.length && this.queue[i].seq < entry.seq) i++;
      this.queue.splice(i, 0, entry);
      i++;
    }
  }
}

function transmit(transport: Transport, message: OutboundMessage, callback: (err?: unknown) => void): void {
  if (transport.sendWithCallback) {
    transport.sendWithCallback(message, callback);
    return;
  }
  let sending: Promise<void>;
  try {
    sending = transport.send(message);
  } catch (err) {
    sending = Promise.reject(err);
  }
  sending.then(() => callback(), callback);
}
