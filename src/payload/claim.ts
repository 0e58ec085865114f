// The body of a device claiming request (ThingsBoard's claiming: the device says "a customer may
// claim me within durationMs, with this secret key"): `{"secretKey":"…","durationMs":60000}`,
// both optional (ThingsBoard then uses an empty key and its default duration).
import { describe, PayloadError } from './errors';

const MAX_DURATION_MS = 365 * 24 * 3600 * 1000;

/** msg.payload (an object with secretKey/durationMs, or nothing) → the claiming body. */
export function claimBody(payload: unknown): Buffer {
  if (payload === undefined || payload === null || payload === '') return Buffer.from('{}');
  if (typeof payload !== 'object' || Array.isArray(payload)) {
    throw new PayloadError('payload', `a claiming request takes msg.payload {secretKey, durationMs} (both optional), not ${describe(payload)}`);
  }
  const p = payload as Record<string, unknown>;
  const out: { secretKey?: string; durationMs?: number } = {};
  for (const key of Object.keys(p)) {
    if (key !== 'secretKey' && key !== 'durationMs') throw new PayloadError(`payload.${key}`, `a claiming request takes only secretKey and durationMs (payload.${key} is not one of them)`);
  }
  if (p.secretKey !== undefined) {
    if (typeof p.secretKey !== 'string') throw new PayloadError('payload.secretKey', `payload.secretKey must be a string (it is ${describe(p.secretKey)})`);
    out.secretKey = p.secretKey;
  }
  if (p.durationMs !== undefined) {
    const d = p.durationMs;
    if (typeof d !== 'number' || !Number.isInteger(d) || d <= 0 || d > MAX_DURATION_MS) {
      throw new PayloadError('payload.durationMs', `payload.durationMs must be a whole number of milliseconds from 1 to ${MAX_DURATION_MS} (it is ${describe(d)})`);
    }
    out.durationMs = d;
  }
  return Buffer.from(JSON.stringify(out));
}
