// What the device layer offers the Node-RED glue (src/nodes), which imports nothing else from
// here: one DeviceConnection per config node (connection.ts), its downlink (downlink.ts), the
// status it reports (status.ts), the configuration parsers (settings.ts), the registry the
// connections of one runtime share (registry.ts), and the credentials: the client-certificate
// check (credentials.ts) and the transport of a device that provisions itself
// (provisioned-transport.ts).
export { DeviceConnection, DeviceError, type ConnectionOptions, type DeviceLog, type DeviceUser, type DoneCallback } from './connection';
export type { DownlinkListener } from './downlink';
export type { GatewayListener, GatewayTarget } from './gateway';
export type { DeviceMessage } from './outbox';
export { batchShapeOf } from './batch';
export type { DeviceState, DeviceStatus } from './status';
export { DeviceRegistry } from './registry';
export {
  parseDeviceConfig,
  parseInOptions,
  parseOutOptions,
  parseRequestOptions,
  nameList,
  REQUEST_TIMEOUT_S,
  type DeviceConfig,
} from './settings';
export { secretsOf, type DeviceAuth } from '../transports/transport';
export { checkClientCertificate, pemCertificates, type CredentialsType } from './credentials';
export { ProvisionedTransport, type KeptCredentials, type Provisioned, type ProvisionPlan } from './provisioned-transport';
export { queueFolder } from './disk-queue';
