// Waiting for an answer, the one way every layer does it: the wait settles ONCE, by the first of
// an answer, a failure, its deadline or the caller's abort, and then everything hung on it is
// undone (the timer, the abort listener, and what the waiter hung on `signal`: a map entry, a
// request the library must forget). Like shared.ts, this module imports nothing, so the device
// layer and the transports both use it.
//
// Why not AbortSignal.timeout() for the deadline: its timer cannot be cleared. A wait that got
// its answer after 50 ms would keep a timer until the deadline passes (a thingsboard-request may
// wait up to a day), and the leak tests count every timer left behind. The deadline is therefore
// a plain timer cleared on settling; AbortSignal.any() joins the caller's abort to the wait's own
// end into the one signal a waiter hands on.

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
}

export interface WaitOptions {
  /** The deadline; undefined = none (the waiter settles it itself, e.g. after retransmissions). */
  timeoutMs?: number;
  /** The error the deadline rejects with (read when it passes). */
  expired?: () => unknown;
  /** The caller's abort (its node was closed): rejects with `aborted()` at once. */
  signal?: AbortSignal;
  aborted?: () => unknown;
}

/** Runs `start` and settles once: by the waiter, at the deadline, or when `options.signal` aborts. */
export function awaitAnswer<T>(options: WaitOptions, start: (waiting: Waiting<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const own = new AbortController();
    const caller = options.signal;
    const signal = caller ? AbortSignal.any([own.signal, caller]) : own.signal;
    let timer: NodeJS.Timeout | undefined;
    const end = (settle: () => void): void => {
      if (own.signal.aborted) return;
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
      own.abort();
      settle();
    };
    const onAbort = (): void => end(() => reject(options.aborted ? options.aborted() : caller?.reason));
    const waiting: Waiting<T> = {
      resolve: (value) => end(() => resolve(value)),
      reject: (err) => end(() => reject(err)),
      get ended() {
        return own.signal.aborted;
      },
      get signal() {
        return signal;
      },
    };
    if (caller?.aborted) {
      own.abort();
      reject(options.aborted ? options.aborted() : caller.reason);
      return;
    }
    caller?.addEventListener('abort', onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => end(() => reject(options.expired ? options.expired() : new Error(noAnswerText(options.timeoutMs ?? 0)))), options.timeoutMs);
    }
    try {
      start(waiting);
    } catch (err) {
      waiting.reject(err);
    }
  });
}
