'use strict';
// A certificate factory on the openssl CLI (no checked-in keys): keys once per name, then
// certificates signed with `openssl ca`, which can set any dates, digest and extension text.
//
//   const pki = await opensslPki();                           // a temp directory
//   await pki.key('root', 'ec:P-256');                          // or 'rsa:2048', 'ec:secp112r1'
//   const root = await pki.cert('root', { key: 'root', cn: 'Root', ext: CA });  // self-signed
//   const leaf = await pki.cert('leaf', { key: 'leaf', cn: 'tb.example.com', issuer: 'root', ext: LEAF });
//   pki.pem('root'), pki.file('leaf'), pki.keyFile('leaf'), pki.bundle(['root']) → a PEM file path
//   pki.remove()
// Extension text is openssl.cnf syntax (x509v3_config); `ext: null` makes a version-1 certificate.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

function run(args, cwd) {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

const CA_CNF = `[ ca ]
default_ca = tca
[ tca ]
database = index.txt
new_certs_dir = .
serial = serial
policy = pol
unique_subject = no
[ pol ]
organizationName = optional
commonName = optional
emailAddress = optional
`;

let serial = 0x1000;

async function opensslPki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-ossl-pki-'));
  const keys = new Map();
  const certs = new Map();
  let n = 0;

  async function key(name, type) {
    if (keys.has(name)) return keys.get(name);
    const file = path.join(dir, `${name}.key`);
    const [alg, param] = type.split(':');
    // 'ecx:<curve>': an EC key whose certificate carries the explicit curve parameters.
    const opts = alg === 'rsa' ? ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${param}`]
      : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${param}`, ...(alg === 'ecx' ? ['-pkeyopt', 'ec_param_enc:explicit'] : [])];
    const p = run(['genpkey', ...opts, '-out', file], dir).then(() => file);
    keys.set(name, p);
    return p;
  }

  /**
   * A certificate (subject: /CN=cn, or /O=o/CN=cn, or `subject` as given). issuer: a certificate name (its key signs) or absent for self-signed.
   * start/end: YYYYMMDDHHMMSSZ (default 2020 → 2040), md: digest, ext: extension text or null (v1).
   * signKey: sign with this key name instead of the issuer's (a forged signature).
   * utf8: the subject is UTF-8 (non-ASCII names are written as UTF8String).
   */
  function cert(name, spec) {
    const p = makeCert(name, spec);
    certs.set(name, p);
    p.catch(() => {}); // reported to whoever awaits it
    return p;
  }

  async function makeCert(name, { key: keyName, cn, o, subject, issuer, ext, start = '20200101000000Z', end = '20400101000000Z', md = 'sha256', sigopt = [], signKey, utf8 }) {
    const work = path.join(dir, `ca-${n++}`);
    fs.mkdirSync(work);
    fs.writeFileSync(path.join(work, 'ca.cnf'), CA_CNF);
    fs.writeFileSync(path.join(work, 'index.txt'), '');
    fs.writeFileSync(path.join(work, 'serial'), (serial++).toString(16).padStart(6, '0') + '\n');
    const keyFile = await keys.get(keyName);
    if (!keyFile) throw new Error(`openssl-pki: no key ${keyName}`);
    const csr = path.join(work, 'req.csr');
    const subj = subject ?? (`${o ? `/O=${o}` : ''}${cn !== undefined ? `/CN=${cn}` : ''}` || '/');
    await run(['req', '-new', '-key', keyFile, '-subj', subj, '-out', csr, ...(utf8 ? ['-utf8'] : [])], work);
    const out = path.join(dir, `${name}.pem`);
    const args = ['ca', '-batch', '-config', 'ca.cnf', '-in', csr, '-out', out, '-startdate', start, '-enddate', end, '-md', md, '-notext', '-preserveDN'];
    for (const s of sigopt) args.push('-sigopt', s);
    if (utf8) args.push('-utf8');
    if (issuer) {
      const is = await certs.get(issuer);
      if (!is) throw new Error(`openssl-pki: no certificate ${issuer}`);
      args.push('-cert', is.file, '-keyfile', await keys.get(signKey ?? is.key));
    } else {
      args.push('-selfsign', '-keyfile', await keys.get(signKey ?? keyName));
    }
    if (ext) {
      fs.writeFileSync(path.join(work, 'ext.cnf'), ext);
      args.push('-extfile', 'ext.cnf');
    }
    await run(args, work);
    return { file: out, key: keyName, pem: fs.readFileSync(out, 'utf8') };
  }

  /**
   * `from` as a "BEGIN TRUSTED CERTIFICATE" block (openssl x509 -trustout), with trust settings
   * such as ['-addtrust', 'serverAuth'] or ['-addreject', 'serverAuth']. Usable in bundle().
   */
  function trusted(name, from, settings) {
    const p = (async () => {
      const src = await certs.get(from);
      const out = path.join(dir, `${name}.pem`);
      await run(['x509', '-in', src.file, '-trustout', ...settings, '-out', out], dir);
      return { file: out, key: src.key, pem: fs.readFileSync(out, 'utf8') };
    })();
    certs.set(name, p);
    p.catch(() => {});
    return p;
  }

  return {
    dir, key, cert, trusted,
    async pem(name) { return (await certs.get(name)).pem; },
    async file(name) { return (await certs.get(name)).file; },
    keyFile(name) { return keys.get(name); },
    /** The key file of certificate `name`. */
    async keyFileOf(name) { return keys.get((await certs.get(name)).key); },
    /** Concatenates certificates into one PEM file; returns its path. */
    async bundle(names, label = names.join('+')) {
      const file = path.join(dir, `bundle-${label.replace(/[^A-Za-z0-9+._-]/g, '_')}.pem`);
      fs.writeFileSync(file, (await Promise.all(names.map((x) => certs.get(x)))).map((c) => c.pem).join(''));
      return file;
    },
    remove() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

module.exports = { opensslPki };
