// "reconnecting in N s" that counts down: one timer per connection, re-armed once a second while
// a retry is pending (aligned to the retry time, so the number changes when a second passes),
// cleared when the attempt starts or the connection stops.
export class Countdown {
  private timer: NodeJS.Timeout | undefined;
  private at = 0;

  constructor(private readonly onTick: (seconds: number) => void) {}

  /** Whole seconds left until `at` (at least 1 while pending). */
  get seconds(): number {
    return Math.max(1, Math.ceil((this.at - Date.now()) / 1000));
  }

  start(delayMs: number): void {
    this.stop();
    this.at = Date.now() + delayMs;
    this.arm();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const left = this.at - Date.now();
    if (left <= 1000) return; // the attempt itself comes next
    // Wake when the shown number drops: at the next whole second before `at`.
    const untilNext = left % 1000 || 1000;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onTick(this.seconds);
      this.arm();
    }, untilNext);
  }
}

/**
 * The pending reconnect attempt: its timer, its delay and the seconds left for the status
 * ("reconnecting in N s", counted down by a Countdown while shown).
 */
export class RetrySchedule {
  private timer: NodeJS.Timeout | undefined;
  private readonly countdown: Countdown;
  /** Delay of the pending retry (status). */
  inMs = 0;
  /** Whole seconds left until the pending retry (status), at least 1. */
  inSeconds = 0;

  /** `onTick`: the shown number of seconds changed. */
  constructor(onTick: () => void) {
    this.countdown = new Countdown((seconds) => {
      this.inSeconds = seconds;
      onTick();
    });
  }

  /** Runs `attempt` after `delayMs`, replacing a pending retry. */
  schedule(delayMs: number, attempt: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.inMs = delayMs;
    this.inSeconds = Math.max(1, Math.ceil(delayMs / 1000));
    this.timer = setTimeout(attempt, delayMs);
  }

  /** Counts the shown seconds down to the pending retry. */
  countDown(delayMs: number): void {
    this.countdown.start(delayMs);
  }

  /** The attempt runs now (its timer fired, or it was started directly). */
  started(): void {
    this.timer = undefined;
    this.countdown.stop();
  }

  /** No retry any more (the connection stops). */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.started();
  }
}
