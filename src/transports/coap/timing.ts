// RFC 7252 §4.8 timing derived from the `coap` library's parameters (tests scale them down with
// coap.updateTiming), and one fix to the library's retransmission backoff for Block1.
import { parameters, type OutgoingMessage } from 'coap';

/** A fresh initial retransmission timeout: ACK_TIMEOUT × a random factor in [1, ACK_RANDOM_FACTOR]. */
export function initialAckTimeoutMs(): number {
  return parameters.ackTimeout * (1 + (parameters.ackRandomFactor - 1) * Math.random()) * 1000;
}

/** RFC 7252 MAX_TRANSMIT_WAIT: first transmission → giving up on an ACK or answer. */
export function maxTransmitWaitMs(): number {
  return parameters.ackTimeout * (2 ** (parameters.maxRetransmit + 1) - 1) * parameters.ackRandomFactor * 1000;
}

/** 1 + MAX_RETRANSMIT: how often one confirmable message is sent before giving up. */
export function transmissions(): number {
  return parameters.maxRetransmit + 1;
}

/**
 * coap 1.5's RetrySend keeps doubling one retransmission timeout for the whole request and never
 * resets it when the next Block1 block (a new exchange) starts, so after a lossy block the next
 * ones would retransmit far less often than RFC 7252 §4.2 says. Each block gets a fresh initial
 * timeout here; the first retransmission timer (just armed with the stale value) is re-armed.
 */
export function restartBackoff(req: OutgoingMessage): void {
  const sender = req.sender;
  sender._currentTime = initialAckTimeoutMs();
  if (sender._bOffTimer) {
    clearTimeout(sender._bOffTimer);
    sender._bOffTimer = setTimeout(sender._bOff, sender._currentTime);
  }
}
