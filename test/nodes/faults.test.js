'use strict';
// Fault injection: Node-RED stops on an uncaught exception or an unhandled rejection, so no
// promise, listener or timer of ours may let one escape. Here every device's transport is a
// saboteur: connect, close, subscribe, unsubscribe, send and the request methods throw
// synchronously or reject, in turns, and the events it emits carry garbage that makes the
// device layer's listeners throw. Across deploys, redeploys and inputs, the runtime must keep
// running (nothing reaches process 'uncaughtException' / 'unhandledRejection'), every fault
// must be said in the log, and afterwards the same runtime must still deliver a message.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor } = require('./common');
const { lib, TOKEN, emulator } = require('../mqtt/common');

const transports = lib('transports/index.js');
const { TransportError } = lib('transports/transport.js');
const realCreateTransport = transports.createTransport;

/** Throws or rejects, in turns per method, with a text that names the method. */
class Saboteur extends EventEmitter {
  constructor() {
    super();
    this.name = 'mqtt';
    this.maxInFlight = 2;
    this.calls = new Map();
  }

  fault(method) {
    const n = (this.calls.get(method) || 0) + 1;
    this.calls.set(method, n);
    const err = n % 3 === 0 ? new TransportError(`injected ${method} fault ${n}`, 'closed', 'INJECTED') : new Error(`injected ${method} fault ${n}`);
    if (n % 2 === 1) throw err;
    return Promise.reject(err);
  }

  connect() {
    // Every third attempt connects, so the receive side and the garbage events are reached too.
    const n = (this.calls.get('connect') || 0) + 1;
    if (n % 3 === 0) {
      this.calls.set('connect', n);
      setImmediate(() => {
        for (const [event, arg] of [['attributes', null], ['rpc', undefined], ['resubscribed', 'attributes'], ['phase', Symbol('x')], ['warning', { toString: null }]]) {
          try {
            this.emit(event, arg);
          } catch (err) {
            // A listener that throws into our emit: that is exactly what must not happen.
            escaped.push(`'${event}' listener threw into the transport: ${err.message}`);
          }
        }
        setTimeout(() => this.emit('down', 42), 20); // not even an Error
      });
      return Promise.resolve();
    }
    return this.fault('connect');
  }

  send() { return this.fault('send'); }
  close() { return this.fault('close'); }
  subscribe() { return this.fault('subscribe'); }
  unsubscribe() { return this.fault('unsubscribe'); }
  respondRpc() { return this.fault('respondRpc'); }
  requestAttributes() { return this.fault('requestAttributes'); }
  callRpc() { return this.fault('callRpc'); }
}

const escaped = [];
const onUncaught = (err) => escaped.push(`uncaughtException: ${err && err.stack}`);
const onUnhandled = (err) => escaped.push(`unhandledRejection: ${err && err.stack}`);

test.before(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
});

test.after(() => {
  process.removeListener('uncaughtException', onUncaught);
  process.removeListener('unhandledRejection', onUnhandled);
  transports.createTransport = realCreateTransport;
});

const at = { x: 100, y: 100 };

function flow(port, name = 'a', keepalive = 60) {
  return [
    { id: 'tab', type: 'tab', label: 'faults' },
    // A changed setting, so a redeploy replaces the connection (the same one would be kept).
    deviceConfig({ port: String(port), name, keepalive: String(keepalive) }),
    ...outsWithProbes([['out1', {}]]),
    { id: 'attr', type: 'thingsboard-in', z: 'tab', ...at, name, device: 'dev', receive: 'attributes', keys: '', initial: true, wires: [] },
    { id: 'rpc', type: 'thingsboard-in', z: 'tab', ...at, name, device: 'dev', receive: 'rpc', methods: '', wires: [] },
    { id: 'req', type: 'thingsboard-request', z: 'tab', ...at, name, device: 'dev', request: 'attributes', timeout: '0.5', wires: [] },
    { id: 'reply', type: 'thingsboard-rpc-response', z: 'tab', ...at, name, wires: [] },
  ];
}

function logTexts() {
  const texts = [];
  const spy = helper.log();
  if (spy) for (const args of spy.args) texts.push(args.map((a) => (a && typeof a === 'object' ? JSON.stringify(a) : String(a))).join(' '));
  for (const method of ['warn', 'error', 'log']) {
    const s = helper._NodePrototype[method];
    if (s && Array.isArray(s.args)) for (const args of s.args) texts.push(args.map((a) => (a instanceof Error ? a.message : typeof a === 'object' ? JSON.stringify(a) : String(a))).join(' '));
  }
  return texts.join('\n');
}

test('a transport that throws and rejects at every step, and events that make listeners throw: Node-RED keeps running, the log says so', { timeout: 90000 }, async () => {
  const made = [];
  transports.createTransport = () => {
    const t = new Saboteur();
    made.push(t);
    return t;
  };
  const creds = { dev: { accessToken: TOKEN } };
  await helper.load(allModules(), flow(1883), creds);
  const out = probe('out1');
  // Connect attempts fail, then one succeeds and the garbage events and subscriptions run.
  await waitFor(() => made.some((t) => (t.calls.get('subscribe') || 0) > 0), 'a subscription attempted', 20000);
  await waitFor(() => made.some((t) => (t.calls.get('requestAttributes') || 0) > 0), 'the initial values asked for', 20000);
  // Inputs while the transport misbehaves end, one way or the other, and say why.
  const sent = out.send({ payload: { a: 1 } });
  helper.getNode('req').receive({ payload: {} });
  helper.getNode('reply').receive({ payload: 1, rpc: { id: 1, device: 'dev' } });
  // Redeploys close connections whose close() throws or rejects.
  for (let i = 0; i < 4; i++) {
    await helper.setFlows(flow(1883, `r${i}`, 61 + i), i % 2 ? 'full' : 'nodes', creds);
    await new Promise((r) => setTimeout(r, 150));
  }
  // A redeploy that keeps the device keeps its queue: the message may still wait (it ends when
  // the runtime stops); it must never pretend to be delivered.
  const ended = await Promise.race([sent, new Promise((r) => setTimeout(() => r({ waiting: true }), 1000))]);
  assert.notEqual(ended.ok, true, 'the message did not pretend to be delivered');
  await waitFor(() => made.some((t) => (t.calls.get('close') || 0) > 0), 'a close attempted');
  await waitFor(() => /closing the connection to 127\.0\.0\.1:1883 failed: injected close fault/.test(logTexts()), 'the failed close in the log');
  const log = logTexts();
  assert.match(log, /cannot connect: injected connect fault/, 'a failed connect in the log');
  assert.match(log, /subscribing to (shared-attribute updates|server-side RPC) failed: injected subscribe fault|cannot receive (shared-attribute updates|server-side RPC): injected subscribe fault/, 'a failed subscription in the log');
  assert.match(log, /passing on a (shared-attribute update|server-side RPC) failed/, 'a listener that threw on a garbage event, in the log');
  assert.ok(!log.includes(TOKEN), 'no token in the log');
  await helper.unload();
  assert.deepEqual(escaped, [], 'nothing escaped to the process');

  // The same runtime still works: a real transport delivers a message.
  transports.createTransport = realCreateTransport;
  const { store, emu } = await emulator();
  try {
    await helper.load(allModules(), [{ id: 'tab', type: 'tab' }, deviceConfig({ port: String(emu.port) }), ...outsWithProbes([['out1', {}]])], creds);
    await waitFor(() => /status\.connected/.test((lastStatus('out1') || {}).text || ''), 'connected');
    assert.deepEqual(await probe('out1').send({ payload: { after: 1 } }), { ok: true, count: 1 });
    assert.equal(store.latest('dev1').after.value, 1);
    await helper.unload();
  } finally {
    await emu.close();
  }
  assert.deepEqual(escaped, [], 'nothing escaped to the process');
});
