// RFC 7252 §4.8 timing derived from the `coap` library's parameters (tests scale them down with
// coap.updateTiming).
import { parameters } from 'coap';

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
