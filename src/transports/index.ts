// ConnectionSettings → the Transport that serves them. The device layer calls only this.
import { CoapTransport } from './coap/transport';
import { MqttTransport } from './mqtt/transport';
import type { ConnectionSettings, Transport } from './transport';

export function createTransport(settings: ConnectionSettings): Transport {
  switch (settings.transport) {
    case 'mqtt':
    case 'mqtts':
      return new MqttTransport(settings);
    case 'coap':
    case 'coaps':
      return new CoapTransport(settings);
    default:
      throw new Error(`unknown transport "${String((settings as { transport?: unknown }).transport)}" (mqtt, mqtts, coap or coaps)`);
  }
}

export { TransportError } from './transport';
export type { ConnectionSettings, Transport, TransportName, DataKind, OutboundMessage, FailureKind } from './transport';
export { redact, REDACTED } from '../shared';
