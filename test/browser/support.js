'use strict';
// Shared pieces of the browser tests: Debian's Chromium through playwright-core, a folder for
// screenshots (test-artifacts/, git-ignored; CI keeps it), and a Node-RED + emulator pair on
// free ports with a temporary userDir that links this package. A file launches one Chromium
// (fileBrowser) and starts one Node-RED (fileNodeRed, ./node-red.js) for all its tests, closed after the last
// one; each test opens its own browser context (cookies, storage, pages).
const { after } = require('node:test');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer } = require('../support/peers');

const root = path.join(__dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
// Flags from ../shared/reference/node-red.md: no sandbox as root, and nothing that reaches out
// to Google's hosts (refused on these machines, and slow to fail).
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** 'nr4' or 'nr5': screenshots of the two runtimes side by side. */
const runtimeTag = (process.env.TB_NODE_RED || 'node-red') === 'node-red-5' ? 'nr5' : 'nr4';

function artifactsDir() {
  const dir = path.join(root, 'test-artifacts', 'browser');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A screenshot path: test-artifacts/browser/<name>-<runtime>.png */
function shot(name) {
  return path.join(artifactsDir(), `${name}-${runtimeTag}.png`);
}

/** Chromium, or null when the test was skipped (not installed, outside CI). Closed in t.after. */
async function launchBrowser(t) {
  if (!requirePeer(t, 'chromium')) return null;
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  t.after(() => browser.close());
  return browser;
}

/**
 * One Chromium for every test of the file that calls this (at the top of the file): returns
 * `browserFor(t)`, which resolves to the shared browser, launched by the first test that asks,
 * or to null when that test was skipped (not installed, outside CI). Closed after the file's tests.
 */
function fileBrowser() {
  let launched = null;
  after(async () => {
    const browser = launched && await launched.catch(() => null);
    if (browser) await browser.close();
  });
  return async (t) => {
    if (!requirePeer(t, 'chromium')) return null;
    if (!launched) {
      const { chromium } = require('playwright-core');
      launched = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    }
    return launched;
  };
}

/** A new temporary folder, removed in t.after. */
function tempDir(t, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Writes the editor's user settings into a Node-RED userDir before it starts: the info tips off.
 * node-red 5.0 starts its tip timer (1 s) when the user settings load, but builds the tip box
 * only after red/keymap.json has loaded; when the timer wins (a busy machine) and picks a tip
 * without a shortcut, the editor's own bundle throws "Cannot read properties of undefined
 * (reading 'html')" (RED.sidebar.info, tips.setTip). Tips off, the timer never starts.
 */
function editorSettingsInto(userDir) {
  const anonymousUser = '_'; // the runtime's name for the editor's user without adminAuth
  fs.writeFileSync(path.join(userDir, '.config.users.json'), JSON.stringify({ [anonymousUser]: { editor: { view: { 'view-show-tips': false } } } }));
}

/** A temporary userDir for a Node-RED whose editor a test opens (editorSettingsInto), removed in t.after. */
function editorUserDir(t, prefix) {
  const dir = tempDir(t, prefix);
  editorSettingsInto(dir);
  return dir;
}

/** Every uncaught error of the page, with its stack (which names the script that threw). */
function pageErrors(page) {
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.stack || err.message));
  return errors;
}

/**
 * A page of its own in `browser` at the editor tests' size (closed after test `t`), and the list
 * pageErrors() fills. `options` go to newContext (a colorScheme, say).
 */
async function editorPage(t, browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, ...options });
  t.after(() => context.close());
  const page = await context.newPage();
  return { page, errors: pageErrors(page) };
}

/** Polls fn() until it returns a truthy value; throws with `what` after timeoutMs. */
async function waitFor(what, fn, timeoutMs = 15000, everyMs = 100) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Waits until `selector` is visible and has stopped moving (editor trays slide in). */
async function settled(page, selector) {
  let previous = null;
  return waitFor(`${selector} to settle`, async () => {
    const box = await page.locator(selector).boundingBox();
    const still = box && previous && box.x === previous.x && box.y === previous.y && box.width === previous.width;
    previous = box;
    return still ? box : null;
  }, 15000, 200);
}

module.exports = { settled, launchBrowser, fileBrowser, shot, tempDir, editorUserDir, editorSettingsInto, pageErrors, editorPage, waitFor, runtimeTag, root, CHROMIUM_ARGS };
