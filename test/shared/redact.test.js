'use strict';
// redact() (src/shared.ts): every text that can reach a user goes through it, so it
// must remove the access token in every form a text can hold it — as typed, and URI-encoded (CoAP
// carries the token in the request URI, and libraries print URIs encoded).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const { redact, REDACTED } = require(path.join(__dirname, '..', '..', 'nodes', 'lib', 'shared'));

test('the plain token is replaced everywhere it occurs, and nothing else changes', { timeout: 30000 }, () => {
  const token = 'A1b2C3d4E5f6G7h8';
  const text = `coap://127.0.0.1:5683/api/v1/${token}/telemetry failed; retry /api/v1/${token}/attributes`;
  assert.equal(redact(text, token), `coap://127.0.0.1:5683/api/v1/${REDACTED}/telemetry failed; retry /api/v1/${REDACTED}/attributes`);
  assert.equal(REDACTED, '***');
  assert.equal(redact('nothing secret here', token), 'nothing secret here');
  // A token that is also a prefix of a longer word is still removed (it must not be recoverable).
  assert.equal(redact(`${token}XYZ`, token), `${REDACTED}XYZ`);
});

test('the URI-encoded token is replaced too, next to the plain one', { timeout: 30000 }, () => {
  const token = 'Tok3n/odd+chars A1b2=C3ü%';
  const encoded = encodeURIComponent(token);
  assert.notEqual(encoded, token);
  const text = `GET coap://h/api/v1/${encoded}/telemetry (token ${token})`;
  const out = redact(text, token);
  assert.equal(out, `GET coap://h/api/v1/${REDACTED}/telemetry (token ${REDACTED})`);
  assert.ok(!out.includes(token) && !out.includes(encoded), out);
  // The encoded form alone, several times.
  assert.equal(redact(`${encoded}|${encoded}`, token), `${REDACTED}|${REDACTED}`);
});

test('an empty token leaves the text as it is (no "***" between every character)', { timeout: 30000 }, () => {
  assert.equal(redact('connection refused', ''), 'connection refused');
});

test('redactSecrets / redact(text, list): every secret of a device, URI-encoded too, and a PEM key line by line', () => {
  const { redactSecrets, redact: redactAny } = require('../../nodes/lib/shared');
  const key = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij\n-----END PRIVATE KEY-----';
  const text = `pw=p@ss w0rd! token=tok/1 enc=${encodeURIComponent('p@ss w0rd!')} keyline=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij`;
  const out = redactSecrets(text, ['tok/1', 'p@ss w0rd!', key, '']);
  for (const secret of ['tok/1', 'p@ss w0rd!', encodeURIComponent('p@ss w0rd!'), 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij']) assert.ok(!out.includes(secret), `${secret} in ${out}`);
  assert.equal(redactAny(text, ['tok/1', 'p@ss w0rd!']), redactSecrets(text, ['tok/1', 'p@ss w0rd!']));
  assert.equal(redactAny('a tok b', 'tok'), 'a *** b');
});
