// Living within ThingsBoard's rate limits. A tenant profile limits each device per window:
// all messages, telemetry messages and telemetry data points (key/value pairs, summed over every
// entry of an array publish), each as `count:seconds` pairs ("10:1,300:60" = 10 per second and
// 300 per minute, every window enforced). ThingsBoard enforces them with token buckets that start
// full and refill evenly (bucket4j, greedy refill); a device over a limit has its session closed.
//
// The pacer keeps one bucket per window at PACE_FACTOR of ThingsBoard's (capacity and refill
// rate), so a device paced here stays under the server's buckets from the first message of a
// session, whatever the network does to the spacing. A send takes its cost from every bucket of
// every budget it counts against, or waits until all of them have it.
//
// Budgets are named: the device layer uses 'messages', 'telemetryMessages' and
// 'telemetryDataPoints'; a gateway adds its own names (e.g. from gatewayRateLimits) with
// setBudget() and charges them through the costs it passes.

import { EMPTY_MAP } from '../empty';

/** ThingsBoard's limits are never approached closer than this. */
export const PACE_FACTOR = 0.8;

export interface RateWindow {
  count: number;
  seconds: number;
}

export type BudgetName = 'messages' | 'telemetryMessages' | 'telemetryDataPoints' | string;
export type RateLimits = Partial<Record<BudgetName, RateWindow[]>>;

const NAMES = ['messages', 'telemetryMessages', 'telemetryDataPoints'];

/** The limit names ThingsBoard uses, in rateLimits and in a gateway's gatewayRateLimits. */
export const LIMIT_NAMES: readonly string[] = NAMES;

/** The budget of a gateway-level limit (gatewayRateLimits): every publish through the gateway counts. */
export function gatewayBudget(name: string): BudgetName {
  return `gateway.${name}`;
}

const GATEWAY_MESSAGES = gatewayBudget('messages');

/** "10:1,300:60" → windows; throws an Error saying what is wrong. Empty text → []. */
export function parseWindows(text: string): RateWindow[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m) throw new Error(`"${part.trim()}" is not count:seconds (e.g. 10:1,300:60 = 10 per second and 300 per minute)`);
    const window = { count: Number(m[1]), seconds: Number(m[2]) };
    if (window.count < 1 || window.seconds < 1) throw new Error(`"${part.trim()}": count and seconds must be at least 1`);
    return window;
  });
}

/**
 * The `rateLimits` property: ThingsBoard's syntax. A bare list ("10:1,300:60") limits every
 * message; "messages=10:1,300:60; telemetryMessages=…; telemetryDataPoints=…" sets each budget.
 * Throws an Error naming what is wrong.
 */
export function parseRateLimits(text: string): RateLimits {
  const limits: RateLimits = {};
  for (const section of text.split(';')) {
    if (section.trim() === '') continue;
    const eq = section.indexOf('=');
    const name = eq < 0 ? 'messages' : section.slice(0, eq).trim();
    if (!NAMES.includes(name)) throw new Error(`unknown limit "${name}": use messages, telemetryMessages or telemetryDataPoints`);
    if (limits[name]) throw new Error(`"${name}" is given twice`);
    limits[name] = parseWindows(eq < 0 ? section : section.slice(eq + 1));
  }
  return limits;
}

/** What getSessionLimits answers (rateLimits as ThingsBoard's texts), as budgets; bad texts are left out. */
export function limitsFromServer(rateLimits: unknown): RateLimits {
  const limits: RateLimits = {};
  if (typeof rateLimits !== 'object' || rateLimits === null) return limits;
  for (const [name, text] of Object.entries(rateLimits as Record<string, unknown>)) {
    if (typeof text !== 'string') continue;
    try {
      const windows = parseWindows(text);
      if (windows.length > 0) limits[name] = windows;
    } catch {
      // An unreadable window is not enforced here; the others still are.
    }
  }
  return limits;
}

/** "messages 10:1,300:60; telemetryDataPoints 100:1" (for logs and warnings). */
export function describeLimits(limits: RateLimits): string {
  return Object.entries(limits)
    .filter(([, w]) => w && w.length > 0)
    .map(([name, windows]) => `${name} ${(windows as RateWindow[]).map((w) => `${w.count}:${w.seconds}`).join(',')}`)
    .join('; ');
}

class Bucket {
  readonly capacity: number;
  /** Tokens per ms. */
  private readonly rate: number;
  private tokens: number;
  private at: number;

  constructor(window: RateWindow, factor: number, msPerSecond: number, now: number) {
    this.capacity = Math.max(1, Math.floor(window.count * factor));
    this.rate = this.capacity / (window.seconds * msPerSecond);
    this.tokens = this.capacity;
    this.at = now;
  }

  private refill(now: number): void {
    if (now > this.at) this.tokens = Math.min(this.capacity, this.tokens + (now - this.at) * this.rate);
    this.at = now;
  }

  /** Ms until `cost` tokens are there (0 = now); a cost above capacity waits for a full bucket. */
  wait(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    return this.tokens >= need ? 0 : Math.ceil((need - this.tokens) / this.rate);
  }

  take(cost: number, now: number): void {
    this.refill(now);
    this.tokens -= cost;
  }
}

export interface PacerOptions {
  /** Clock (ms); tests inject a fake one. */
  now?: () => number;
  /** Share of ThingsBoard's windows used (default PACE_FACTOR). */
  factor?: number;
  /** Length of one "second" of a window in ms (default 1000; tests scale time down). */
  msPerSecond?: number;
}

export class Pacer {
  /** Made when a limit is first known: most connections have none (ThingsBoard's defaults set none). */
  private budgets: ReadonlyMap<BudgetName, Bucket[]> = EMPTY_MAP;
  private readonly now: () => number;
  private readonly factor: number;
  private readonly msPerSecond: number;

  constructor(options: PacerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.factor = options.factor ?? PACE_FACTOR;
    this.msPerSecond = options.msPerSecond ?? 1000;
  }

  /** True when any budget has a window. */
  get active(): boolean {
    return this.budgets.size > 0;
  }

  /** Replaces every budget (a session's limits); full buckets, as ThingsBoard's at session start. */
  setLimits(limits: RateLimits): void {
    this.budgets = EMPTY_MAP;
    for (const [name, windows] of Object.entries(limits)) if (windows) this.setBudget(name, windows);
  }

  /** Sets (or, with no windows, removes) one budget: the hook for a gateway's own limits. */
  setBudget(name: BudgetName, windows: RateWindow[]): void {
    if (windows.length === 0) {
      if (this.budgets.has(name)) this.writable().delete(name);
      return;
    }
    const now = this.now();
    this.writable().set(name, windows.map((w) => new Bucket(w, this.factor, this.msPerSecond, now)));
  }

  private writable(): Map<BudgetName, Bucket[]> {
    if (this.budgets === EMPTY_MAP) this.budgets = new Map();
    return this.budgets as Map<BudgetName, Bucket[]>;
  }

  has(name: BudgetName): boolean {
    return this.budgets.has(name);
  }

  /** The most one send may cost in budget `name` (Infinity when it has no windows). */
  largest(name: BudgetName): number {
    const buckets = this.budgets.get(name);
    if (!buckets) return Infinity;
    return Math.min(...buckets.map((b) => b.capacity));
  }

  /** Ms until a send with these costs fits every window (0 = now). */
  wait(costs: Partial<Record<BudgetName, number>>): number {
    const now = this.now();
    let longest = 0;
    for (const [name, cost] of Object.entries(costs)) {
      const buckets = this.budgets.get(name);
      if (!buckets || !cost) continue;
      for (const bucket of buckets) longest = Math.max(longest, bucket.wait(cost, now));
    }
    return longest;
  }

  /**
   * One message outside the queue (an attribute request, a client-side RPC, an RPC reply:
   * ThingsBoard counts them among the device's messages, and a gateway's among its own): ms until
   * it fits every window; 0 means it fits now and has been charged.
   */
  oneMessageTurn(gateway: boolean): number {
    if (!this.active) return 0;
    const costs: Partial<Record<BudgetName, number>> = { messages: 1 };
    if (gateway) costs[GATEWAY_MESSAGES] = 1;
    const wait = this.wait(costs);
    if (wait === 0) this.take(costs);
    return wait;
  }

  /** Charges a send that goes out now. */
  take(costs: Partial<Record<BudgetName, number>>): void {
    const now = this.now();
    for (const [name, cost] of Object.entries(costs)) {
      const buckets = this.budgets.get(name);
      if (!buckets || !cost) continue;
      for (const bucket of buckets) bucket.take(cost, now);
    }
  }
}

/**
 * Data points in a telemetry body: keys of the values object, summed over every entry of an
 * array, the way ThingsBoard counts them. A body that does not parse counts 1.
 */
export function dataPointsOf(body: Buffer): number {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return 1;
  }
  const count = (item: unknown): number => {
    if (typeof item !== 'object' || item === null) return 1;
    const record = item as Record<string, unknown>;
    const values = 'ts' in record && typeof record.values === 'object' && record.values !== null ? record.values : record;
    return Math.max(1, Object.keys(values as object).length);
  };
  return Array.isArray(value) ? value.reduce((sum: number, item) => sum + count(item), 0) : count(value);
}
