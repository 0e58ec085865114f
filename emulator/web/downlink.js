'use strict';
// The downlink half of a device card on the emulator page: what the emulator sends the device,
// like ThingsBoard's device page and RPC debug widget.
//   - Shared attributes: a table (with delete) and a form (key, value) → pushed to the device.
//   - Server-side RPC: method, params (JSON), timeout → the reply or the timeout is shown, and
//     recent calls with their state (QUEUED, SENT, DELIVERED, SUCCESSFUL, TIMEOUT).
//   - Client-side RPC: the calls the device made and what the rules answered.
// The forms are built once per card and never redrawn (typing is not interrupted by readings);
// update() redraws the lists. Values only ever go into textContent.
(function () {
  const page = () => window.TbPage;
  const el = (...args) => page().el(...args);

  async function post(path, method, body) {
    const res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch { /* empty body */ }
    return { status: res.status, data };
  }
  const devicePath = (name) => `api/devices/${encodeURIComponent(name)}`;

  /** "21.5" → 21.5, "true" → true, '{"a":1}' → object; anything else stays a string. */
  function parseValue(text) {
    const t = text.trim();
    if (t === '') return '';
    try { return JSON.parse(t); } catch { return text; }
  }

  function sharedTable(device) {
    const keys = Object.keys(device.shared || {}).sort();
    const body = el('tbody');
    if (keys.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: 3 }, 'None set.')));
    for (const key of keys) {
      const del = el('button', { type: 'button', class: 'small', title: `delete ${key}` }, 'delete');
      del.addEventListener('click', () => post(`${devicePath(device.name)}/shared?keys=${encodeURIComponent(key)}`, 'DELETE'));
      body.append(el('tr', { 'data-key': key }, el('td', { class: 'key' }, key), el('td', { class: 'value' }, page().valueText(device.shared[key])), el('td', { class: 'act' }, del)));
    }
    return el('table', { class: 'shared' }, el('thead', {}, el('tr', {}, el('th', {}, 'Key'), el('th', {}, 'Value'), el('th', {}, ''))), body);
  }

  function sharedForm(device) {
    const key = el('input', { name: 'key', placeholder: 'key, e.g. targetTemperature', 'aria-label': 'shared attribute key', required: '' });
    const value = el('input', { name: 'value', placeholder: 'value (JSON or text)', 'aria-label': 'shared attribute value' });
    const note = el('span', { class: 'note' });
    const form = el('form', { class: 'shared-form row' }, key, value, el('button', { type: 'submit' }, 'Set'), note);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const { status, data } = await post(`${devicePath(device.name)}/shared`, 'POST', { [key.value.trim()]: parseValue(value.value) });
      note.textContent = status === 200 ? '' : data.error || `HTTP ${status}`;
    });
    return form;
  }

  function describe(record) {
    if (record.state === 'SUCCESSFUL') return page().formatValue(record.reply);
    if (record.state === 'TIMEOUT') return `no reply within ${record.timeout / 1000} s`;
    return '';
  }

  function rpcTable(device) {
    const body = el('tbody');
    const calls = [...(device.rpc || [])].reverse();
    if (calls.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: 5 }, 'No calls yet.')));
    for (const r of calls) {
      body.append(el('tr', { 'data-rpc': String(r.id), class: `state-${r.state.toLowerCase()}` },
        el('td', { class: 'time' }, page().formatTime(r.created)),
        el('td', { class: 'key' }, r.method),
        el('td', { class: 'value' }, page().valueText(r.params)),
        el('td', { class: 'state' }, r.state),
        el('td', { class: 'value reply' }, describe(r))));
    }
    return el('table', { class: 'rpc' }, el('thead', {}, el('tr', {}, el('th', {}, 'Sent'), el('th', {}, 'Method'), el('th', {}, 'Params'), el('th', {}, 'State'), el('th', {}, 'Reply'))), body);
  }

  function rpcForm(device) {
    const method = el('input', { name: 'method', placeholder: 'method, e.g. setLed', 'aria-label': 'RPC method', required: '' });
    const params = el('input', { name: 'params', placeholder: 'params (JSON), e.g. true', 'aria-label': 'RPC params', value: '{}' });
    const timeout = el('input', { name: 'timeout', type: 'number', min: '1', max: '600', step: '1', value: '10', 'aria-label': 'timeout in seconds', title: 'timeout, seconds' });
    const button = el('button', { type: 'submit' }, 'Send RPC');
    const result = el('div', { class: 'rpc-result', role: 'status', 'aria-live': 'polite' });
    const form = el('form', { class: 'rpc-form row' }, method, params, el('label', { class: 'timeout' }, timeout, ' s'), button);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      let p;
      try {
        p = params.value.trim() === '' ? {} : JSON.parse(params.value);
      } catch (err) {
        result.className = 'rpc-result bad';
        result.textContent = `params are not JSON: ${err.message}`;
        return;
      }
      button.disabled = true;
      result.className = 'rpc-result wait';
      result.textContent = `${method.value.trim()}: waiting for the device …`;
      try {
        const { status, data } = await post(`${devicePath(device.name)}/rpc`, 'POST', { method: method.value.trim(), params: p, timeout: Number(timeout.value) * 1000 });
        if (status === 200) {
          result.className = 'rpc-result ok';
          result.replaceChildren(`${method.value.trim()} → `, page().valueText(data.reply));
        } else {
          result.className = 'rpc-result bad';
          result.textContent = status === 504 ? `${method.value.trim()}: timeout, ${data.error}` : data.error || `HTTP ${status}`;
        }
      } catch (err) {
        result.className = 'rpc-result bad';
        result.textContent = `the emulator did not answer: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return el('div', {}, form, result);
  }

  function clientRpcTable(device) {
    const body = el('tbody');
    const calls = [...(device.clientRpc || [])].reverse();
    if (calls.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: 4 }, 'None so far.')));
    for (const c of calls) {
      body.append(el('tr', {},
        el('td', { class: 'time' }, page().formatTime(c.time)),
        el('td', { class: 'key' }, c.method),
        el('td', { class: 'value' }, page().valueText(c.params)),
        el('td', { class: 'value' }, page().valueText(c.answer))));
    }
    return el('table', { class: 'client-rpc' }, el('thead', {}, el('tr', {}, el('th', {}, 'Time'), el('th', {}, 'Method'), el('th', {}, 'Params'), el('th', {}, 'Answer'))), body);
  }

  function build(device) {
    const part = el('div', { class: 'downlink' });
    part.append(el('h3', {}, 'Shared attributes'), el('div', { class: 'shared-list' }, sharedTable(device)), sharedForm(device));
    part.append(el('h3', {}, 'Server-side RPC'), rpcForm(device), el('div', { class: 'rpc-list' }, rpcTable(device)));
    part.append(el('h3', {}, 'Client-side RPC'), el('p', { class: 'hint' }, 'Answered by the emulator: getCurrentTime → {"time": ms}, getSessionLimits → the transport limits, any other method → its params (echo).'),
      el('div', { class: 'client-rpc-list' }, clientRpcTable(device)));
    return part;
  }

  function update(card, device) {
    card.querySelector('.shared-list').replaceChildren(sharedTable(device));
    card.querySelector('.rpc-list').replaceChildren(rpcTable(device));
    card.querySelector('.client-rpc-list').replaceChildren(clientRpcTable(device));
  }

  window.TbDownlink = { build, update };
})();
