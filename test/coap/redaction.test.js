'use strict';
// The token never appears in a text, end to end: a CoAP server that answers with an error whose
// diagnostic payload quotes the request URI (plain and URI-encoded token — servers and proxies
// do this; ThingsBoard's own messages name the resource), through the transport, the device
// layer and the out node into done(err), status and log. Every captured text is scanned by
// test/support/scan.js. The positive control: the server really sent the token, and the texts
// show where it was removed (***), so this path would leak if redact() did not work.
const test = require('node:test');
const assert = require('node:assert/strict');
const coap = require('coap');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor, scanForTokens } = require('../nodes/common');
const { collectTexts } = require('../support/scan');
const { fastTiming } = require('./common');

fastTiming(0.5); // nothing here waits for a CoAP timeout: a wide window costs no time
// Characters URI encoding changes: the encoded form must be caught as well.
const TOKEN = 'Redact/me+pl ease=7Q';

test('a CoAP error quoting the URI (token plain and encoded) reaches done(err), status and log without the token', { timeout: 30000 }, async (t) => {
  const sentByServer = [];
  const server = coap.createServer((req, res) => {
    const segments = req.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString('utf8'));
    const uri = `/${segments.join('/')}`;
    const encoded = `/${segments.map(encodeURIComponent).join('/')}`;
    const text = req.payload.toString().includes('warn')
      ? `unknown device at ${uri}`
      : `no such resource ${encoded} (token ${segments[2]})`;
    sentByServer.push(text);
    res.code = req.payload.toString().includes('warn') ? '4.00' : '4.04';
    res.end(text);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await helper.unload();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = server._sock.address().port;

  await helper.load(allModules(), [
    { id: 'tab', type: 'tab' },
    deviceConfig({ transport: 'coap', port: String(port) }),
    ...outsWithProbes([['out1', {}]]),
  ], { dev: { accessToken: TOKEN } });
  const out = probe('out1');
  const refused = await out.send({ payload: { a: 1 } });
  assert.equal(refused.ok, false);
  assert.match(refused.error, /4\.04/);
  const refusedAgain = await out.send({ payload: { a: 'warn' } });
  assert.equal(refusedAgain.ok, false);
  assert.match(refusedAgain.error, /4\.00/);
  await waitFor(() => /status\.lastFailed/.test((lastStatus('out1') || {}).text || ''), 'last failure in the status');

  // Positive control: the server's texts hold the token in both forms ...
  assert.ok(sentByServer.some((s) => s.includes(TOKEN)), 'the server quoted the plain token');
  assert.ok(sentByServer.some((s) => s.includes(encodeURIComponent(TOKEN))), 'the server quoted the encoded token');
  // ... and they reached the user, with the token removed.
  const errors = [refused.error, refusedAgain.error];
  assert.match(refused.error, /no such resource \/api\/v1\/\*\*\*\/telemetry \(token \*\*\*\)/, refused.error);
  assert.match(refusedAgain.error, /unknown device at \/api\/v1\/\*\*\*\/telemetry/, refusedAgain.error);
  const texts = collectTexts(helper);
  const scanned = scanForTokens(errors, [TOKEN]);
  t.diagnostic(`${texts.filter((s) => s.includes('***')).length} log/status texts held a redacted token`);
  t.diagnostic(`${scanned} texts scanned`);
});
