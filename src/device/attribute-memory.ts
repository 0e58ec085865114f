// What each shared-attribute listener (thingsboard-in with Initial on) was last given. A CoAP
// observation is renewed every ~100 s because ThingsBoard cannot tell a dead observer, and
// changes made while one was dead never arrived; so after a renewal the device layer fetches the
// current values again. Passing those on whole would repeat every value every 100 s, marked
// initial, in a flow that only wants changes: the memory turns them into what really changed
// (new or different values, and deleted keys) since the listener last heard. Values are compared
// by content (util.isDeepStrictEqual: ThingsBoard may send an object's keys in another order),
// and kept as copies (the flow may change the objects it was given).
import { EMPTY_MAP } from '../empty';
import { isDeepStrictEqual } from 'node:util';

export interface AttributeChange {
  values: Record<string, unknown>;
  deleted: string[];
}

export class AttributeMemory<Listener extends object> {
  /** Per listener: key → a copy of the value it was last given. */
  /** Made when a listener is first given values (most connections have no such listener). */
  private givenMap: Map<Listener, Map<string, unknown>> | undefined;

  private get given(): ReadonlyMap<Listener, Map<string, unknown>> {
    return this.givenMap ?? EMPTY_MAP;
  }

  has(listener: Listener): boolean {
    return this.given.has(listener);
  }

  forget(listener: Listener): void {
    this.givenMap?.delete(listener);
  }

  /** `values` are all the listener's keys there are now (initial values): remembered as they are. */
  replace(listener: Listener, values: Record<string, unknown>): void {
    (this.givenMap ??= new Map()).set(listener, new Map(Object.entries(values).map(([k, v]) => [k, structuredClone(v)])));
  }

  /** A pushed change the listener was given (nothing for a listener never given initial values). */
  update(listener: Listener, values: Record<string, unknown>, deleted: string[] | undefined): void {
    const given = this.given.get(listener);
    if (!given) return;
    for (const [k, v] of Object.entries(values)) given.set(k, structuredClone(v));
    for (const k of deleted ?? []) given.delete(k);
  }

  /**
   * `current` are all the listener's keys there are now: returns what differs from what it was
   * given (keys it had that are gone count as deleted), and remembers `current`.
   */
  difference(listener: Listener, current: Record<string, unknown>): AttributeChange {
    const given = this.given.get(listener) ?? new Map<string, unknown>();
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(current)) if (!given.has(k) || !isDeepStrictEqual(given.get(k), v)) values[k] = v;
    const deleted = [...given.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(current, k));
    this.replace(listener, current);
    return { values, deleted };
  }
}
