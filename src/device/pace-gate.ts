// The outbox's gate to the pacer (pacing.ts): what publishing the next entries together costs in
// every budget (messages, telemetry messages, data points, a gateway's own budgets through
// gateway/pacing.ts and the connection's cost hook), and, when a window does not have it yet, one
// timer that holds the queue back until it does.
import { addGatewayCosts } from './gateway/pacing';
import { dataPointsOf, type BudgetName, type Pacer } from './pacing';
import type { CostHook, Entry } from './outbox';

/** Telemetry data points in an entry's body, counted once and kept on the entry. */
export function pointsOf(entry: Entry): number {
  if (entry.points === undefined) entry.points = dataPointsOf(entry.message.body);
  return entry.points;
}

export class PaceGate {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pacer: Pacer,
    /** A gateway connection: publishes also cost the gateway's budgets. */
    private readonly gateway: boolean,
    private readonly costHook: CostHook | undefined,
    /** The window has room again: pump the queue. */
    private readonly ready: () => void,
    /** Holding began (the status says "paced"). */
    private readonly holdingChanged: () => void,
  ) {}

  /** Pacing holds messages back now (status "paced"). */
  get holding(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Takes the cost of publishing the first `count` queued entries together from every budget,
   * or, when a window does not have it yet, holds the queue back until it does (false: do not
   * send now).
   */
  allows(queue: readonly Entry[], count: number): boolean {
    const pacer = this.pacer;
    if (!pacer.active) return true;
    if (this.timer) return false;
    const entries = queue.slice(0, count);
    const costs: Partial<Record<BudgetName, number>> = { messages: 1 };
    if (entries[0].message.kind === 'telemetry') {
      costs.telemetryMessages = 1;
      if (pacer.has('telemetryDataPoints')) costs.telemetryDataPoints = entries.reduce((sum, e) => sum + pointsOf(e), 0);
    }
    if (this.gateway) addGatewayCosts(entries, costs, pacer, pointsOf);
    this.costHook?.(entries, costs);
    const wait = pacer.wait(costs);
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.ready();
      }, wait);
      this.holdingChanged();
      return false;
    }
    pacer.take(costs);
    return true;
  }

  /** The connection stopped: nothing waits for the pacer any more. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
