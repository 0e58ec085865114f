'use strict';
// Token-leak scan: collects every text our nodes produced in a node-red-node-test-helper run —
// log lines (warn/error/info through RED.log), status texts, node.warn/error/log arguments — plus
// any texts a test adds (done(err) messages seen by a Catch node, debug output), and checks that
// no access token appears in any of them, also URI-encoded.
//
//   const texts = collectTexts(helper);           // call before helper.unload() (spies reset)
//   assertNoSecrets([...texts, ...caught], [TOKEN]);
const util = require('node:util');

function show(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack || ''}`;
  return util.inspect(value, { depth: 6, breakLength: Infinity });
}

/** Every log line and node status/warn/error/log call the helper's spies recorded. */
function collectTexts(helper) {
  const texts = [];
  const logSpy = helper.log();
  if (logSpy) for (const args of logSpy.args) texts.push(args.map(show).join(' '));
  const proto = helper._NodePrototype;
  for (const method of ['status', 'warn', 'error', 'log', 'debug', 'trace']) {
    const spy = proto && proto[method];
    if (spy && Array.isArray(spy.args)) for (const args of spy.args) texts.push(args.map(show).join(' '));
  }
  return texts;
}

/** Fails listing each text that holds a secret (the secret itself masked in the report). */
function assertNoSecrets(texts, secrets) {
  const found = [];
  for (const text of texts) {
    for (const secret of secrets) {
      if (!secret) continue;
      const forms = new Set([secret, encodeURIComponent(secret)]);
      for (const form of forms) {
        if (String(text).includes(form)) found.push(String(text).split(form).join('<TOKEN>'));
      }
    }
  }
  if (found.length) {
    throw new Error(`a secret (access token, password, key, passphrase, provision secret) found in ${found.length} captured text(s):\n${found.slice(0, 10).join('\n')}`);
  }
  return texts.length;
}

/**
 * The secrets in a thingsboard-device credentials object: the access token, the MQTT basic
 * password, the private key (and each long line of it: a library may quote part of a PEM), its
 * passphrase, the provision secret. Pass them (plus anything obtained by provisioning) to
 * assertNoSecrets.
 */
const SECRET_FIELDS = ['accessToken', 'password', 'clientKey', 'clientKeyPassphrase', 'provisionSecret'];
function secretsIn(credentials = {}) {
  const out = [];
  for (const field of SECRET_FIELDS) {
    const value = credentials[field];
    if (typeof value !== 'string' || !value) continue;
    out.push(value);
    if (value.includes('-----BEGIN')) for (const line of value.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) out.push(line);
  }
  return out;
}

module.exports = { collectTexts, assertNoSecrets, secretsIn, SECRET_FIELDS };
