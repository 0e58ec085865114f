// Shared empty collections to read from while a lazily made one does not exist yet: an empty Map
// costs about 200 bytes and a Set 160, per object, and many per-connection tables (answers
// waited for, RPC commands, listeners, pacing budgets) stay empty on most connections. Typed
// read-only, and writing to one throws: a writer makes its own (`this.x ??= new Map()`); an
// entry written into a shared one would appear on every connection. This module imports nothing.

function shared(): never {
  throw new Error('EMPTY_MAP and EMPTY_SET are shared by every connection: write to a collection of your own');
}

export const EMPTY_MAP: ReadonlyMap<never, never> = Object.freeze(Object.assign(new Map<never, never>(), { set: shared, delete: shared, clear: shared }));
export const EMPTY_SET: ReadonlySet<never> = Object.freeze(Object.assign(new Set<never>(), { add: shared, delete: shared, clear: shared }));
