/**
 * src/payload: pure functions from a Node-RED message to the JSON body ThingsBoard's device API
 * takes (telemetry or client attributes, same body on MQTT and CoAP). No Node-RED, no I/O.
 *
 * API (the device layer and the nodes depend on these names):
 * - `shapePayload(msg, {kind, key?, maxBytes})` → `{body, value}`: body is strict JSON in UTF-8,
 *   exactly `JSON.stringify(value)`, at most maxBytes bytes. Throws `PayloadError`; nothing is
 *   sent then. `value` may share objects with msg.payload (no defensive copy, for speed): do not
 *   keep it after the message is done.
 * - `PayloadError`: `.message` is for users (names the path, says what to do), `.path` is where,
 *   e.g. `payload.a.b`, `payload[3].values.x`, `msg.ts`, `msg.topic`.
 * - `encodeJsonValue(value, maxBytes, what)` → strict JSON Buffer of any JSON value (RPC replies,
 *   client-side RPC params), by the same value rules; a string becomes a JSON string.
 * - Batching of queued telemetry into one array publish is the device layer's, from the
 *   bodies made here: src/device/batch.ts.
 *
 * The message contract (README/help tables follow this):
 * | msg.payload                                  | telemetry sends                    | attributes sends |
 * |----------------------------------------------|------------------------------------|------------------|
 * | object `{k: v, ...}`                         | it (with msg.ts: `{ts, values: it}`)| it              |
 * | `{ts, values}`                               | it, validated; its ts wins over msg.ts | error        |
 * | array of objects / of `{ts, values}` (mixed ok) | it (msg.ts wraps the plain objects) | error        |
 * | number, string, boolean, Date, safe BigInt   | `{<key>: v}` (msg.ts wraps it)     | `{<key>: v}`     |
 * | string or Buffer of JSON object/array text   | parsed, then as above              | as above         |
 * <key> is the node's Key (trimmed) or else msg.topic (non-empty text); neither → error.
 *
 * Decisions (each one is a rule a user can rely on):
 * - Text: only text starting with `{` or `[` (after whitespace/BOM) is JSON and must parse;
 *   all other text is ONE string value: "25" → {key: "25"} (no type guessing; ThingsBoard's own
 *   type cast usually stores numeric text as a number). Buffers must be UTF-8 and are then text.
 * - msg.ts (epoch ms number or digits, Date, ISO-8601 text) applies to telemetry only; invalid →
 *   error even if unused. For attributes msg.ts is IGNORED: attributes have no ts, and the same msg
 *   often also feeds a telemetry node. A ts must be whole ms in [1e11, 1e14): values below look
 *   like seconds, above like micro/nanoseconds, and are refused with that hint.
 * - `{ts, values}` is recognised as ThingsBoard does (own keys ts AND values); any other key next
 *   to them is an error (ThingsBoard would drop it silently). `ts` takes the forms msg.ts takes
 *   and is sent as a number.
 * - Errors (message `payload.a.b is NaN: ThingsBoard stores JSON numbers only; replace it or drop
 *   the key`): NaN, ±Infinity, undefined (in objects AND arrays), functions, symbols, BigInt
 *   beyond ±(2^53-1), circular references, nesting deeper than 200, Buffers/typed arrays, Map,
 *   Set, Error, other class instances without data (RegExp, Promise: JSON makes them {}), invalid
 *   Dates, a throwing toJSON(), an empty payload object/array or `values`, an empty key name at
 *   the top level, a body over maxBytes, null/undefined payload.
 * - Allowed: null values (valid JSON; ThingsBoard skips null keys), empty objects/arrays NESTED
 *   inside a value (valid JSON values), class instances with data (as JSON.stringify sees them).
 * - Normalized: Dates inside → ISO-8601 text (what JSON.stringify and other Node-RED nodes do);
 *   safe BigInt → number; boxed primitives → primitives; objects with toJSON() → its result.
 * - Not checked: integers beyond 64 bits (ThingsBoard stores or refuses them by version) and
 *   string length limits (a server setting).
 */
export { PayloadError } from './errors';
export { encodeJsonValue } from './json-body';
export { claimBody } from './claim';
export { shapePayload, type ShapedPayload, type ShapeOptions, type PayloadMessage } from './shape';
export { parseTimestamp } from './timestamp';
export { MAX_DEPTH } from './json-value';
