'use strict';
// The emulator page: keeps a copy of the store's snapshot and applies the live events from
// /events. Values are user data: they only ever go into textContent, never into HTML.
(function () {
  const POINTS = 50;
  const state = { info: {}, devices: new Map(), rejected: [] };

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  const svgEl = (tag, attrs) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    return node;
  };

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function formatTime(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return String(ts);
    const today = new Date().toDateString() === d.toDateString();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
    return today ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }
  function formatValue(v) {
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
  }

  /**
   * A value as text that wraps only at spaces and after commas (a <wbr> there), never inside a
   * number or a word; what still does not fit ends in an ellipsis (style.css), the whole value
   * in the tooltip.
   */
  function valueText(v) {
    const text = formatValue(v);
    const span = el('span', { class: 'v', title: text });
    const parts = text.split(/(?<=,)/);
    parts.forEach((part, i) => {
      span.append(part);
      if (i < parts.length - 1) span.append(el('wbr'));
    });
    return span;
  }

  /** A small line chart of the numeric points of a series (booleans count as 0/1). */
  function sparkline(series) {
    const pts = series
      .map((p) => ({ ts: p.ts, v: typeof p.value === 'boolean' ? Number(p.value) : p.value }))
      .filter((p) => typeof p.v === 'number' && Number.isFinite(p.v));
    if (pts.length === 0) return null;
    const w = 160;
    const h = 34;
    const minV = Math.min(...pts.map((p) => p.v));
    const maxV = Math.max(...pts.map((p) => p.v));
    const n = pts.length;
    const x = (i) => (n === 1 ? w - 3 : 3 + (i * (w - 6)) / (n - 1));
    const y = (v) => (maxV === minV ? h / 2 : h - 3 - ((v - minV) * (h - 6)) / (maxV - minV));
    const svg = svgEl('svg', { class: 'spark', width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img' });
    svg.append(svgEl('title', {}));
    svg.firstChild.textContent = `min ${formatValue(minV)}, max ${formatValue(maxV)}, ${n} points`;
    svg.append(svgEl('polyline', { points: pts.map((p, i) => `${x(i).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ') }));
    const last = pts[n - 1];
    svg.append(svgEl('circle', { cx: x(n - 1).toFixed(1), cy: y(last.v).toFixed(1), r: 2.5 }));
    return svg;
  }

  function renderInfo() {
    const info = state.info || {};
    const list = $('endpoints');
    list.replaceChildren();
    for (const ep of info.endpoints || []) {
      const item = el('li', { class: ep.port ? '' : 'off' }, el('b', {}, ep.label || ep.name), ' ');
      item.append(ep.port ? el('code', {}, `${ep.host}:${ep.port}`) : ep.note || 'not running');
      list.append(item);
    }
    // A device port the emulator could not take (emulator/index.js movedPortWarning says the same
    // at start): device nodes still on the old port reach another program, not this page.
    const moved = $('moved');
    moved.replaceChildren();
    for (const m of info.moved || []) {
      moved.append(el('p', {},
        el('b', {}, `${m.label} port ${m.wanted} was taken by another program`), `${m.label.startsWith('MQTT') ? ' (often a Mosquitto broker)' : ''}, so this emulator's ${m.label} listens on `, el('code', {}, `${m.port}`), '. ',
        `Device nodes still set to ${m.wanted} (the imported examples, your own flows, a new device node's default) talk to that program, not to this emulator: they can show "connected" and "delivered" while nothing arrives here. `,
        `Stop the other program and start again, or put ${m.port} into those device nodes' Port (keep it with `, el('code', {}, `EMULATOR_${m.name.toUpperCase()}_PORT=${m.port} npm start`), ' or ', el('code', {}, `node emulator/cli.js --${m.name} ${m.port}`), ').'));
    }
    moved.hidden = moved.childElementCount === 0;
    const ca = $('ca');
    if (info.caFile) {
      ca.hidden = false;
      ca.replaceChildren('CA certificate for MQTTS/CoAPS (paste it into the config node): ', el('code', {}, info.caFile));
    } else ca.hidden = true;
  }

  /** What the device sent: heading, telemetry and client attributes (re-rendered on each reading). */
  function uplinkPart(device, flashKeys) {
    const keys = Object.keys(device.telemetry).sort();
    const lastTs = Math.max(0, ...keys.map((k) => device.telemetry[k].at(-1)?.ts || 0));
    const card = el('div', { class: 'uplink' });
    const online = (device.online || []).length ? `online: ${device.online.join(', ')}` : 'no session subscribed';
    card.append(el('h2', {}, device.name, el('span', { class: 'count', title: 'messages accepted' }, `${device.messages} msgs`)));
    const CREDENTIALS = { ACCESS_TOKEN: 'access token', MQTT_BASIC: 'MQTT basic', X509_CERTIFICATE: 'X.509' };
    const credentials = `${CREDENTIALS[device.credentialsType] || 'access token'}${device.provisioned ? ', provisioned' : ''}`;
    card.append(el('div', { class: 'meta' }, lastTs ? `last telemetry ${formatTime(lastTs)}` : 'no telemetry yet', ' · ', el('span', { class: 'online' }, online), ' · ', el('span', { class: 'credentials' }, credentials)));
    // ThingsBoard's gateway API: a gateway lists its sub-devices; a sub-device names its gateway.
    if (device.gateway) {
      const subs = device.subDevices || [];
      card.append(el('div', { class: 'meta gateway', 'data-role': 'sub-devices' }, `gateway · ${subs.length} devices`, subs.length ? `: ${subs.join(', ')}` : ' (none yet: they appear on their first connect or data)'));
    }
    if (device.gatewayName) {
      card.append(el('div', { class: 'meta gateway', 'data-role': 'gateway' }, `sub-device of ${device.gatewayName} · profile ${device.type || 'default'}`));
    }

    card.append(el('h3', {}, 'Latest telemetry'));
    const table = el('table', { class: 'telemetry' }, el('thead', {}, el('tr', {}, el('th', {}, 'Key'), el('th', {}, 'Last update'), el('th', {}, 'Value'), el('th', {}, 'Chart'))));
    const body = el('tbody');
    if (keys.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colspan: 4 }, 'Nothing received yet.')));
    for (const key of keys) {
      const series = device.telemetry[key];
      const last = series.at(-1);
      const row = el('tr', { 'data-key': key, class: flashKeys.has(key) ? 'flash' : '' },
        el('td', { class: 'key' }, key),
        // An older day's date goes on a line of its own (the column is sized for hh:mm:ss.mmm).
        el('td', { class: 'time' }, formatTime(last.ts).replace(' ', '\n')),
        el('td', { class: 'value' }, valueText(last.value)),
        el('td', { class: 'chart' }, sparkline(series)));
      body.append(row);
    }
    table.append(body);
    card.append(table);

    const attrs = Object.keys(device.attributes).sort();
    card.append(el('h3', {}, 'Client attributes'));
    const at = el('table', { class: 'attributes' }, el('thead', {}, el('tr', {}, el('th', {}, 'Key'), el('th', {}, 'Value'))));
    const ab = el('tbody');
    if (attrs.length === 0) ab.append(el('tr', { class: 'empty' }, el('td', { colspan: 2 }, 'None.')));
    for (const key of attrs) ab.append(el('tr', { 'data-key': key }, el('td', { class: 'key' }, key), el('td', { class: 'value' }, valueText(device.attributes[key]))));
    at.append(ab);
    card.append(at);
    return card;
  }

  /**
   * A device's card: the uplink part is redrawn on every reading; the downlink part (page/downlink.js)
   * keeps its forms, so typing is never interrupted, and redraws only its lists.
   */
  function renderDevice(name, flashKeys = new Set(), what = 'all') {
    const device = state.devices.get(name);
    let card = document.querySelector(`article.device[data-device="${CSS.escape(name)}"]`);
    if (!card) {
      card = el('article', { class: 'card device', 'data-device': name }, uplinkPart(device, flashKeys));
      card.append(window.TbDownlink.build(device));
      $('devices').append(card);
      return;
    }
    if (what === 'all' || what === 'uplink') card.querySelector('.uplink').replaceWith(uplinkPart(device, flashKeys));
    if (what === 'all' || what === 'downlink') window.TbDownlink.update(card, device);
  }

  function renderRejected() {
    const body = $('rejected');
    body.replaceChildren();
    $('rejected-count').textContent = String(state.rejected.length);
    if (state.rejected.length === 0) {
      body.append(el('tr', { class: 'empty' }, el('td', { colspan: 4 }, 'None so far.')));
      return;
    }
    for (const r of [...state.rejected].reverse()) {
      body.append(el('tr', {},
        el('td', { class: 'time' }, formatTime(r.time)),
        el('td', {}, r.transport || ''),
        el('td', { class: 'status' }, r.status || ''),
        el('td', {}, r.reason || '')));
    }
  }

  function deviceNamed(name) {
    let d = state.devices.get(name);
    if (!d) state.devices.set(name, (d = { name, messages: 0, telemetry: {}, attributes: {}, shared: {}, rpc: [], clientRpc: [], online: [] }));
    return d;
  }

  // ThingsBoard's per-device rate limits, as the emulator enforces them (emulator/limits.js): what
  // is in force, and a form to change them, so pacing can be seen working with npm start.
  function renderLimits(text, exceeded) {
    $('limits-now').textContent = text ? `in force: ${text}${exceeded ? ` · ${exceeded} over the limit` : ''}` : 'none in force (as a self-hosted ThingsBoard by default)';
  }

  $('limits').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('limits-error');
    error.hidden = true;
    try {
      const res = await fetch('api/limits', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rateLimits: $('limits-text').value.trim() }) });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      renderLimits(body.rateLimits, 0);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });

  function applyState(s) {
    renderLimits(s.rateLimits, s.rateLimitsExceeded);
    state.info = s.info || {};
    state.devices = new Map((s.devices || []).map((d) => [d.name, d]));
    state.rejected = s.rejected || [];
    renderInfo();
    $('devices').replaceChildren();
    for (const name of state.devices.keys()) renderDevice(name);
    renderRejected();
  }

  function applyTelemetry({ device, entries }) {
    const d = deviceNamed(device);
    d.messages++;
    const changed = new Set();
    for (const { ts, values } of entries) {
      for (const [key, value] of Object.entries(values)) {
        const series = d.telemetry[key] || (d.telemetry[key] = []);
        series.push({ ts, value });
        if (series.length > POINTS) series.shift();
        changed.add(key);
      }
    }
    renderDevice(device, changed, 'uplink');
  }

  function applyAttributes({ device, values }) {
    const d = deviceNamed(device);
    d.messages++;
    Object.assign(d.attributes, values);
    renderDevice(device, undefined, 'uplink');
  }

  function applyDevice(snapshot) {
    if (state.devices.has(snapshot.name)) return;
    state.devices.set(snapshot.name, snapshot);
    renderDevice(snapshot.name);
    // A new sub-device: its gateway's card lists it too.
    const gateway = snapshot.gatewayName && state.devices.get(snapshot.gatewayName);
    if (gateway) {
      gateway.subDevices = [...new Set([...(gateway.subDevices || []), snapshot.name])];
      renderDevice(gateway.name, undefined, 'uplink');
    }
  }

  function applyShared({ device, shared }) {
    deviceNamed(device).shared = shared;
    renderDevice(device, undefined, 'downlink');
  }

  function applyRpc({ device, record }) {
    const d = deviceNamed(device);
    const i = d.rpc.findIndex((r) => r.id === record.id);
    if (i >= 0) d.rpc[i] = record;
    else {
      d.rpc.push(record);
      if (d.rpc.length > 20) d.rpc.shift();
    }
    renderDevice(device, undefined, 'downlink');
  }

  function applyClientRpc({ device, entry }) {
    const d = deviceNamed(device);
    d.clientRpc.push(entry);
    if (d.clientRpc.length > 20) d.clientRpc.shift();
    renderDevice(device, undefined, 'downlink');
  }

  function applySessions({ device, online }) {
    deviceNamed(device).online = online;
    renderDevice(device, undefined, 'uplink');
  }

  function applyRejected(entry) {
    state.rejected.push(entry);
    if (state.rejected.length > POINTS) state.rejected.shift();
    renderRejected();
  }

  function connect() {
    const live = $('live');
    const source = new EventSource('events');
    source.onopen = () => { live.textContent = 'live'; live.className = 'live on'; };
    source.onerror = () => { live.textContent = 'disconnected — retrying'; live.className = 'live off'; };
    const on = (event, fn) => source.addEventListener(event, (e) => fn(JSON.parse(e.data)));
    on('state', applyState);
    on('telemetry', applyTelemetry);
    on('attributes', applyAttributes);
    on('rejected', applyRejected);
    on('device', applyDevice);
    on('shared', applyShared);
    on('rpc', applyRpc);
    on('client-rpc', applyClientRpc);
    on('sessions', applySessions);
  }

  window.TbPage = { el, formatTime, formatValue, valueText };
  connect();
})();
