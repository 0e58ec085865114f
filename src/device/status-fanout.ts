// The nodes that use one device connection, and the status fanned out to them: deduplicated
// (an unchanged status is not sent again) and, for queue-length changes alone, throttled.
import type { Background } from '../background';
import type { DeviceStatus } from './status';

export interface DeviceUser {
  onStatus(status: DeviceStatus): void;
}

export class StatusFanout {
  /**
   * An array replaced on every change, not a Set: a connection has a handful of users (its nodes)
   * that rarely change, and a Set (or an array grown by push) is ~150 bytes more on every
   * connection. Publishing walks the array it started with: a user may come or go meanwhile.
   */
  private users: readonly DeviceUser[] = [];
  /** The last status given to users, so an unchanged one is not sent again. */
  private lastStatus: DeviceStatus | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** Whose status it fans out (the connection itself: no closure per connection). */
    private readonly source: { status(): DeviceStatus },
    private readonly throttleMs: number,
    private readonly work: Background,
  ) {}

  get size(): number {
    return this.users.length;
  }

  [Symbol.iterator](): IterableIterator<DeviceUser> {
    return this.users.values();
  }

  /** Adds a user and tells it the current status at once. */
  add(user: DeviceUser): void {
    // concat: an array of the exact length (a spread or a push leaves room for 16 more).
    if (!this.users.includes(user)) this.users = this.users.concat([user]);
    this.tell(user, this.source.status());
  }

  delete(user: DeviceUser): boolean {
    if (!this.users.includes(user)) return false;
    this.users = this.users.filter((u) => u !== user);
    return true;
  }

  clear(): void {
    this.users = [];
  }

  /** Sends the current status to every user, unless it is the one they have. */
  publish(): void {
    this.cancel();
    const status = this.source.status();
    // 1,000 devices each tick this every 250 ms while messages flow: skip when nothing changed.
    if (this.lastStatus && sameStatus(this.lastStatus, status)) return;
    this.lastStatus = status;
    for (const user of this.users) this.tell(user, status);
  }

  /** Queue-length changes alone: throttled, so 5,000 messages are not 5,000 status updates. */
  publishSoon(): void {
    if (this.timer || this.users.length === 0) return;
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
