// Which sub-device a message is for, on a gateway device: msg.device (else the node's Sub-device:
// a name, or where to find one per message), msg.deviceType (else the node's Profile, else
// "default"). A message with neither a
// msg.device nor a node default is the gateway's own data. msg.device that is present but empty
// or not text is an error, never "the gateway itself" (a flow that lost the name must not send a
// sub-device's readings as the gateway's).
import type { GatewayTarget } from '../device';
import { PayloadError } from '../payload/errors';
import { deviceName, deviceType } from '../payload/gateway';

export interface GatewayDefaults {
  deviceName: string;
  deviceType: string;
  /** Node-RED typed-input kinds of the two ('str' = the text itself; msg, flow, global, env). */
  deviceNameType: string;
  deviceTypeType: string;
}

/** Kinds the editor offers for Sub-device and Profile. */
export const DEFAULT_KINDS = ['str', 'msg', 'flow', 'global', 'env'];

/** Looks a typed input up for one message (RED.util.evaluateNodeProperty). */
export type Evaluate = (value: string, type: string, msg: Record<string, unknown>) => unknown;

/**
 * "" / undefined → no default; else the configured text, untrimmed (names may hold spaces). A
 * kind other than text names where to look (msg.x, flow.x, global.x, env X) for each message.
 */
export function gatewayDefaults(config: { deviceName?: unknown; deviceType?: unknown; deviceNameType?: unknown; deviceTypeType?: unknown }): GatewayDefaults {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const kind = (v: unknown) => (typeof v === 'string' && DEFAULT_KINDS.includes(v) ? v : 'str');
  const deviceNameType = kind(config.deviceNameType);
  const deviceTypeType = kind(config.deviceTypeType);
  return {
    deviceName: text(config.deviceName).trim() === '' ? '' : deviceNameType === 'str' ? text(config.deviceName) : text(config.deviceName).trim(),
    deviceType: text(config.deviceType).trim(),
    deviceNameType,
    deviceTypeType,
  };
}

/** The target of `msg` (undefined = the gateway's own data); throws PayloadError. */
export function gatewayTarget(msg: Record<string, unknown>, defaults: GatewayDefaults, evaluate?: Evaluate): GatewayTarget | undefined {
  const has = msg.device !== undefined;
  if (!has && defaults.deviceName === '') {
    if (msg.disconnect === true) throw new Error('msg.disconnect is true but no sub-device is named: set msg.device (or the node\'s Sub-device)');
    return undefined;
  }
  const device = has ? deviceName(msg.device, 'msg.device') : defaultName(msg, defaults, evaluate);
  const type = msg.deviceType !== undefined ? deviceType(msg.deviceType, 'msg.deviceType') : defaultType(msg, defaults, evaluate);
  const target: GatewayTarget = { device, type };
  if (msg.disconnect === true) target.disconnect = true;
  return target;
}

// A default that names a place (msg.sensor, flow.x, env X) that holds no name fails the message:
// a flow that lost the name must not send a sub-device's readings as the gateway's own.
function defaultName(msg: Record<string, unknown>, d: GatewayDefaults, evaluate?: Evaluate): string {
  if (d.deviceNameType === 'str' || !evaluate) return d.deviceName;
  const where = `the node's Sub-device (${placeOf(d.deviceNameType, d.deviceName)})`;
  return deviceName(lookUp(evaluate, d.deviceName, d.deviceNameType, msg, where), where);
}

function defaultType(msg: Record<string, unknown>, d: GatewayDefaults, evaluate?: Evaluate): string {
  if (d.deviceTypeType === 'str' || !evaluate || d.deviceType === '') return deviceType(d.deviceType, "the node's Profile");
  const where = `the node's Profile (${placeOf(d.deviceTypeType, d.deviceType)})`;
  return deviceType(lookUp(evaluate, d.deviceType, d.deviceTypeType, msg, where), where);
}

/** Node-RED throws for a path through a missing property (msg.a.b without msg.a): say where. */
function lookUp(evaluate: Evaluate, value: string, type: string, msg: Record<string, unknown>, where: string): unknown {
  try {
    return evaluate(value, type, msg);
  } catch (err) {
    throw new PayloadError(where, `${where} could not be read (${err instanceof Error ? err.message : String(err)}): set it, or name the sub-device in msg.device`);
  }
}

function placeOf(type: string, value: string): string {
  return type === 'env' ? `env ${value}` : `${type}.${value}`;
}
