// A gateway connection's extra parts (ThingsBoard's gateway API, MQTT only): the sub-devices
// (sub-devices.ts) and their downlink (downlink.ts). The device connection tells it when a
// transport is made, when a session is up (before the queue is pumped: sub-devices are announced
// first) and when it is gone; the outbox sends sub-device data through send.ts.
import type { Transport } from '../../transports/transport';
import type { DeviceError, DoneCallback } from '../errors';
import type { ExchangeHost } from '../requests';
import type { Background } from '../../background';
import { GatewayDownlink } from './downlink';
import { SubDevices, type GatewayTarget } from './sub-devices';

export type { GatewayTarget } from './sub-devices';
export type { GatewayListener } from './downlink';

export interface GatewayHost extends ExchangeHost {
  warn(text: string): void;
  work: Background;
}

export class Gateway {
  readonly subDevices: SubDevices;
  readonly downlink: GatewayDownlink;

  /** `debug`: a line worth logging when debugging only; `changed`: the number of sub-devices changed (status). */
  /** `maxSubDevices`: known names kept at most (sub-devices.ts; default MAX_KNOWN_SUB_DEVICES). */
  constructor(host: GatewayHost, debug: (text: string) => void, changed: () => void, maxSubDevices?: number) {
    this.subDevices = new SubDevices(
      {
        warn: (text) => host.warn(text),
        changed,
        announced: (name) => this.downlink.announced(name),
        busy: (name) => this.downlink.busy(name),
      },
      maxSubDevices,
    );
    this.downlink = new GatewayDownlink(
      {
        get sendingTransport() {
          return host.sendingTransport;
        },
        blocked: () => host.blocked(),
        redact: (text) => host.redact(text),
        warn: (text) => host.warn(text),
        debug,
        work: host.work,
      },
      this.subDevices,
    );
  }

  /** `done` of a message for `target`: its name is not forgotten until then (sub-devices.ts). */
  held(target: GatewayTarget, done: DoneCallback): DoneCallback {
    if (target.disconnect) return done;
    const subDevices = this.subDevices;
    const name = target.device;
    subDevices.hold(name);
    return (err) => {
      subDevices.release(name);
      done(err);
    };
  }

  attach(transport: Transport): () => void {
    return this.downlink.attach(transport);
  }

  /** A session is up: announce every sub-device, then subscribe what the listeners need. */
  connected(transport: Transport): void {
    this.subDevices.connected(transport);
    this.downlink.connected(transport);
  }

  down(): void {
    this.subDevices.down();
    this.downlink.down();
  }

  stopped(err: DeviceError): void {
    this.subDevices.down();
    this.downlink.stopped(err);
  }
}
