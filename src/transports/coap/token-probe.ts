// Is the access token known? CoAP has no connect handshake that carries the token, so without a
// question a wrong token would show "connected" until the first message is refused. At connect
// the transport asks ThingsBoard for one shared attribute that no device has: a read that changes
// nothing, which ThingsBoard answers with 4.01 Unauthorized for an unknown token (its
// CoapTransportResource validates the token before anything else) and otherwise with the
// (empty) answer or 4.04. Only 4.01 means something here; any other answer, or none, leaves the
// verdict to the messages themselves. When a message is waiting at connect, its own answer is
// the check and no GET is made (firstAnswer() below, transport.ts connectWith()).
import { TransportError } from '../transport';
import { exchange, type ExchangeTarget, type PendingExchange } from './exchange';
import { codeError } from './codes';
import { apiPath } from './resources';
import { maxTransmitWaitMs } from './timing';

/** A shared attribute key no device is expected to have. */
export const PROBE_KEY = 'node-red-thingsboard-token-check';

/** Resolves with the 'unauthorized' TransportError when the server answers 4.01, else undefined. Never rejects. */
export function probeToken(target: ExchangeTarget, token: string, track: Set<PendingExchange>): Promise<TransportError | undefined> {
  const spec = { method: 'GET' as const, path: apiPath(token, 'attributes'), query: [`sharedKeys=${PROBE_KEY}`] };
  // The timeout's error is never seen: every failure means "no verdict".
  const timeout = () => new TransportError('no answer to the token check', 'timeout', 'NO_ANSWER');
  return exchange(target, spec, maxTransmitWaitMs(), timeout, track).then(
    (res) => (res.code === '4.01' ? codeError(token, res, 'the access token check at connect') : undefined),
    () => undefined,
  );
}


/**
 * Runs the check at connect: resolves when the token was not refused within `waitMs` (no answer
 * yet leaves the check running: a later 4.01 goes to `onLateRefusal`), throws the 'unauthorized'
 * TransportError when the server refused it in time.
 */
export async function checkTokenAtConnect(
  target: ExchangeTarget,
  token: string,
  track: Set<PendingExchange>,
  waitMs: number,
  onLateRefusal: (refused: TransportError) => void,
): Promise<void> {
  const probe = probeToken(target, token, track);
  let timer: NodeJS.Timeout | undefined;
  const early = await Promise.race([probe, new Promise<'later'>((resolve) => { timer = setTimeout(() => resolve('later'), waitMs); })]);
  clearTimeout(timer);
  if (early === 'later') {
    // probeToken never rejects.
    void probe.then((refused) => { if (refused) onLateRefusal(refused); });
    return;
  }
  if (early) throw early;
}

export type FirstAnswer =
  /** The server answered 4.01: the token is refused. */
  | 'refused'
  /** Any other answer: the token is known (ThingsBoard checks it before anything else). */
  | 'accepted'
  /** No answer within the wait: connect goes on, the message's own answer comes when it comes. */
  | 'later'
  /** The message ended without any answer (it could not be sent): no verdict, ask with the probe. */
  | 'unanswered';

/**
 * The token check made by a message that was waiting at connect (transport.ts connectWith()):
 * its answer is the verdict the probe above would give. `outcome` is the message's send;
 * `answer()` the code of the server's answer to it, once there was one (seen before `outcome`
 * settles). Never rejects.
 */
export async function firstAnswer(outcome: Promise<void>, answer: () => string | undefined, waitMs: number): Promise<FirstAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const ended = outcome.then(() => undefined, () => undefined).then((): FirstAnswer => {
    const code = answer();
    if (code === undefined) return 'unanswered';
    return code === '4.01' ? 'refused' : 'accepted';
  });
  const later = new Promise<FirstAnswer>((resolve) => { timer = setTimeout(() => resolve('later'), waitMs); });
  try {
    return await Promise.race([ended, later]);
  } finally {
    clearTimeout(timer);
  }
}
