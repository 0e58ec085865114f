// How a connection's messages reach the transport: the pacer (pacing.ts), the session limits
// asked after each connect (session-limits.ts), the outbox (outbox.ts) and, with `persist`, the
// disk queue in front of it (persist.ts). connection.ts owns the lifecycle (connect, retry,
// stop); this module builds the parts a message passes through and wires them to each other and
// to the connection, and says when a message cannot even be queued.
import type { ConnectionSettings, Transport, TransportError } from '../transports/transport';
import { DeviceError, type DoneCallback } from './errors';
import type { Gateway, GatewayTarget } from './gateway';
import type { SubDevices } from './gateway/sub-devices';
import { Outbox, type DeviceMessage, type OutboxHost } from './outbox';
import { Pacer } from './pacing';
import { PersistedQueue } from './persist';
import { SessionLimits, type SessionLimitsHost } from './session-limits';
import type { DeviceState } from './status';
import type { ConnectionOptions } from './connection-options';
import type { Timing } from './backoff';

/** What the send path needs from the connection that owns it. */
export interface SendPathOwner {
  /** The transport messages may go out on now: undefined unless connected. */
  readonly sendingTransport: Transport | undefined;
  /** The stale-callback guard (bumped on every start/stop). */
  readonly generation: number;
  /** `generation` is still the current one and the connection is not closed. */
  isCurrent(generation: number): boolean;
  redact(text: string): string;
  /** The number of waiting messages changed (status, and a lingering stop). */
  queueChanged(): void;
  /** The disk counts changed (status, throttled). */
  diskChanged(): void;
  /** A message was delivered. */
  delivered(): void;
  /** One message was refused or got no answer. */
  messageFailed(code: string): void;
  /** ThingsBoard refused the token or the certificate while messages were in flight. */
  permanent(err: TransportError): void;
  /** The connection closed while messages were in flight. */
  lost(err: TransportError): void;
  warn(text: string): void;
  info(text: string): void;
}

export interface SendPath {
  /** Keeps every rate-limit window at 80 % (pacing.ts); a gateway adds budgets with setBudget. */
  pacer: Pacer;
  limits: SessionLimits;
  outbox: Outbox;
  persisted: PersistedQueue | undefined;
}

export function buildSendPath(
  owner: SendPathOwner,
  settings: ConnectionSettings,
  options: ConnectionOptions,
  timing: Timing,
  subDevices: SubDevices | undefined,
): SendPath {
  const pacer = new Pacer(options.pacing);
  const link = new OutboxLink(owner);
  const limitsLink = new LimitsLink(owner, pacer, link, options.gateway === true, settings);
  const limits = new SessionLimits(limitsLink, options.rateLimits, options.pacing?.now, options.sessionLimitsAnswerMs);
  link.limits = limits;
  const outbox = new Outbox(link, settings.maxPayloadBytes, timing.maxResends, subDevices, pacer, options.costHook);
  // The limits only call the outbox once a session answers.
  limitsLink.outbox = outbox;
  const queue = outbox;
  const persisted =
    options.persist &&
    new PersistedQueue(options.persist, {
      enqueue: (message, done, gateway, diskId) => queue.enqueue(message, done, gateway, diskId),
      removeQueued: (ids) => queue.removeQueued(ids),
      isCurrent: (generation) => owner.isCurrent(generation),
      changed: () => owner.diskChanged(),
      warn: (text) => owner.warn(owner.redact(text)),
      info: (text) => owner.info(owner.redact(text)),
    });
  return { pacer, limits, outbox: queue, persisted };
}

// The outbox's and the limits' view of the owner: classes, not object literals, since they live
// as long as the connection: an object literal with a getter is a dictionary-mode object (a
// property table of its own) and each arrow function in it a closure, per connection.

/** What the outbox reports goes to the owner; sends go to the limits' burst detection. */
class OutboxLink implements OutboxHost {
  /** Publishes acknowledged so far (any session): the limits tell a silent broker from a dead one. */
  deliveredCount = 0;
  limits!: SessionLimits;

  constructor(private readonly owner: SendPathOwner) {}

  get sendingTransport(): Transport | undefined {
    return this.owner.sendingTransport;
  }

  get generation(): number {
    return this.owner.generation;
  }

  isCurrent(generation: number): boolean {
    return this.owner.isCurrent(generation);
  }

  redact(text: string): string {
    return this.owner.redact(text);
  }

  queueChanged(): void {
    this.owner.queueChanged();
  }

  sent(): void {
    this.limits.sent();
  }

  delivered(): void {
    this.deliveredCount++;
    this.owner.delivered();
  }

  messageFailed(code: string): void {
    this.owner.messageFailed(code);
  }

  permanent(err: TransportError): void {
    this.owner.permanent(err);
  }

  lost(err: TransportError): void {
    this.owner.lost(err);
  }
}

class LimitsLink implements SessionLimitsHost {
  outbox: Outbox | undefined;

  constructor(
    private readonly owner: SendPathOwner,
    readonly pacer: Pacer,
    private readonly link: OutboxLink,
    readonly gateway: boolean,
    private readonly settings: Pick<ConnectionSettings, 'host' | 'port'>,
  ) {}

  get delivered(): number {
    return this.link.deliveredCount;
  }

  limitPayload(bytes: number): void {
    this.outbox?.limitPayload(bytes);
  }

  warn(text: string): void {
    this.owner.warn(this.owner.redact(text));
  }

  isCurrent(generation: number): boolean {
    return this.owner.isCurrent(generation);
  }

  where(): string {
    return `${this.settings.host}:${this.settings.port}`;
  }
}

/**
 * Why a message cannot be queued at all: the queue is full. Messages read back after a restart
 * do not take the place of new ones; those being written to disk do.
 */
export function queueFull(path: Pick<SendPath, 'outbox' | 'persisted'>, queueSize: number, state: DeviceState): DeviceError | undefined {
  const { outbox, persisted } = path;
  const waiting = outbox.waiting + (persisted ? persisted.writing - persisted.recovering : 0);
  if (waiting < queueSize) return undefined;
  const why = state === 'connected' ? 'ThingsBoard is acknowledging more slowly than messages arrive' : `the connection is ${state}`;
  return new DeviceError(`not sent: the queue is full (${waiting} messages waiting; ${why}). Raise "queue size" or send less often.`, 'QUEUE_FULL');
}

/**
 * Queues a message the connection accepts (it is not stopped or refused): through the disk queue
 * with `persist`, else straight into the outbox; `done` at once when it cannot be queued.
 */
export function admit(
  path: Pick<SendPath, 'outbox' | 'persisted'>,
  { message, done, gateway }: { message: DeviceMessage; done: DoneCallback; gateway: GatewayTarget | undefined },
  at: { queueSize: number; state: DeviceState; generation: number; gateway: Gateway | undefined },
): void {
  const full = queueFull(path, at.queueSize, at.state);
  if (full) {
    done(full);
    return;
  }
  if (gateway && !at.gateway) {
    done(new DeviceError('not sent: this device is not a ThingsBoard gateway (tick "This device is a ThingsBoard gateway")', 'NOT_GATEWAY'));
    return;
  }
  // A sub-device's name is not forgotten while its message waits (gateway/sub-devices.ts).
  const ending = gateway && at.gateway ? at.gateway.held(gateway, done) : done;
  if (path.persisted) path.persisted.accept(message, ending, at.generation, gateway);
  else path.outbox.enqueue(message, ending, gateway);
}
