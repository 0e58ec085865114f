// What the device connections of one Node-RED runtime share. The thingsboard-device node module
// makes one per runtime (its module function runs once per runtime) and hands it to every
// connection it creates; nothing here is process-wide, so two runtimes in one process (tests,
// embedded Node-RED) do not see each other's devices.
//
// Which connections use which MQTT access token (`tokens`): ThingsBoard keeps one MQTT session
// per device and closes the older one when another client connects with the same token, so
// two config nodes with one token would take turns dropping each other forever. The runtime
// sees both credentials at deploy: it tells both at once, and neither connects until one goes.
import crypto from 'node:crypto';
import type { ConnectionSettings } from '../transports/transport';

/** A connection that holds a token: told whenever the others holding it change. */
export interface TokenHolder {
  /** How a user knows this config node: its name, or its id. */
  readonly label: string;
  /** The labels of the other connections of this runtime with the same token (empty: none). */
  sharedWith(labels: string[]): void;
}

/** Which connections of the runtime hold which MQTT token (by a digest: no token is kept). */
export class TokenClaims {
  private readonly holders = new Map<string, Set<TokenHolder>>();

  /** `holder` uses the token of `settings` from now on; every holder of it is told who else does. */
  claim(settings: ConnectionSettings, holder: TokenHolder): void {
    const key = keyOf(settings);
    if (!key) return;
    let set = this.holders.get(key);
    if (!set) {
      set = new Set();
      this.holders.set(key, set);
    }
    set.add(holder);
    if (set.size > 1) tell(set);
  }

  /** `holder` is gone (its config node closed): the others are told, and may connect again. */
  release(settings: ConnectionSettings, holder: TokenHolder): void {
    const key = keyOf(settings);
    const set = key ? this.holders.get(key) : undefined;
    if (!set || !set.delete(holder)) return;
    if (set.size === 0) this.holders.delete(key as string);
    else tell(set);
  }
}

function tell(set: Set<TokenHolder>): void {
  for (const holder of set) holder.sharedWith([...set].filter((h) => h !== holder).map((h) => h.label));
}

/** MQTT(S) to one server with one token: the sessions ThingsBoard would play off each other. */
function keyOf(settings: ConnectionSettings): string | undefined {
  if ((settings.transport !== 'mqtt' && settings.transport !== 'mqtts') || !settings.accessToken) return undefined;
  return crypto.createHash('sha256').update(`${settings.host.toLowerCase()}\n${settings.accessToken}`).digest('base64');
}

export class DeviceRegistry {
  readonly tokens = new TokenClaims();
}
