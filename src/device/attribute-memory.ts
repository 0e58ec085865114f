// What each shared-attribute listener (thingsboard-in with Initial on) was last given. A CoAP
// observation is renewed every ~100 s because ThingsBoard cannot tell a dead observer, and
// changes made while one was dead never arrived; so after a renewal the device layer fetches the
// current values again. Passing those on whole would repeat every value every 100 s, marked
// initial, in a flow that only wants changes: the memory turns them into what really changed
// (new or different values, and deleted keys) since the listener last heard.
export interface AttributeChange {
  values: Record<string, unknown>;
  deleted: string[];
}

export class AttributeMemory<Listener extends object> {
  /** Per listener: key → the JSON text of the value it was last given. */
  private readonly given = new Map<Listener, Map<string, string>>();

  has(listener: Listener): boolean {
    return this.given.has(listener);
  }

  forget(listener: Listener): void {
    this.given.delete(listener);
  }

  /** `values` are all the listener's keys there are now (initial values): remembered as they are. */
  replace(listener: Listener, values: Record<string, unknown>): void {
    this.given.set(listener, new Map(Object.entries(values).map(([k, v]) => [k, JSON.stringify(v)])));
  }

  /** A pushed change the listener was given (nothing for a listener never given initial values). */
  update(listener: Listener, values: Record<string, unknown>, deleted: string[] | undefined): void {
    const given = this.given.get(listener);
    if (!given) return;
    for (const [k, v] of Object.entries(values)) given.set(k, JSON.stringify(v));
    for (const k of deleted ?? []) given.delete(k);
  }

  /**
   * `current` are all the listener's keys there are now: returns what differs from what it was
   * given (keys it had that are gone count as deleted), and remembers `current`.
   */
  difference(listener: Listener, current: Record<string, unknown>): AttributeChange {
    const given = this.given.get(listener) ?? new Map<string, string>();
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(current)) if (given.get(k) !== JSON.stringify(v)) values[k] = v;
    const deleted = [...given.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(current, k));
    this.replace(listener, current);
    return { values, deleted };
  }
}
