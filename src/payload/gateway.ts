// ThingsBoard's gateway API bodies (one gateway connection, many sub-devices by name): pure
// functions, no I/O. What ThingsBoard takes on v1/gateway/* and why each rule exists:
// - A sub-device is a ThingsBoard device name: an empty one is refused by the server, and a
//   body it cannot convert closes the WHOLE gateway session (every sub-device's data with it).
//   So names are checked here, before anything is queued.
// - Telemetry must be an ARRAY per device: {"A":[{ts,values},...]}; an object there makes the
//   server close the connection. Attributes are one object per device: {"A":{k:v}}.
// - A publish with several devices is acknowledged once per device entry with one packet id, so
//   its first PUBACK proves only the first entry: the device layer decides what may share one
//   (device/gateway/send.ts); the bodies here are one device's.
import { PayloadError, describe } from './errors';

/** ThingsBoard stores device names in a 255-character column. */
export const MAX_DEVICE_NAME = 255;
/** ThingsBoard's implicit device profile when `type` is missing. */
export const DEFAULT_DEVICE_TYPE = 'default';

/**
 * A sub-device name from `value` (msg.device or the node's default), or throws PayloadError.
 * `where` names its source in the message ("msg.device", "the node's Device name").
 */
export function deviceName(value: unknown, where: string): string {
  if (typeof value !== 'string') {
    throw new PayloadError(
      where,
      `${where} is ${describe(value)}: a sub-device is named by text (its ThingsBoard device name), e.g. "boiler-1"; ` +
        'leave msg.device out to send the gateway\'s own data',
    );
  }
  if (value.trim() === '') {
    throw new PayloadError(
      where,
      `${where} is empty text: ThingsBoard refuses a device without a name; set it to the sub-device's name, ` +
        'or leave msg.device out (undefined) to send the gateway\'s own data',
    );
  }
  if (value.length > MAX_DEVICE_NAME) {
    throw new PayloadError(where, `${where} is ${value.length} characters long: ThingsBoard device names have at most ${MAX_DEVICE_NAME}`);
  }
  return value;
}

/** A device profile name (msg.deviceType or the node's default); empty → "default". */
export function deviceType(value: unknown, where: string): string {
  if (value === undefined || value === null || value === '') return DEFAULT_DEVICE_TYPE;
  if (typeof value !== 'string') {
    throw new PayloadError(where, `${where} is ${describe(value)}: the device profile is named by text, e.g. "thermostat" (empty = "default")`);
  }
  if (value.trim() === '') return DEFAULT_DEVICE_TYPE;
  if (value.length > MAX_DEVICE_NAME) {
    throw new PayloadError(where, `${where} is ${value.length} characters long: ThingsBoard profile names have at most ${MAX_DEVICE_NAME}`);
  }
  return value;
}

/** v1/gateway/connect: {"device":name,"type":type}. */
export function connectBody(name: string, type: string): Buffer {
  return Buffer.from(`{"device":${JSON.stringify(name)},"type":${JSON.stringify(type)}}`, 'utf8');
}

/** v1/gateway/disconnect: {"device":name}. */
export function disconnectBody(name: string): Buffer {
  return Buffer.from(`{"device":${JSON.stringify(name)}}`, 'utf8');
}

/** Bytes the device wrapper `{"<name>":` … `}` adds to a body (a telemetry body that is no array yet adds 2 for its brackets). */
export function wrapperBytes(name: string): number {
  // Per message on the hot path: printable ASCII without `"` or `\` is written as is by
  // JSON.stringify (the name, its two quotes, `{`, `:` and `}`); anything else is measured.
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return Buffer.byteLength(JSON.stringify(name), 'utf8') + 3;
  }
  return name.length + 5;
}

/**
 * `{"<name>":<body>}`; with `array`, a body that is not already a JSON array goes in brackets:
 * `{"<name>":[<body>]}` (telemetry is an array per device, always).
 */
export function deviceBody(name: string, body: Buffer, array: boolean): Buffer {
  const head = Buffer.from(`{${JSON.stringify(name)}:${array && !startsArray(body) ? '[' : ''}`, 'utf8');
  const bracket = array && !startsArray(body);
  const out = Buffer.allocUnsafe(head.length + body.length + (bracket ? 2 : 1));
  head.copy(out, 0);
  body.copy(out, head.length);
  let at = head.length + body.length;
  if (bracket) out[at++] = 0x5d; // ]
  out[at] = 0x7d; // }
  return out;
}

/** v1/gateway/rpc reply: {"device":name,"id":id,"data":<body>}. */
export function rpcReplyBody(name: string, id: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`{"device":${JSON.stringify(name)},"id":${id},"data":`, 'utf8'), body, Buffer.from('}')]);
}

function startsArray(body: Buffer): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x5b;
  }
  return false;
}
