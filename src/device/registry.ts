// What the device connections of one Node-RED runtime share. The thingsboard-device node module
// makes one per runtime (its module function runs once per runtime) and hands it to every
// connection it creates; nothing here is process-wide, so two runtimes in one process (tests,
// embedded Node-RED) do not see each other's devices.
import { RefusedTokens } from './refused-tokens';

export class DeviceRegistry {
  /** CoAP tokens the server refused (refused-tokens.ts). */
  readonly refused = new RefusedTokens();
}
