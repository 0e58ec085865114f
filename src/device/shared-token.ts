// One connection's view of the runtime's token claims (registry.ts): which other config nodes of
// this Node-RED hold its MQTT token now, and the words for it. While any does, the connection
// does not connect and its messages fail with TOKEN_IN_USE; `owner` is told when that begins
// (sharing: true) and ends (false).
import type { TokenHolder } from './registry';
import { DeviceError } from './errors';

export class SharedToken implements TokenHolder {
  private others: string[] = [];

  constructor(
    readonly label: string,
    /** Told when sharing begins (true) and ends (false). */
    private readonly owner: { tokenShared(sharing: boolean): void },
  ) {}

  /** True while another config node holds the same token. */
  get sharing(): boolean {
    return this.others.length > 0;
  }

  /** The others' names, for the status. */
  get names(): string {
    return this.others.join(', ');
  }

  sharedWith(labels: string[]): void {
    if (labels.join('\n') === this.others.join('\n')) return;
    this.others = labels;
    this.owner.tokenShared(this.sharing);
  }

  text(): string {
    const others = this.others.map((l) => `"${l}"`).join(', ');
    return (
      `the access token of device configuration "${this.label}" is also used by ${others} in this Node-RED. ` +
      'ThingsBoard keeps one MQTT session per device and closes the older one when another connects, so neither connects ' +
      'until one of them gets its own device token (nodes of one device share one configuration).'
    );
  }

  /** Why a message or request is not sent while the token is shared. */
  error(): DeviceError {
    return new DeviceError(`not sent: ${this.text()}`, 'TOKEN_IN_USE');
  }
}
