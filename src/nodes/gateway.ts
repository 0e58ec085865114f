// Which sub-device a message is for, on a gateway device: msg.device (else the node's Sub-device
// name), msg.deviceType (else the node's Profile, else "default"). A message with neither a
// msg.device nor a node default is the gateway's own data. msg.device that is present but empty
// or not text is an error, never "the gateway itself" (a flow that lost the name must not send a
// sub-device's readings as the gateway's).
import type { GatewayTarget } from '../device';
import { deviceName, deviceType } from '../payload/gateway';

export interface GatewayDefaults {
  deviceName: string;
  deviceType: string;
}

/** "" / undefined → no default; else the configured text, untrimmed (names may hold spaces). */
export function gatewayDefaults(config: { deviceName?: unknown; deviceType?: unknown }): GatewayDefaults {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  return { deviceName: text(config.deviceName).trim() === '' ? '' : text(config.deviceName), deviceType: text(config.deviceType).trim() };
}

/** The target of `msg` (undefined = the gateway's own data); throws PayloadError. */
export function gatewayTarget(msg: Record<string, unknown>, defaults: GatewayDefaults): GatewayTarget | undefined {
  const has = msg.device !== undefined;
  if (!has && defaults.deviceName === '') {
    if (msg.disconnect === true) throw new Error('msg.disconnect is true but no sub-device is named: set msg.device (or the node\'s Sub-device)');
    return undefined;
  }
  const device = has ? deviceName(msg.device, 'msg.device') : defaults.deviceName;
  const type = msg.deviceType !== undefined ? deviceType(msg.deviceType, 'msg.deviceType') : deviceType(defaults.deviceType, "the node's Profile");
  const target: GatewayTarget = { device, type };
  if (msg.disconnect === true) target.disconnect = true;
  return target;
}
