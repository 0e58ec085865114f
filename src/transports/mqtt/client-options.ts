// What mqtt.js is told for one connection: what CONNECT carries (client id, keepalive, clean
// session, protocol version, the credentials) and how the client behaves (no reconnect, no
// offline queue, no resubscribe: the device layer decides; no log: see below).
import type { IClientOptions } from 'mqtt';
import type { ConnectionSettings } from '../transport';

const CONNECT_TIMEOUT_MS = 30_000;

/** mqtt.js's `log` option: one function for every client. */
function ignoreLog(): void {}

/** CONNECT's user name and password: the token, MQTT basic credentials, or none (X.509). */
function connectIdentity(accessToken: string, auth: ConnectionSettings['auth']): Pick<IClientOptions, 'username' | 'password'> {
  if (auth?.type === 'mqttBasic') {
    return { username: auth.username || undefined, password: auth.password ? auth.password : undefined };
  }
  if (auth?.type === 'x509') return {};
  return { username: accessToken };
}

/** The options of one MqttClient; `messageIdProvider` numbers its packets (gateway-acks.ts). */
export function clientOptions(settings: ConnectionSettings, messageIdProvider: IClientOptions['messageIdProvider']): IClientOptions {
  const { accessToken, mqtt, auth } = settings;
  return {
    clientId: mqtt.clientId,
    keepalive: mqtt.keepaliveSeconds,
    clean: mqtt.cleanSession,
    protocolVersion: mqtt.protocolVersion,
    ...connectIdentity(accessToken, auth),
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    queueQoSZero: false,
    resubscribe: false,
    messageIdProvider,
    // mqtt.js logs through `debug` several times per packet received or sent (a call and an
    // "enabled?" check each time, about a tenth of a gateway's CPU per reading), and its log
    // names options.username: the access token. Nothing of ours reads it.
    log: ignoreLog,
  };
}
