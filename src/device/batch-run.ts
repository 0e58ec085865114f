// How many queued messages, from the head, go out together in one array publish (batch.ts builds
// it): a run of batchable telemetry with one QoS for one target, no more data points than a
// data-point window of the pacer holds at once, no more bytes than a publish may carry.
import { batchable, batchCount } from './batch';
import { gatewayBatchLimit, sameTarget } from './gateway/send';
import type { Entry } from './outbox';
import { pointsOf } from './pace-gate';
import type { Pacer } from './pacing';

/** The length (≥ 1) of the run at the head of `queue` that goes out as one publish. */
export function batchRun(queue: readonly Entry[], pacer: Pacer, maxPayloadBytes: number): number {
  const first = queue[0];
  if (queue.length < 2 || first.solo || !batchable(first)) return 1;
  const qos = first.message.qos;
  let run = 1;
  while (run < queue.length) {
    const next = queue[run];
    if (next.solo || next.message.qos !== qos || !batchable(next) || !sameTarget(first, next)) break;
    run++;
  }
  // No publish may need more data points than a data-point window holds at once.
  const pointCap = pacer.largest('telemetryDataPoints');
  if (pointCap !== Infinity) {
    let points = 0;
    for (let i = 0; i < run; i++) {
      points += pointsOf(queue[i]);
      if (points > pointCap) {
        run = Math.max(1, i);
        break;
      }
    }
  }
  return run === 1 ? 1 : batchCount(queue, run, first.gateway ? gatewayBatchLimit(first.gateway, maxPayloadBytes) : maxPayloadBytes);
}
