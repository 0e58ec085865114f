// Waiting for an answer, the one way every layer does it: the wait settles ONCE, by the first of
// an answer, a failure, its deadline or the caller's abort, and then everything hung on it is
// undone (the timer, the abort listener, and what the waiter hung on `signal`: a map entry, a
// request the library must forget). Like shared.ts, this module imports nothing, so the device
// layer and the transports both use it.
//
// Why not AbortSignal.timeout() for the deadline: its timer cannot be cleared. A wait that got
// its answer after 50 ms would keep a timer until the deadline passes (a thingsboard-request may
// wait up to a day), and the leak tests count every timer left behind. The deadline is therefore
// a plain timer cleared on settling. The caller's abort ends the wait, and the wait's end aborts
// the one signal a waiter hands on (see Wait below).

/** Seconds for a text: 1 decimal, no trailing zero ("10", "0.5"). */
export function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

/** "no answer from ThingsBoard[ to <what>] within N s": the one text for a missed deadline. */
export function noAnswerText(timeoutMs: number, what?: string): string {
  return `no answer from ThingsBoard${what ? ` to ${what}` : ''} within ${seconds(timeoutMs)} s`;
}

/** What a waiter gets: settle it (the first call wins, later ones do nothing) and its end signal. */
export interface Waiting<T> {
  resolve(value: T): void;
  reject(err: unknown): void;
  /** True once the wait has settled, however. */
  readonly ended: boolean;
  /**
   * Aborts when the wait ends, however it ends (answer, failure, deadline, the caller's abort):
   * hang cleanup on it, or hand it to what must stop then (a transport's request).
   */
  readonly signal: AbortSignal;
  /**
   * `cleanup` runs once when the wait ends, however it ends (at once if it has): what a waiter
   * that only needs to undo something uses instead of `signal` (no AbortSignal is made then).
   */
  onEnd(cleanup: () => void): void;
}

export interface WaitOptions {
  /** The deadline; undefined = none (the waiter settles it itself, e.g. after retransmissions). */
  timeoutMs?: number;
  /** The error the deadline rejects with (read when it passes). */
  expired?: (timeoutMs: number) => unknown;
  /** The caller's abort (its node was closed): rejects with `aborted()` at once. */
  signal?: AbortSignal;
  aborted?: () => unknown;
}

/** Runs `start` and settles once: by the waiter, at the deadline, or when `options.signal` aborts. */
export function awaitAnswer<T>(options: WaitOptions, start: (waiting: Waiting<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const waiting = new Wait<T>(options, resolve, reject);
    const caller = options.signal;
    if (caller?.aborted) {
      waiting.ended = true;
      reject(options.aborted ? options.aborted() : caller.reason);
      return;
    }
    // The wait itself is the abort listener (handleEvent) and the timer's argument: no closure
    // per wait. A device may have a request waiting on every connection (getSessionLimits).
    caller?.addEventListener('abort', waiting, { once: true });
    if (options.timeoutMs !== undefined) waiting.timer = setTimeout(expire<T>, options.timeoutMs, waiting);
    try {
      start(waiting);
    } catch (err) {
      waiting.reject(err);
    }
  });
}

function expire<T>(waiting: Wait<T>): void {
  waiting.expire();
}

/**
 * One wait. Its end signal is the wait's own: a caller's abort ends the wait (handleEvent), which
 * aborts it, so it needs no AbortSignal.any() (a signal of its own, two sets and weak references
 * per wait). It is made when a waiter first asks for it; one asked for after the end is aborted.
 */
class Wait<T> implements Waiting<T> {
  ended = false;
  timer: NodeJS.Timeout | undefined;
  private own: AbortController | undefined;
  private cleanup: (() => void) | undefined;

  constructor(
    private readonly options: WaitOptions,
    private readonly settleResolve: (value: T) => void,
    private readonly settleReject: (err: unknown) => void,
  ) {}

  get signal(): AbortSignal {
    if (!this.own) {
      this.own = new AbortController();
      if (this.ended) this.own.abort();
    }
    return this.own.signal;
  }

  onEnd(cleanup: () => void): void {
    if (this.ended) {
      cleanup();
      return;
    }
    const before = this.cleanup;
    this.cleanup = before
      ? () => {
          before();
          cleanup();
        }
      : cleanup;
  }

  resolve(value: T): void {
    if (this.end()) this.settleResolve(value);
  }

  reject(err: unknown): void {
    if (this.end()) this.settleReject(err);
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    if (this.end()) this.settleReject(this.options.aborted ? this.options.aborted() : this.options.signal?.reason);
  }

  expire(): void {
    const { expired, timeoutMs } = this.options;
    if (this.end()) this.settleReject(expired ? expired(timeoutMs ?? 0) : new Error(noAnswerText(timeoutMs ?? 0)));
  }

  /** False when the wait had already ended; else undoes what hangs on it. */
  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this);
    this.own?.abort();
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    cleanup?.();
    return true;
  }
}
