// The small part of Node-RED's runtime API these nodes use (node-red ships no TypeScript types).
export interface NodeStatus {
  fill?: string;
  shape?: string;
  text?: string;
}

export interface Node {
  id: string;
  name?: string;
  credentials?: Record<string, unknown>;
  status(status: NodeStatus): void;
  warn(text: unknown): void;
  log(text: unknown): void;
  debug?(text: unknown): void;
  error(text: unknown, msg?: unknown): void;
  on(event: 'input', handler: (msg: Record<string, unknown>, send: (msg: unknown) => void, done: (err?: Error) => void) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
}

/** What a thingsboard-device config node offers the nodes that use it. */
export interface ThingsboardDeviceNode extends Node {
  /** Undefined when the configuration cannot work (see problems). */
  connection?: import('../device').DeviceConnection;
  problems: string[];
  /** Every secret of this device (token, password, key, passphrase, provision secret): for redaction. */
  secrets?: string[];
  maxPayloadBytes: number;
  transportName: string;
  /** A ThingsBoard gateway: messages may name sub-devices (msg.device). */
  gateway?: boolean;
}

export interface RED {
  nodes: {
    createNode(node: object, config: object): void;
    getNode(id: string): unknown;
    // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
    registerType(type: string, ctor: Function, options?: object): void;
    /** The decrypted credentials of a deployed node (runtime only). */
    getCredentials?(id: string): Record<string, unknown> | undefined;
  };
  _(key: string, params?: Record<string, unknown>): string;
  /** The admin API's express app (absent in some embeddings). */
  httpAdmin?: unknown;
  auth?: { needsPermission(permission: string): unknown };
  settings?: { userDir?: string; credentialSecret?: string | false; get?(key: string): unknown };
  log?: { warn(text: unknown): void; info(text: unknown): void };
  /** Typed inputs (msg, flow, global, env), evaluated synchronously. */
  util?: { evaluateNodeProperty(value: string, type: string, node: Node, msg: object): unknown };
}
