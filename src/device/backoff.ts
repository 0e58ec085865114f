// How long the device layer waits between connection attempts, and its other time settings.

export interface Timing {
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A connection that lived this long resets the backoff. */
  stableAfterMs: number;
  /** A drop this soon after connecting counts as "dropped right after connect". */
  quickDropMs: number;
  /** That many quick drops in a row → the "token used by another client?" warning. */
  quickDropsForWarning: number;
  /** At most one status update per this many ms for queue-length changes alone. */
  statusThrottleMs: number;
  /** A message whose connection closed while in flight this many times fails (poison message). */
  maxResends: number;
}

export const DEFAULT_TIMING: Timing = Object.freeze({
  backoffInitialMs: 1000,
  backoffMaxMs: 60_000,
  stableAfterMs: 30_000,
  quickDropMs: 10_000,
  quickDropsForWarning: 3,
  statusThrottleMs: 250,
  maxResends: 5,
});

/** Exponential backoff from backoffInitialMs, doubling per failed attempt, capped at backoffMaxMs. */
export class Backoff {
  private attempts = 0;

  constructor(
    private readonly timing: Timing,
    /** [0, 1): jitter source (tests may fix it). */
    private readonly random: () => number,
  ) {}

  reset(): void {
    this.attempts = 0;
  }

  /** The delay before the next attempt (and counts this one). */
  next(): number {
    const cap = Math.min(this.timing.backoffMaxMs, this.timing.backoffInitialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    return this.jitter(cap);
  }

  /** 75–100 % of the cap: spreads reconnects of many devices after a server restart. */
  jitter(capMs: number): number {
    return Math.round(capMs * (0.75 + 0.25 * this.random()));
  }
}
