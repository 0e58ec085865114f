// The send side's bookkeeping of its requests on the Agent (coap.ts send()): one Exchange per
// message, from its first datagram until its promise is settled and the library is done with it.
// Two flags because the two ends differ: a NON message settles when written but stays for a
// listening window; a request the library still works on must be aborted exactly once (a second
// abort corrupts the Agent's counters).
import type { OutgoingMessage } from 'coap';
import type { TransportError } from '../transport';
import { requestToken } from './library-shim';

export interface Exchange {
  req: OutgoingMessage;
  resolve: () => void;
  reject: (err: TransportError) => void;
  /** The promise was resolved or rejected. */
  settled: boolean;
  /** The Agent has finished its bookkeeping for this request (answered, or we aborted it). */
  finished: boolean;
  deadline?: NodeJS.Timeout;
  lastMessageId: number;
}

export class SendExchanges {
  private readonly open = new Set<Exchange>();

  /** `abort`: stops the library's work on a request; `expired`: a deadline passed. */
  constructor(
    private readonly abort: (req: OutgoingMessage) => void,
    private readonly expired: (ex: Exchange) => void,
  ) {}

  start(req: OutgoingMessage, resolve: () => void, reject: (err: TransportError) => void): Exchange {
    const ex: Exchange = { req, resolve, reject, settled: false, finished: false, lastMessageId: -1 };
    this.open.add(ex);
    return ex;
  }

  has(ex: Exchange): boolean {
    return this.open.has(ex);
  }

  /** Every open exchange (a copy: finishing them changes the set). */
  all(): Exchange[] {
    return [...this.open];
  }

  /** The open exchange whose request carries the CoAP `token`. */
  byToken(token: Buffer): Exchange | undefined {
    if (token.length === 0) return undefined;
    for (const ex of this.open) {
      const reqToken = requestToken(ex.req);
      if (reqToken && Buffer.compare(reqToken, token) === 0) return ex;
    }
    return undefined;
  }

  /** The Agent counted the request as answered: forget it without aborting. */
  answered(ex: Exchange): void {
    ex.finished = true;
    this.clearDeadline(ex);
    this.open.delete(ex);
  }

  armDeadline(ex: Exchange, ms: number): void {
    this.clearDeadline(ex);
    ex.deadline = setTimeout(() => this.expired(ex), ms);
  }

  /** Stops the library's work on a request (once: a second abort corrupts its counters). */
  finish(ex: Exchange): void {
    this.clearDeadline(ex);
    this.open.delete(ex);
    if (ex.finished) return;
    ex.finished = true;
    this.abort(ex.req);
  }

  settle(ex: Exchange, err?: TransportError): void {
    if (ex.settled) return;
    ex.settled = true;
    if (err) ex.reject(err);
    else ex.resolve();
  }

  private clearDeadline(ex: Exchange): void {
    if (ex.deadline) clearTimeout(ex.deadline);
    ex.deadline = undefined;
  }
}
