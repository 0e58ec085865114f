// Work nobody waits for. Node-RED stops the whole runtime on an uncaught exception or an
// unhandled rejection, so every fire-and-forget call (a connect attempt, a teardown, a
// subscription started from an event), every listener and status handler we call, and every
// close whose outcome nobody awaits goes through here: what it throws or rejects with is
// reported — once, as "<what> failed: <reason>", with the device's secrets redacted — and never
// reaches the process. Imports only shared.ts, so every layer can use it.
import { redact } from './shared';

export interface Background {
  /** Starts `work` without waiting for it; a throw or a rejection is reported. */
  run(what: string, work: () => unknown): void;
  /** Calls `fn` now (a listener, a status handler); a throw is reported instead of passed on. */
  call(what: string, fn: () => void): void;
  /** A rejection handler for a promise someone else started: reports it. */
  reportFailure(what: string): (err: unknown) => void;
}

/**
 * `report` is where the text goes (the node's log, a transport's 'warning' event); `secret` is
 * what must not appear in it (the access token, or every secret of the device: password, private
 * key, …; read when a failure is reported).
 */
export function background(report: (text: string) => void, secret: () => string | readonly string[]): Background {
  return new Work({ report, secret });
}

/** Where a Background reports to: an object a connection already has (no closures of its own). */
export interface BackgroundHost {
  report(text: string): void;
  secret(): string | readonly string[];
}

/** A class (methods shared), not an object of closures: every device connection has one. */
export class Work implements Background {
  constructor(private readonly host: BackgroundHost) {}

  run(what: string, work: () => unknown): void {
    try {
      const result = work();
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).then(undefined, this.reportFailure(what));
    } catch (err) {
      this.failed(what, err);
    }
  }

  call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.failed(what, err);
    }
  }

  reportFailure(what: string): (err: unknown) => void {
    return (err) => this.failed(what, err);
  }

  private failed(what: string, err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    try {
      this.host.report(redact(`${what} failed: ${reason}`, this.host.secret()));
    } catch {
      // The log itself failed: nothing left to tell, and nothing may reach the process.
    }
  }
}
