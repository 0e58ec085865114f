// A device configured to provision itself: the Transport the DeviceConnection gets is this
// wrapper. Its first connect() uses the credentials kept from an earlier provisioning, or — only
// when none are kept — provisions (transports/provision.ts), keeps what it obtained (the
// KeptCredentials store encrypts it; src/nodes/provision-store.ts) and then connects the real
// transport with it. A restart or redeploy therefore never provisions again: ThingsBoard refuses
// to provision a device that exists. Everything else is the real transport's, forwarded as is.
import { EventEmitter } from 'node:events';
import { createTransport } from '../transports';
import { provisionDevice, type ProvisionRequest, type Provisioned } from '../transports/provision';
import {
  TransportError,
  type AttributesAnswer, type AttributesQuery, type ConnectionSettings, type DownlinkChannel,
  type OutboundMessage, type SendCallback, type Transport, type TransportName,
} from '../transports/transport';

export type { Provisioned, ProvisionRequest, ProvisionAsk } from '../transports/provision';

/** Where what provisioning obtained is kept between restarts (encrypted: it is a secret). */
export interface KeptCredentials {
  /** What was kept, or undefined. Throws an Error saying why when it cannot be read. */
  load(): Provisioned | undefined;
  save(obtained: Provisioned): void;
}

export interface ProvisionPlan {
  request: ProvisionRequest;
  store: KeptCredentials;
  /** Told each secret as soon as it is known (redaction everywhere above). */
  onSecret(secret: string): void;
  /** X.509: the client certificate and key the device connects with after provisioning. */
  x509?: { certPem: string; keyPem: string; passphrase: string };
  /** Tests: replaces the provisioning exchange. */
  provision?: typeof provisionDevice;
  /** Tests: makes the real transport. */
  createTransport?: (settings: ConnectionSettings) => Transport;
}

const EVENTS = ['phase', 'down', 'warning', 'attributes', 'rpc', 'resubscribed'];

/** The settings the real transport connects with, given what provisioning obtained. */
export function provisionedSettings(base: ConnectionSettings, obtained: Provisioned, x509?: ProvisionPlan['x509']): ConnectionSettings {
  if (obtained.type === 'accessToken') return { ...base, accessToken: obtained.token, auth: { type: 'accessToken' } };
  if (obtained.type === 'mqttBasic') {
    return { ...base, accessToken: '', auth: { type: 'mqttBasic', username: obtained.username, password: obtained.password }, mqtt: { ...base.mqtt, clientId: obtained.clientId || base.mqtt.clientId } };
  }
  return { ...base, accessToken: '', auth: { type: 'x509', certPem: x509?.certPem ?? '', keyPem: x509?.keyPem ?? '', passphrase: x509?.passphrase ?? '' } };
}

export function secretsOfProvisioned(obtained: Provisioned): string[] {
  if (obtained.type === 'accessToken') return [obtained.token];
  if (obtained.type === 'mqttBasic') return [obtained.password].filter(Boolean);
  return [];
}

export class ProvisionedTransport extends EventEmitter implements Transport {
  readonly name: TransportName;
  private inner: Transport | undefined;
  private closed = false;

  constructor(private readonly base: ConnectionSettings, private readonly plan: ProvisionPlan) {
    super();
    this.name = base.transport;
    plan.onSecret(plan.request.provisionSecret);
  }

  get maxInFlight(): number {
    return this.inner?.maxInFlight ?? (this.name === 'mqtt' || this.name === 'mqtts' ? 16 : Math.max(1, Math.floor(this.base.coap.maxInFlight || 4)));
  }

  async connect(): Promise<void> {
    if (this.closed) throw new TransportError('transport closed', 'closed', 'CLOSED');
    if (!this.inner) {
      const obtained = await this.obtain();
      if (this.closed) throw new TransportError('transport closed', 'closed', 'CLOSED');
      const inner = (this.plan.createTransport ?? createTransport)(provisionedSettings(this.base, obtained, this.plan.x509));
      for (const event of EVENTS) inner.on(event, (...args: unknown[]) => this.emit(event, ...args));
      this.inner = inner;
    }
    await this.inner.connect();
  }

  /** Kept credentials, else one provisioning exchange whose result is kept before it is used. */
  private async obtain(): Promise<Provisioned> {
    let kept: Provisioned | undefined;
    try {
      kept = this.plan.store.load();
    } catch (err) {
      throw new TransportError(`the provisioned credentials kept for this device cannot be read (${(err as Error).message}): press "Forget provisioned" in the device configuration only if the device was deleted in ThingsBoard, otherwise restore Node-RED's credential secret`, 'unauthorized', 'PROVISION_KEPT_UNREADABLE');
    }
    if (kept) {
      for (const s of secretsOfProvisioned(kept)) this.plan.onSecret(s);
      return kept;
    }
    this.emit('phase', 'connecting');
    const obtained = await (this.plan.provision ?? provisionDevice)(this.base, this.plan.request, undefined, (text) => this.emit('warning', text));
    for (const s of secretsOfProvisioned(obtained)) this.plan.onSecret(s);
    try {
      this.plan.store.save(obtained);
    } catch (err) {
      // Connecting without keeping would provision again at the next start, which ThingsBoard refuses.
      throw new TransportError(`provisioned, but the credentials cannot be kept (${(err as Error).message}): fix the user directory's permissions, then delete the new device in ThingsBoard and restart`, 'unauthorized', 'PROVISION_KEEP_FAILED');
    }
    this.emit('warning', `provisioned device "${this.plan.request.deviceName}" in ThingsBoard; its credentials are kept (encrypted) for the next starts`);
    return obtained;
  }

  private live(): Transport {
    if (!this.inner) throw new TransportError('not connected', 'closed', 'NOT_CONNECTED');
    return this.inner;
  }

  send(message: OutboundMessage): Promise<void> {
    return this.inner ? this.inner.send(message) : Promise.reject(new TransportError('not connected', 'closed', 'NOT_CONNECTED'));
  }

  sendWithCallback(message: OutboundMessage, callback: SendCallback): void {
    const inner = this.inner;
    if (inner?.sendWithCallback) return inner.sendWithCallback(message, callback);
    this.send(message).then(() => callback(), (err: TransportError) => callback(err));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner?.close();
  }

  async subscribe(channel: DownlinkChannel): Promise<void> { return this.live().subscribe(channel); }
  async unsubscribe(channel: DownlinkChannel): Promise<void> { if (this.inner) await this.inner.unsubscribe(channel); }
  async respondRpc(id: number, body: Buffer): Promise<void> { return this.live().respondRpc(id, body); }
  async requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> { return this.live().requestAttributes(query, timeoutMs, signal); }
  async callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> { return this.live().callRpc(method, params, timeoutMs, signal); }
}
