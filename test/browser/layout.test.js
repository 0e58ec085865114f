'use strict';
// Layout as the user sees it, measured in a real Chromium: the help of every node of this
// package fits the help sidebar at its default width (nothing wider than the sidebar, nothing
// cut off inside a box), and the device dialog shows whole placeholders, a one-line checkbox
// label, tip boxes inside the form, and the reason next to a bad host. Screenshots go to
// test-artifacts/browser/ (look at them when this file changes).
const test = require('node:test');
const assert = require('node:assert/strict');
const { fileBrowser, settled, shot, waitFor, editorPage } = require('./support');
const { fileNodeRed } = require('./node-red');

// One Chromium and one Node-RED for the tests of this file (nothing here deploys).
const browserFor = fileBrowser();
const nodeRed = fileNodeRed('tb-layout-');

// Node type → a phrase only its help has (the help is shown under the palette label).
const HELP_TYPES = { 'thingsboard-out': 'Message contract', 'thingsboard-device': 'Verify server certificate' };

/** A fresh editor with one thingsboard-out wired to a device (transport given). */
async function editorWithNodes(browser, t, url, transport) {
  const { page, errors } = await editorPage(t, browser);
  await page.goto(url);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType && RED.nodes.getType('thingsboard-out') && RED.workspaces.active(), null, { timeout: 30000 });
  await page.evaluate((tr) => {
    RED.view.importNodes([
      { id: 'tb-layout-dev', type: 'thingsboard-device', name: '', host: '', port: '', transport: tr, verifyServer: true, serverName: '', clientId: '', keepalive: 60, cleanSession: true, protocolVersion: 4, maxPayloadBytes: 65536, queueSize: 1000, confirmable: true, maxInFlight: 4 },
      { id: 'tb-layout-out', type: 'thingsboard-out', name: '', device: 'tb-layout-dev', kind: 'telemetry', qos: 1, key: '', x: 300, y: 120, z: RED.workspaces.active(), wires: [] },
    ], { generateIds: false, touchImport: true, notify: false });
  }, transport);
  return { page, errors };
}

/**
 * Every element of `rootSelector` (and the root itself) that is wider than its box
 * (scrollWidth > clientWidth: content cut off or scrolled) or reaches outside the root.
 */
function overflowing(page, rootSelector) {
  return page.evaluate((sel) => {
    const root = document.querySelector(sel);
    if (!root) return [`${sel} not found`];
    const edge = root.getBoundingClientRect();
    const bad = [];
    const describe = (el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} "${(el.textContent || '').trim().slice(0, 40)}"`;
    for (const el of [root, ...root.querySelectorAll('*')]) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // not shown
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) bad.push(`${describe(el)}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
      if (r.right > edge.right + 1 || r.left < edge.left - 1) bad.push(`${describe(el)}: ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(edge.left)}..${Math.round(edge.right)}`);
    }
    return bad;
  }, rootSelector);
}

test('help: every node help fits the help sidebar at its default width', { timeout: 180000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();
  const { page, errors } = await editorWithNodes(browser, t, nr.url, 'mqtt');

  // Select the node on the canvas and show its help, as a user clicking the node and the
  // "book" tab would.
  await page.evaluate(() => {
    RED.view.select({ nodes: [RED.nodes.node('tb-layout-out')] });
    RED.sidebar.show('help');
  });
  const helpRoot = '.red-ui-sidebar-help-stack .red-ui-help';
  for (const [type, phrase] of Object.entries(HELP_TYPES)) {
    await page.evaluate((ty) => RED.sidebar.help.show(ty), type);
    await waitFor(`the ${type} help`, () => page.evaluate(([sel, text]) => {
      const el = document.querySelector(sel);
      return el && el.textContent.includes(text) && el.querySelectorAll('h3').length > 1;
    }, [helpRoot, phrase]));
    // Screenshots of each section that used to be a table, scrolled into view.
    const sections = await page.evaluate((sel) => [...document.querySelectorAll(`${sel} h3`)].map((h) => h.textContent.trim()), helpRoot);
    for (const [i, title] of sections.entries()) {
      if (!/message contract|status|inputs|connection|security|advanced/i.test(title)) continue;
      await page.evaluate(([sel, n]) => document.querySelectorAll(`${sel} h3`)[n].scrollIntoView({ block: 'start' }), [helpRoot, i]);
      await page.locator('#red-ui-sidebar').screenshot({ path: shot(`help-${type}-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '')}`) });
    }
    const sidebarWidth = await page.evaluate(() => document.querySelector('#red-ui-sidebar').getBoundingClientRect().width);
    assert.ok(sidebarWidth >= 280 && sidebarWidth <= 340, `the sidebar is at its default width (${sidebarWidth} px)`);
    const helpWidth = await page.evaluate((sel) => document.querySelector(sel).getBoundingClientRect().width, helpRoot);
    assert.deepEqual(await overflowing(page, helpRoot), [], `${type} help: elements wider than the ${Math.round(helpWidth)} px help panel`);
    // The scrolling panel around the help must not scroll sideways either.
    const panel = await page.evaluate((sel) => {
      const p = document.querySelector(sel).parentElement;
      return { scroll: p.scrollWidth, client: p.clientWidth };
    }, helpRoot);
    assert.ok(panel.scroll <= panel.client, `${type}: the help panel scrolls sideways (${panel.scroll} > ${panel.client})`);
  }
  assert.deepEqual(errors, []);
});

/** Tips/messages that end right of the widest field, and anything right of the form. */
function boxesPastInputs(page, formSelector) {
  return page.evaluate((sel) => {
    const form = document.querySelector(sel);
    const formBox = form.getBoundingClientRect();
    const inputRight = Math.max(...[...form.querySelectorAll('input[type="text"], input[type="password"], select, textarea, .form-row > div')]
      .map((el) => el.getBoundingClientRect()).filter((r) => r.width > 0).map((r) => r.right));
    const out = [];
    for (const el of form.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0) continue;
      if (el.matches('.tb-message, .tb-note, .form-tips') && r.right > inputRight + 0.5) out.push(`tip "${el.textContent.trim().slice(0, 30)}" ends at ${r.right}, fields at ${inputRight}`);
      if (r.right > formBox.right + 0.5) out.push(`${el.tagName.toLowerCase()}#${el.id} ends at ${r.right}, form at ${formBox.right}`);
    }
    return out;
  }, formSelector);
}

/** Width in px of `text` drawn in the computed font of `el` (what a placeholder needs). */
function textWidthsScript() {
  return (sel) => {
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d');
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || !el.placeholder) continue;
      const cs = getComputedStyle(el);
      ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      const inner = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
      const lines = el.placeholder.split('\n');
      const need = Math.max(...lines.map((l) => ctx.measureText(l).width));
      out.push({ id: el.id, placeholder: el.placeholder, need: Math.ceil(need), inner: Math.floor(inner) });
    }
    // A select shows its chosen option's text: every option must fit beside the arrow (~24 px).
    for (const el of document.querySelectorAll(sel.replace(/input/g, 'select'))) {
      if (el.tagName !== 'SELECT' || el.getBoundingClientRect().width === 0) continue;
      const cs = getComputedStyle(el);
      ctx.font = `${cs.fontStyle} ${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
      const inner = el.clientWidth - parseFloat(cs.paddingLeft) - 24;
      for (const o of el.options) out.push({ id: `${el.id} option`, placeholder: o.text, need: Math.ceil(ctx.measureText(o.text).width), inner: Math.floor(inner) });
    }
    return out;
  };
}

test('device dialog: whole placeholders, one-line labels, tips inside the form, the reason for a bad host', { timeout: 180000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();

  for (const transport of ['mqtts', 'coaps', 'mqtt']) {
    const { page, errors } = await editorWithNodes(browser, t, nr.url, transport);
    // The way a user gets there: the out node's dialog (at the editor's default tray width),
    // then the pencil beside the device; the config dialog inherits that width.
    await page.evaluate(() => RED.editor.edit(RED.nodes.node('tb-layout-out')));
    await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
    await settled(page, '#node-dialog-ok');
    await page.locator('#node-input-btn-device-edit').click();
    await page.waitForSelector('#node-config-input-host', { state: 'visible' });
    await settled(page, '#node-config-dialog-ok');
    const trayWidth = await page.evaluate(() => document.querySelector('.red-ui-tray:last-child').getBoundingClientRect().width);
    assert.ok(trayWidth <= 520, `the dialog is at the default width (${trayWidth} px)`);
    // Show the folded advanced options too: their rows must fit as well.
    await page.locator('#tb-advanced-toggle').click();
    await page.waitForSelector('#node-config-input-maxPayloadBytes', { state: 'visible' });

    await page.locator('.red-ui-tray').last().screenshot({ path: shot(`dialog-device-${transport}`) });
    // 1. Every visible placeholder fits its input.
    const placeholders = await page.evaluate(textWidthsScript(), '.tb-device-form input, .tb-device-form textarea');
    assert.ok(placeholders.length >= (transport === 'mqtt' ? 4 : 6), `${transport}: placeholders measured: ${placeholders.map((p) => p.id).join(', ')}`);
    t.diagnostic(`${transport} placeholders: ${placeholders.map((p) => `${p.id} ${p.need}/${p.inner}`).join(', ')}`);
    const cut = placeholders.filter((p) => p.need > p.inner).map((p) => `${p.id}: "${p.placeholder}" needs ${p.need} px, has ${p.inner}`);
    assert.deepEqual(cut, [], `${transport}: placeholders cut off`);

    // 2. Labels stay on one line (the checkbox labels were the ones that wrapped).
    const wrapped = await page.evaluate(() => [...document.querySelectorAll('.tb-device-form label')].filter((l) => l.getBoundingClientRect().width > 0 && l.textContent.trim()).map((l) => {
      // Lines of the label's text (its icon is not text): rectangles whose tops differ by more
      // than half a line are on different lines.
      const walker = document.createTreeWalker(l, NodeFilter.SHOW_TEXT);
      const tops = [];
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (!n.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        for (const r of range.getClientRects()) if (r.width > 0) tops.push(r.top);
      }
      const half = parseFloat(getComputedStyle(l).fontSize) / 2;
      const lines = tops.sort((a, b) => a - b).filter((top, i, all) => i === 0 || top - all[i - 1] > half).length;
      return { text: l.textContent.trim(), lines };
    }).filter((l) => l.lines > 1).map((l) => `"${l.text}" on ${l.lines} lines`));
    assert.deepEqual(wrapped, [], `${transport}: labels that wrap`);
    // 2b. ... and are not cut to an ellipsis either (the labels clip at 130 px).
    const clipped = await page.evaluate(() => [...document.querySelectorAll('.tb-device-form .form-row > label')]
      .filter((l) => l.getBoundingClientRect().width > 0 && l.scrollWidth > l.clientWidth + 1)
      .map((l) => `"${l.textContent.trim()}" needs ${l.scrollWidth} px, has ${l.clientWidth}`));
    assert.deepEqual(clipped, [], `${transport}: labels cut off`);
    if (transport !== 'mqtt') {
      assert.equal(await page.locator('label[for="node-config-input-verifyServer"]').isVisible(), true);
    }

    // 3. Tip and message boxes end where the inputs end, not past them; nothing leaves the form.
    const boxes = await boxesPastInputs(page, '.tb-device-form');
    assert.deepEqual(boxes, [], `${transport}: boxes past the inputs or the form`);
    await page.evaluate(() => document.querySelector('#tb-advanced').scrollIntoView({ block: 'end' }));
    await page.locator('.red-ui-tray').last().screenshot({ path: shot(`dialog-device-${transport}-advanced`) });
    if (transport !== 'mqtt') {
      // Verification off: its warning is one more box that must fit.
      await page.locator('label[for="node-config-input-verifyServer"]').click();
      assert.equal(await page.isChecked('#node-config-input-verifyServer'), false, 'the checkbox label toggles the box');
      await page.waitForSelector('#tb-verify-warning', { state: 'visible' });
      assert.deepEqual(await boxesPastInputs(page, '.tb-device-form'), [], `${transport}: boxes with verification off`);
      await page.evaluate(() => document.querySelector('#tb-verify-warning').scrollIntoView({ block: 'center' }));
      await page.locator('.red-ui-tray').last().screenshot({ path: shot(`dialog-device-${transport}-verify-off`) });
      await page.locator('label[for="node-config-input-verifyServer"]').click();
    }
    await page.evaluate(() => document.querySelector('#node-config-input-host').scrollIntoView({ block: 'center' }));

    // 4. A bad host: the reason, in words, right under the field.
    const cases = [
      ['mqtt://x:1883', /^Host takes no scheme or port: write x and put 1883 in Port\.$/],
      ['tb.example.com:8883', /^Host takes no port: write tb\.example\.com and put 8883 in Port\.$/],
      ['http://tb.example.com/api', /^Host takes no scheme or path: write tb\.example\.com$/],
      ['https://user@tb.example.com:443/x', /^Host takes no scheme, path, user name or port: write tb\.example\.com and put 443 in Port\.$/],
      ['beef:8883', /^Host takes no port: write beef and put 8883 in Port\.$/],
      ['tb example', /no spaces/i],
    ];
    for (const [value, reason] of cases) {
      await page.fill('#node-config-input-host', value);
      const shown = await waitFor(`the reason for host "${value}"`, () => page.evaluate(() => {
        const el = document.querySelector('#tb-host-check');
        return el && el.getBoundingClientRect().height > 0 ? el.textContent : null;
      }), 5000);
      assert.match(shown, reason, `host "${value}"`);
      assert.equal(await page.evaluate(() => document.querySelector('#node-config-input-host').classList.contains('input-error')), true);
      const placement = await page.evaluate(() => {
        const host = document.querySelector('#node-config-input-host').getBoundingClientRect();
        const msg = document.querySelector('#tb-host-check').getBoundingClientRect();
        return { gap: msg.top - host.bottom, left: msg.left - host.left };
      });
      assert.ok(placement.gap >= 0 && placement.gap < 20 && Math.abs(placement.left) <= 1, `the reason sits right under the host field: ${JSON.stringify(placement)}`);
      if (value === 'mqtt://x:1883') await page.locator('.red-ui-tray').last().screenshot({ path: shot(`dialog-device-${transport}-bad-host`) });
    }
    for (const good of ['::1', '192.168.1.10']) {
      await page.fill('#node-config-input-host', good);
      assert.equal(await page.evaluate(() => document.querySelector('#tb-host-check').getBoundingClientRect().height), 0, `no reason shown for ${good}`);
    }
    await page.fill('#node-config-input-host', 'tb.example.com');
    await waitFor('the reason to go for a good host', () => page.evaluate(() => {
      const el = document.querySelector('#tb-host-check');
      return el && el.getBoundingClientRect().height === 0;
    }), 5000);
    assert.equal(await page.evaluate(() => document.querySelector('#node-config-input-host').classList.contains('input-error')), false);
    await page.locator('#node-config-dialog-cancel').click();
    await page.waitForSelector('#node-config-input-host', { state: 'detached' });
    await page.locator('.red-ui-tray').last().screenshot({ path: shot(`dialog-out-${transport}`) });
    const outFields = await page.evaluate(textWidthsScript(), '.tb-out-form input, .tb-out-form textarea');
    assert.deepEqual(outFields.filter((p) => p.need > p.inner).map((p) => `${p.id}: "${p.placeholder}" needs ${p.need} px, has ${p.inner}`), [], `${transport}: out dialog texts cut off`);
    assert.deepEqual(await boxesPastInputs(page, '.tb-out-form'), [], `${transport}: out dialog boxes past its inputs or form`);
    assert.deepEqual(await overflowing(page, '.tb-out-form'), [], `${transport}: out dialog content cut off`);
    const outTray = await page.evaluate(() => document.querySelector('.red-ui-tray:last-child').getBoundingClientRect().width);
    assert.ok(outTray <= 520, `the out dialog keeps the default width after the device dialog closes (${outTray} px)`);
    assert.deepEqual(errors, []);
  }
});
