'use strict';
// The downlink nodes' dialogs and help in a real Chromium (node-red under test): each dialog opens
// at the editor's narrow width with every label on one line, every placeholder and option fitting
// its field, notes ending where the fields end; the fields that belong to the other mode are
// hidden; the help of each node fits the sidebar (no element wider than it). Screenshots go to
// test-artifacts/browser/.
const test = require('node:test');
const assert = require('node:assert/strict');
const { fileBrowser, settled, shot, waitFor, editorPage } = require('./support');
const { fileNodeRed } = require('./node-red');

const browserFor = fileBrowser();
const nodeRed = fileNodeRed('tb-dl-editor-');

const CASES = [
  { type: 'thingsboard-in', props: { receive: 'attributes' }, visible: ['#node-input-keys', '#node-input-initial'], hidden: ['#node-input-methods'] },
  { type: 'thingsboard-in', props: { receive: 'rpc' }, visible: ['#node-input-methods'], hidden: ['#node-input-keys', '#node-input-initial'] },
  { type: 'thingsboard-request', props: { request: 'attributes' }, visible: ['#node-input-clientKeys', '#node-input-sharedKeys', '#node-input-timeout'], hidden: ['#node-input-method'] },
  { type: 'thingsboard-request', props: { request: 'rpc' }, visible: ['#node-input-method', '#node-input-timeout'], hidden: ['#node-input-sharedKeys'] },
  { type: 'thingsboard-rpc-response', props: {}, visible: ['#node-input-name'], hidden: [] },
];

test('downlink dialogs and help fit the editor', { timeout: 180000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();
  const { page, errors } = await editorPage(t, browser);
  await page.goto(nr.url);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType && RED.nodes.getType('thingsboard-in') && RED.workspaces.active(), null, { timeout: 30000 });

  for (const [i, c] of CASES.entries()) {
    const id = `dl-${i}`;
    await page.evaluate(({ id, type, props }) => {
      RED.view.importNodes([{ id, type, x: 200, y: 100 + 60 * Number(id.slice(3)), z: RED.workspaces.active(), ...props, wires: type === 'thingsboard-rpc-response' ? [] : [[]] }], { generateIds: false, notify: false });
      RED.editor.edit(RED.nodes.node(id));
    }, { id, ...c });
    await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
    await settled(page, '#node-dialog-ok'); // the tray slides in: measure once it stands still
    const m = await page.evaluate(({ visible, hidden }) => {
      const tray = document.querySelector('.red-ui-tray');
      const form = document.querySelector('.red-ui-tray .red-ui-tray-body form') || document.querySelector('.red-ui-tray form');
      const shown = (sel) => { const el = document.querySelector(sel); return !!el && el.offsetParent !== null; };
      const labels = [...form.querySelectorAll('.form-row > label')].filter((l) => l.offsetParent !== null);
      const twoLineLabels = labels.filter((l) => l.scrollWidth > l.clientWidth + 1 && !l.closest('.tb-check-row')).map((l) => l.textContent.trim());
      const fields = [...form.querySelectorAll('.form-row > input[type=text], .form-row > select')].filter((f) => f.offsetParent !== null);
      const right = Math.max(...fields.map((f) => f.getBoundingClientRect().right));
      const canvas = document.createElement('canvas').getContext('2d');
      const tooLong = [];
      for (const f of fields) {
        const cs = getComputedStyle(f);
        canvas.font = `${cs.fontSize} ${cs.fontFamily}`;
        const texts = f.tagName === 'SELECT' ? [...f.options].map((o) => o.textContent) : [f.placeholder || ''];
        for (const text of texts) if (canvas.measureText(text).width > f.clientWidth - 8) tooLong.push(text);
      }
      const notes = [...form.querySelectorAll('.tb-note')].filter((n) => n.offsetParent !== null).filter((n) => n.getBoundingClientRect().right > right + 1).map((n) => n.textContent.slice(0, 40));
      return {
        trayWidth: tray.getBoundingClientRect().width,
        twoLineLabels,
        tooLong,
        notes,
        missing: visible.filter((s) => !shown(s)),
        notHidden: hidden.filter((s) => shown(s)),
      };
    }, c);
    await page.screenshot({ path: shot(`dialog-${c.type}-${Object.values(c.props).join('-') || 'default'}`) });
    const what = `${c.type} ${JSON.stringify(c.props)}`;
    assert.ok(m.trayWidth <= 520, `${what}: tray ${m.trayWidth} px`);
    assert.deepEqual(m.twoLineLabels, [], `${what}: labels cut`);
    assert.deepEqual(m.tooLong, [], `${what}: placeholders/options wider than their field`);
    assert.deepEqual(m.notes, [], `${what}: notes past the fields`);
    assert.deepEqual(m.missing, [], `${what}: fields that should show`);
    assert.deepEqual(m.notHidden, [], `${what}: fields of the other mode`);
    await page.click('#node-dialog-cancel');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
  }

  // Help: the sidebar's help tab for each type, nothing wider than the panel.
  await page.evaluate(() => RED.sidebar.show('help'));
  for (const type of ['thingsboard-in', 'thingsboard-rpc-response', 'thingsboard-request']) {
    await page.evaluate((type) => RED.sidebar.help.show(type), type);
    const panel = await waitFor(`help of ${type}`, () => page.evaluate((type) => {
      const body = document.querySelector('.red-ui-sidebar-help-stack .red-ui-help');
      const text = body ? body.textContent : '';
      if (!text.includes(type === 'thingsboard-in' ? 'Output: server-side RPC' : type === 'thingsboard-request' ? 'Timeouts and errors' : 'takes one reply')) return null;
      const box = body.getBoundingClientRect();
      const wide = [...body.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > box.right + 1 && el.offsetParent !== null).map((el) => `${el.tagName} ${el.textContent.slice(0, 30)}`);
      return { wide, overflow: body.scrollWidth - body.clientWidth };
    }, type));
    await page.locator('#red-ui-sidebar').screenshot({ path: shot(`help-${type}`) });
    assert.deepEqual(panel.wide, [], `${type} help: elements wider than the sidebar`);
    assert.ok(panel.overflow <= 1, `${type} help scrolls sideways by ${panel.overflow} px`);
  }
  assert.deepEqual(errors, []);
});
