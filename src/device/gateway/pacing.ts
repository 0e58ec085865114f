// What one publish on a gateway connection costs in the gateway-level budgets (gatewayRateLimits
// from getSessionLimits, session-limits.ts). ThingsBoard checks a gateway's limits for each
// device's part of a publish (the gateway's own messages count too), so a publish that carries
// readings of three sub-devices counts three messages; data points are summed over every entry.
import { gatewayBudget, type BudgetName, type Pacer } from '../pacing';
import type { Entry } from '../outbox';

const MESSAGES = gatewayBudget('messages');
const TELEMETRY = gatewayBudget('telemetryMessages');
const POINTS = gatewayBudget('telemetryDataPoints');

/** Adds the gateway budgets' costs of publishing `entries` together to `costs`. */
export function addGatewayCosts(entries: readonly Entry[], costs: Partial<Record<BudgetName, number>>, pacer: Pacer, pointsOf: (entry: Entry) => number): void {
  if (!pacer.has(MESSAGES) && !pacer.has(TELEMETRY) && !pacer.has(POINTS)) return;
  const parts = new Set(entries.map((entry) => (entry.gateway ? `d:${entry.gateway.device}` : 'self'))).size;
  costs[MESSAGES] = parts;
  if (entries[0].message.kind !== 'telemetry') return;
  costs[TELEMETRY] = parts;
  if (pacer.has(POINTS)) costs[POINTS] = entries.reduce((sum, entry) => sum + pointsOf(entry), 0);
}

/** The most sub-devices one publish may carry under the gateway's message limits (Infinity: none). */
export function gatewayPackLimit(pacer: Pacer): number {
  return Math.min(pacer.largest(MESSAGES), pacer.largest(TELEMETRY));
}
