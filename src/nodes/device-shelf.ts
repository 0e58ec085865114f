// What survives a redeploy. Node-RED closes a config node with removed=false when it restarts it
// (a full deploy restarts every node; a changed config node is restarted with its new settings;
// a runtime stop closes every node the same way) and creates the new one, with the same id, a
// moment later. Its connection waits here in between, still delivering what it holds:
// - the new config node has the same settings → it takes the connection itself (queue, session);
// - the same device (transport, host, port, credentials) with other settings → a new connection takes
//   every message not yet delivered, in order (DeviceConnection.handOver);
// - otherwise, and for a connection nobody took once the flows started again (the config node
//   was deleted or disabled) or the runtime stopped, it closes and the log says how many
//   messages that dropped.
import { createHash } from 'node:crypto';
import type { DeviceConnection } from '../device';

export interface ShelfEntry {
  connection: DeviceConnection;
  /** Same key = same settings: the new config node can use the connection as it is. */
  key: string;
  /** Same device = the queue can be handed over. */
  device: string;
  /** Logs (on the config node that closed) how many messages closing it dropped. */
  dropped(count: number): void;
}

/** The subset of RED.events the shelf listens to. */
export interface RuntimeEvents {
  on(event: string, listener: (event: { id?: string; payload?: { state?: string; deploy?: boolean }; diff?: object }) => void): void;
  removeListener(event: string, listener: (...args: never[]) => void): void;
}

type ConnectionSettings = DeviceConnection['settings'];

// Both keys are digests of what they compare: every config node keeps its two keys for its whole
// life, and the text they are made of holds every setting, PEM (CA, client certificate and key)
// and credential of the device: a copy of all that per config node, and secrets in one more place.

export function settingsKey(settings: ConnectionSettings, extra: Record<string, unknown>): string {
  return digest(JSON.stringify({ settings, extra }));
}

/** Transport, host, port and every credential: a queue may move only to the same device. */
export function deviceKey(settings: ConnectionSettings, secrets: readonly string[]): string {
  return digest(JSON.stringify([settings.transport, settings.host, settings.port, [...secrets].sort()]));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

export class DeviceShelf {
  private readonly parked = new Map<string, ShelfEntry>();
  private listening = false;
  /**
   * The flows are stopping for a deploy (not a runtime stop). Node-RED's 'flows:stopping' says
   * which: a deploy's diff comes from diffConfigs, which always sets globalConfigChanged; the
   * runtime's own stop passes an empty default diff without it.
   */
  private deploying = false;

  constructor(private readonly events: RuntimeEvents | undefined) {
    events?.on('flows:stopping', (event) => {
      this.deploying = !!event?.diff && 'globalConfigChanged' in event.diff;
    });
  }

  /** A config node closing with removed=false is restarted by a deploy (else the runtime stops). */
  get redeploying(): boolean {
    return this.deploying;
  }

  /** A config node closed with removed=false: keep its connection until the flows start again. */
  park(id: string, entry: ShelfEntry): void {
    const previous = this.parked.get(id);
    if (previous && previous.connection !== entry.connection) drop(previous);
    this.parked.set(id, entry);
    this.listen();
  }

  /** The parked connection of config node `id`, taken off the shelf. */
  take(id: string): ShelfEntry | undefined {
    const entry = this.parked.get(id);
    if (!entry) return undefined;
    this.parked.delete(id);
    if (this.parked.size === 0) this.unlisten();
    return entry;
  }

  /** Closes every connection nobody took (the flows started without their config node, or the runtime stopped). */
  dropAll(): void {
    const entries = [...this.parked.values()];
    this.parked.clear();
    this.unlisten();
    for (const entry of entries) drop(entry);
  }

  private readonly onStarted = (): void => this.dropAll();

  private readonly onRuntimeEvent = (event: { id?: string; payload?: { state?: string; deploy?: boolean } }): void => {
    // The runtime stopped (not a deploy): nothing will take a parked connection.
    if (event?.id === 'runtime-state' && event.payload?.state === 'stop' && !event.payload.deploy) this.dropAll();
  };

  private listen(): void {
    if (this.listening || !this.events) return;
    this.listening = true;
    this.events.on('flows:started', this.onStarted);
    this.events.on('runtime-event', this.onRuntimeEvent);
  }

  private unlisten(): void {
    if (!this.listening || !this.events) return;
    this.listening = false;
    this.events.removeListener('flows:started', this.onStarted);
    this.events.removeListener('runtime-event', this.onRuntimeEvent);
  }
}

const shelves = new WeakMap<RuntimeEvents, DeviceShelf>();

/**
 * The shelf of the runtime whose events these are. Node-RED loads a node module once per runtime,
 * but a test harness (node-red-node-test-helper) loads it again for every flow on the same event
 * bus: one shelf per bus keeps its 'flows:stopping' listener from being added each time.
 */
export function shelfOf(events: RuntimeEvents | undefined): DeviceShelf {
  if (!events) return new DeviceShelf(undefined);
  let shelf = shelves.get(events);
  if (!shelf) shelves.set(events, (shelf = new DeviceShelf(events)));
  return shelf;
}

/** Closes a connection, saying how many messages that drops (never silently). */
export function drop(entry: ShelfEntry): Promise<void> {
  const count = entry.connection.waiting;
  if (count > 0) entry.dropped(count);
  return entry.connection.close();
}
