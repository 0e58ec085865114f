// Where a provisioning device keeps what ThingsBoard gave it: one file per config node in the
// Node-RED user directory (<userDir>/.thingsboard-device/<node id>.json), encrypted with AES-256-GCM
// under a key derived from Node-RED's credential secret (the one that protects flows_cred.json:
// settings.credentialSecret, else the one the runtime generated). Nothing secret is written in
// clear text; without a credential secret (credentialSecret: false) nothing is kept and the
// device says so instead of provisioning at every start.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeptCredentials, Provisioned } from '../device';
import type { RED } from './red';

const FOLDER = '.thingsboard-device';

export interface ProvisionStore extends KeptCredentials {
  /** Deletes what was kept; true when there was something. */
  forget(): boolean;
  readonly file: string;
}

/** Node-RED's credential secret: the configured one, else the runtime's generated one. */
export function credentialSecret(RED: RED): string | undefined {
  const configured = RED.settings?.credentialSecret;
  if (typeof configured === 'string' && configured) return configured;
  if (configured === false) return undefined;
  try {
    const generated = RED.settings?.get?.('_credentialSecret');
    if (typeof generated === 'string' && generated) return generated;
  } catch { /* not available in this runtime */ }
  return undefined;
}

export function userDirOf(RED: RED): string | undefined {
  const dir = RED.settings?.userDir;
  return typeof dir === 'string' && dir ? dir : undefined;
}

function safeName(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9_.-]/g, '_') || 'device';
}

export function provisionStore(userDir: string, nodeId: string, secret: string | undefined): ProvisionStore {
  const file = path.join(userDir, FOLDER, `${safeName(nodeId)}.json`);
  const key = () => {
    if (!secret) throw new Error("Node-RED has no credential secret (credentialSecret: false), so provisioned credentials cannot be kept encrypted: set credentialSecret in settings.js");
    return createHash('sha256').update(`thingsboard-device provisioned credentials\n${secret}`).digest();
  };
  return {
    file,
    load(): Provisioned | undefined {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      try {
        const box = JSON.parse(text) as { v: number; iv: string; tag: string; data: string; node: string };
        const decipher = createDecipheriv('aes-256-gcm', key(), Buffer.from(box.iv, 'base64'));
        decipher.setAAD(Buffer.from(nodeId));
        decipher.setAuthTag(Buffer.from(box.tag, 'base64'));
        const plain = Buffer.concat([decipher.update(Buffer.from(box.data, 'base64')), decipher.final()]);
        return JSON.parse(plain.toString('utf8')) as Provisioned;
      } catch (err) {
        if (/credential secret/.test((err as Error).message)) throw err;
        throw new Error(`${file} cannot be decrypted with Node-RED's credential secret (was it changed?)`);
      }
    },
    save(obtained: Provisioned): void {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key(), iv);
      cipher.setAAD(Buffer.from(nodeId));
      const data = Buffer.concat([cipher.update(JSON.stringify(obtained), 'utf8'), cipher.final()]);
      const box = { v: 1, node: nodeId, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(box), { mode: 0o600 });
      fs.renameSync(tmp, file);
    },
    forget(): boolean {
      try {
        fs.unlinkSync(file);
        return true;
      } catch {
        return false;
      }
    },
  };
}
