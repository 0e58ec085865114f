// "Is the token used by another client?" ThingsBoard keeps one session per device and closes the
// older one when a client connects with the same token: two clients with one token take turns,
// each connection dropping soon after it is made. Counting drops that come quickly after a
// connect is how the device layer can tell, and say so once.
import type { Timing } from './backoff';

export const ANOTHER_CLIENT_WARNING =
  'the connection keeps dropping right after it is established: the access token may be used by another client ' +
  '(ThingsBoard allows one session per device; each new one closes the previous). Give every client its own device or token.';

export class QuickDrops {
  private connectedAt = 0;
  private inARow = 0;
  private warned = false;

  constructor(
    private readonly timing: Pick<Timing, 'quickDropMs' | 'quickDropsForWarning'>,
    private readonly log: { warn(text: string): void },
  ) {}

  /** A new connection session: earlier drops do not count towards this one's. */
  reset(): void {
    this.inARow = 0;
  }

  connected(): void {
    this.connectedAt = Date.now();
  }

  /** The connection dropped; returns how long it had been up, in ms. */
  dropped(): number {
    const lived = Date.now() - this.connectedAt;
    if (lived >= this.timing.quickDropMs) {
      this.inARow = 0;
      return lived;
    }
    this.inARow++;
    if (this.inARow >= this.timing.quickDropsForWarning && !this.warned) {
      this.warned = true;
      this.log.warn(ANOTHER_CLIENT_WARNING);
    }
    return lived;
  }
}
