// Server-side RPC commands a device was given and what became of them: delivered to the flow
// and waiting for its reply (open), being answered, or answered. It decides
// - whether a command that arrives is new or a repeat of one the flow already has (ThingsBoard
//   sends a persistent RPC again after a reconnect, with the same id): a repeat is not
//   delivered twice. ThingsBoard numbers RPCs per device and may start again from 1 after it
//   restarts, so a repeat is the same id with the same method and params, not the id alone;
//   the same id with another command is a new command;
// - whether a reply may go: only to an open command, once ("already answered" otherwise).
// Entries expire (an RPC ThingsBoard gave up on long ago cannot be answered) and are bounded.
import { EMPTY_MAP } from '../empty';
import type { RpcRequest } from '../transports/transport';

/** A command older than this can no longer be answered (ThingsBoard's own RPC timeouts are shorter). */
export const RPC_LIFETIME_MS = 10 * 60_000;
/** At most this many commands are remembered per device (open and answered). */
export const RPC_MEMORY = 1000;

type State = 'open' | 'answering' | 'answered';

interface Command {
  state: State;
  /** method + params, to tell a repeat from a new command with a reused id. */
  fingerprint: string;
  at: number;
}

export type ReplyCheck = { ok: true } | { ok: false; code: 'ALREADY_ANSWERED' | 'UNKNOWN_RPC'; reason: string };

export class RpcBook {
  /** Made on the first command: most devices never get one. */
  private commandsMap: Map<number, Command> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  private get commands(): ReadonlyMap<number, Command> {
    return this.commandsMap ?? EMPTY_MAP;
  }

  /** True when `request` is new (deliver it); false for a repeat of one the flow has had. */
  arrived(request: RpcRequest): boolean {
    this.prune();
    const fingerprint = fingerprintOf(request);
    const known = this.commands.get(request.id);
    if (known && known.fingerprint === fingerprint) return false;
    // Re-inserted at the end: the Map's order is the age order prune() relies on.
    const commands = (this.commandsMap ??= new Map());
    commands.delete(request.id);
    commands.set(request.id, { state: 'open', fingerprint, at: this.now() });
    return true;
  }

  /** Whether a reply to `id` may go now; if so, it is marked as being answered. */
  beginReply(id: number): ReplyCheck {
    this.prune();
    const command = this.commands.get(id);
    if (!command) {
      return {
        ok: false,
        code: 'UNKNOWN_RPC',
        reason:
          `this device has no open RPC request ${id}: msg.rpc must come unchanged from a thingsboard-in node of the same device, ` +
          `within ${RPC_LIFETIME_MS / 60_000} minutes`,
      };
    }
    if (command.state !== 'open') {
      return { ok: false, code: 'ALREADY_ANSWERED', reason: `RPC request ${id} was already answered (a request takes one reply)` };
    }
    command.state = 'answering';
    return { ok: true };
  }

  /** The reply reached ThingsBoard (true) or did not (false: it may be answered again). */
  endReply(id: number, sent: boolean): void {
    const command = this.commands.get(id);
    if (!command || command.state !== 'answering') return;
    command.state = sent ? 'answered' : 'open';
  }

  get size(): number {
    return this.commands.size;
  }

  /** Whether a command still awaits (or is getting) the flow's reply. */
  hasOpen(): boolean {
    this.prune();
    for (const command of this.commands.values()) if (command.state !== 'answered') return true;
    return false;
  }

  clear(): void {
    this.commandsMap?.clear();
  }

  /** Whether every command it had has expired (nothing left to answer or to tell a repeat by). */
  isEmpty(): boolean {
    this.prune();
    return this.commands.size === 0;
  }

  private prune(): void {
    const commands = this.commandsMap;
    if (!commands) return;
    const oldest = this.now() - RPC_LIFETIME_MS;
    for (const [id, command] of commands) {
      if (command.at >= oldest && commands.size <= RPC_MEMORY) break;
      commands.delete(id);
    }
  }
}

/** How often, at most, RpcBooks looks for books whose commands have all expired. */
export const BOOK_SWEEP_MS = 60_000;

/**
 * One RpcBook per device name, for a gateway: ThingsBoard numbers RPC per sub-device. A book
 * whose commands have all expired is forgotten (looked for when a device without a book gets
 * one, at most once per BOOK_SWEEP_MS), so a gateway that runs for months keeps books only for
 * the sub-devices that had RPC in the last RPC_LIFETIME_MS, not for every name it ever served.
 */
export class RpcBooks {
  private readonly books = new Map<string, RpcBook>();
  private sweptAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.sweptAt = now();
  }

  get(device: string): RpcBook | undefined {
    return this.books.get(device);
  }

  /** The book of `device`, made when it has none. */
  of(device: string): RpcBook {
    let book = this.books.get(device);
    if (!book) {
      this.sweep();
      this.books.set(device, (book = new RpcBook(this.now)));
    }
    return book;
  }

  get size(): number {
    return this.books.size;
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.sweptAt < BOOK_SWEEP_MS) return;
    this.sweptAt = now;
    for (const [device, book] of this.books) if (book.isEmpty()) this.books.delete(device);
  }
}

function fingerprintOf(request: RpcRequest): string {
  let params: string;
  try {
    params = JSON.stringify(request.params) ?? 'undefined';
  } catch {
    params = String(request.params);
  }
  return `${request.method}\u0000${params}`;
}
