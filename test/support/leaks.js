'use strict';
// What a leak can hide in, counted for the leak tests. process.getActiveResourcesInfo() lists only
// ref'd handles: an unref'd interval or socket left behind does not keep the process alive and is
// not in it. So this counts, with async_hooks, every timer (Timeout, ref'd or not) and socket
// (TCP, TLS, UDP, pipe) created and not yet destroyed, in any state; plus the listeners on the
// emitters that outlive a deploy: process, Node-RED's runtime events, the coap library's global
// agent. Load this module before the code under test runs (it only sees what is created after).
const asyncHooks = require('node:async_hooks');

const TRACKED = new Set(['Timeout', 'TCPWRAP', 'TLSWRAP', 'UDPWRAP', 'PIPEWRAP', 'TCPSERVERWRAP']);
const live = new Map(); // asyncId → type
const created = {}; // type → how many were ever created
const hook = asyncHooks.createHook({
  init(id, type) {
    if (!TRACKED.has(type)) return;
    live.set(id, type);
    created[type] = (created[type] || 0) + 1;
  },
  destroy(id) {
    live.delete(id);
  },
});
hook.enable();

function listenerTotal(emitter) {
  if (!emitter || typeof emitter.eventNames !== 'function') return 0;
  return emitter.eventNames().reduce((sum, e) => sum + emitter.listenerCount(e), 0);
}

/**
 * A comparable picture: live timers and sockets by type (async_hooks), ref'd active resources
 * (getActiveResourcesInfo), and listener counts on the shared emitters given as {name: emitter}.
 */
function leakSnapshot(shared = {}) {
  const alive = {};
  for (const type of live.values()) alive[type] = (alive[type] || 0) + 1;
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] || 0) + 1;
  const listeners = { process: listenerTotal(process) };
  for (const [name, emitter] of Object.entries(shared)) listeners[name] = listenerTotal(emitter);
  return { alive, resources, listeners };
}

/** The emitters every deploy shares in a node-red-node-test-helper run. */
function sharedEmitters(helper) {
  let coapAgent;
  try { coapAgent = require('coap').globalAgent; } catch { /* not loaded */ }
  return { 'RED.events': helper._events, 'coap.globalAgent': coapAgent };
}

/**
 * The snapshot once it stops changing (the same over 300 ms, for at most 5 s): a baseline taken
 * right after a send still holds that exchange's short timers.
 */
async function settledSnapshot(shared = () => ({})) {
  let last = JSON.stringify(leakSnapshot(shared()));
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 300));
    const now = JSON.stringify(leakSnapshot(shared()));
    if (now === last) break;
    last = now;
  }
  return leakSnapshot(shared());
}

/** How many resources of `type` (e.g. 'UDPWRAP') were created since this module loaded. */
function createdCount(type) {
  return created[type] || 0;
}

module.exports = { leakSnapshot, settledSnapshot, sharedEmitters, createdCount };
