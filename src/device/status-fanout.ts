// The nodes that use one device connection, and the status fanned out to them: deduplicated
// (an unchanged status is not sent again) and, for queue-length changes alone, throttled.
import type { Background } from '../background';
import type { DeviceStatus } from './status';

export interface DeviceUser {
  onStatus(status: DeviceStatus): void;
}

export class StatusFanout {
  private readonly users = new Set<DeviceUser>();
  /** The last status given to users, so an unchanged one is not sent again. */
  private lastStatus: DeviceStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly current: () => DeviceStatus,
    private readonly throttleMs: number,
    private readonly work: Background,
  ) {}

  get size(): number {
    return this.users.size;
  }

  [Symbol.iterator](): IterableIterator<DeviceUser> {
    return this.users.values();
  }

  /** Adds a user and tells it the current status at once. */
  add(user: DeviceUser): void {
    this.users.add(user);
    this.tell(user, this.current());
  }

  delete(user: DeviceUser): boolean {
    return this.users.delete(user);
  }

  clear(): void {
    this.users.clear();
  }

  /** Sends the current status to every user, unless it is the one they have. */
  publish(): void {
    this.cancel();
    const status = this.current();
    // 1,000 devices each tick this every 250 ms while messages flow: skip when nothing changed.
    if (this.lastStatus && sameStatus(this.lastStatus, status)) return;
    this.lastStatus = status;
    for (const user of this.users) this.tell(user, status);
  }

  /** Queue-length changes alone: throttled, so 5,000 messages are not 5,000 status updates. */
  publishSoon(): void {
    if (this.timer || this.users.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.publish();
    }, this.throttleMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A user's status handler that throws is logged; it must not break the others. */
  private tell(user: DeviceUser, status: DeviceStatus): void {
    this.work.call('showing the connection status', () => user.onStatus(status));
  }
}

function sameStatus(a: DeviceStatus, b: DeviceStatus): boolean {
  return (
    a.state === b.state &&
    a.queued === b.queued &&
    a.retryInSeconds === b.retryInSeconds &&
    a.retryInMs === b.retryInMs &&
    a.code === b.code &&
    a.unverified === b.unverified &&
    a.lastFailure === b.lastFailure &&
    a.sharedWith === b.sharedWith &&
    a.subDevices === b.subDevices &&
    a.onDisk === b.onDisk &&
    a.recovered === b.recovered &&
    a.diskError === b.diskError &&
    a.paced === b.paced
  );
}
