'use strict';
// The status page: signs a SAS token in the browser from a policy's connection string (its key
// stays in this tab's sessionStorage), asks /$coffre/status/data every second and draws it.
// No library, no outside request (the page's Content-Security-Policy allows none).

const $ = (id) => document.getElementById(id);
const DATA = 'status/data';
let token = null;        // { header, expires } of the current SAS token
let lastData = null;     // the last full answer, kept through an outage
let timer = null;

function parseConnectionString(text) {
  const fields = {};
  for (const part of text.trim().split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  if (!fields.HostName || !fields.SharedAccessKeyName || !fields.SharedAccessKey) {
    throw new Error('A policy connection string has HostName, SharedAccessKeyName and SharedAccessKey.');
  }
  return fields;
}

function base64ToBytes(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// SharedAccessSignature sr=<host>&sig=<HMAC-SHA256(key, sr + "\n" + se)>&se=<expiry>&skn=<policy>
async function sign(fields, seconds) {
  const sr = encodeURIComponent(fields.HostName.toLowerCase());
  const se = Math.floor(Date.now() / 1000) + seconds;
  const key = await crypto.subtle.importKey('raw', base64ToBytes(fields.SharedAccessKey),
    { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key,
    new TextEncoder().encode(`${sr}\n${se}`)));
  const sig = encodeURIComponent(btoa(String.fromCharCode(...mac)));
  return { header: `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}&skn=${encodeURIComponent(fields.SharedAccessKeyName)}`,
           expires: se };
}

async function currentToken() {
  const text = sessionStorage.getItem('coffre-login');
  if (!text) return null;
  if (!token || token.expires - Date.now() / 1000 < 300) token = await sign(parseConnectionString(text), 3600);
  return token.header;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '-');
const text = (id, value) => { $(id).textContent = value === undefined || value === null || value === '' ? '-' : String(value); };
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}
function rows(tbody, list) {
  tbody.replaceChildren(...list.map((cells) => {
    const tr = document.createElement('tr');
    for (const c of cells) { const td = document.createElement('td'); td.textContent = c; tr.append(td); }
    return tr;
  }));
}
function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function showKey(key) {
  const ok = key.state === 'Accessible';
  const state = $('key-state');
  state.textContent = key.state;
  state.className = `state ${ok ? 'ok' : 'bad'}`;
  text('key-mode', key.mode);
  text('key-id', key.keyId);
  text('key-reason', key.reason);
  text('key-since', key.since ? new Date(key.since).toLocaleString() : '');
  text('key-checked', key.lastGoodCheck ? new Date(key.lastGoodCheck).toLocaleString() : '');
}

// Accessible/Inaccessible periods since the first event, rotations as marks.
function drawTimeline(events, nowMs) {
  const chart = $('timeline');
  chart.replaceChildren();
  if (!events.length) return;
  const start = Date.parse(events[0].time);
  const span = Math.max(nowMs - start, 1000);
  const x = (t) => ((t - start) / span) * 1000;
  let state = 'accessible';
  let from = start;
  const band = (t0, t1, s) => chart.append(svg('rect', { x: x(t0), y: 8, width: Math.max(x(t1) - x(t0), 1),
    height: 24, fill: s === 'accessible' ? '#1a7f37' : '#cf222e', class: `period ${s}` }));
  for (const e of events) {
    const t = Date.parse(e.time);
    if (e.event === 'accessible' || e.event === 'inaccessible') {
      band(from, t, state);
      state = e.event;
      from = t;
    } else if (e.event === 'rotated') {
      chart.append(svg('rect', { x: x(t) - 2, y: 0, width: 4, height: 40, fill: '#8250df', class: 'rotation' }));
    }
  }
  band(from, nowMs, state);
}

function drawLines(chart, samples, series) {
  chart.replaceChildren();
  if (samples.length < 2) return;
  const t0 = samples[0].t;
  const t1 = samples[samples.length - 1].t;
  let max = 0;
  for (const s of series) for (const p of samples) if (p[s.key] != null) max = Math.max(max, p[s.key]);
  max = max > 0 ? max * 1.1 : 1;
  for (const s of series) {
    const points = samples.filter((p) => p[s.key] != null)
      .map((p) => `${((p.t - t0) / Math.max(t1 - t0, 1)) * 1000},${160 - (p[s.key] / max) * 150}`);
    if (points.length) chart.append(svg('polyline', { points: points.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, class: s.key }));
    // Sparse series (latency: only seconds with messages) show their points too.
    for (const point of points) {
      const [cx, cy] = point.split(',');
      chart.append(svg('circle', { cx, cy, r: 3, fill: s.color }));
    }
  }
  const label = svg('text', { x: 4, y: 14, 'font-size': 12, fill: '#57606a' });
  label.textContent = `max ${max.toFixed(max < 10 ? 2 : 0)}`;
  chart.append(label);
}

function show(data) {
  lastData = data;
  $('login').hidden = true;
  $('status').hidden = false;
  $('logout').hidden = false;
  text('hub-name', data.hub);
  showKey(data.key);
  const now = Date.parse(data.time);
  drawTimeline(data.timeline, now);
  const traffic = data.traffic.map((s) => ({ t: Date.parse(s.time), rate: s.messagesPerSecond,
    p50: s.ackP50Ms, p99: s.ackP99Ms }));
  drawLines($('throughput'), traffic, [{ key: 'rate', color: '#0969da' }]);
  drawLines($('latency'), traffic, [{ key: 'p50', color: '#1a7f37' }, { key: 'p99', color: '#bf8700' }]);
  const last = data.traffic[data.traffic.length - 1];
  text('throughput-now', last ? `${last.messagesPerSecond.toFixed(1)} messages/s now, ${data.messagesStored} stored since start` : '');
  text('latency-now', last && last.ackP50Ms != null ? `p50 ≤ ${last.ackP50Ms} ms, p99 ≤ ${last.ackP99Ms} ms` : 'no message in the last second');
  rows($('connections').tBodies[0], Object.entries(data.connections).map(([p, n]) => [p, `${n.open} open`, `${n.authenticated} devices`]));
  rows($('partitions').tBodies[0], data.partitions.map((p) => [p.id, p.beginSequence, p.endSequence, bytes(p.diskBytes)]));
  rows($('events').tBodies[0], data.timeline.slice().reverse().slice(0, 50)
    .map((e) => [new Date(e.time).toLocaleString(), e.event, e.reason || '', e.keyId || '']));
  text('updated', `updated ${time(data.time)}`);
  text('footer', `coffre ${data.version}, up since ${new Date(data.startedAt).toLocaleString()}`);
}

// The key is inaccessible: no policy can be checked, the hub says only the key's state.
function showOutage(key) {
  $('login').hidden = true;
  $('status').hidden = false;
  $('logout').hidden = false;
  showKey({ ...(lastData ? lastData.key : {}), ...key, lastGoodCheck: lastData && lastData.key.lastGoodCheck });
  if (lastData) {
    const events = lastData.timeline.concat([{ time: key.since, event: 'inaccessible', reason: key.reason }]);
    drawTimeline(events, Date.now());
  }
  text('updated', `updated ${new Date().toLocaleTimeString()} (the hub refuses everything while its key is inaccessible)`);
}

async function refresh() {
  try {
    const header = await currentToken();
    if (!header) return;
    const res = await fetch(DATA, { headers: { Authorization: header }, cache: 'no-store' });
    const body = await res.json().catch(() => ({}));
    if (res.ok) return show(body);
    if (res.status === 403 && body.ErrorCode === 'CustomerManagedKeyInaccessible' && body.key) return showOutage(body.key);
    if (res.status === 401) {
      sessionStorage.removeItem('coffre-login');
      token = null;
      $('login').hidden = false;
      $('status').hidden = true;
      $('login-error').textContent = 'The hub refused this connection string (a policy with ServiceConnect is needed).';
      return;
    }
    text('updated', `the hub answered ${res.status}`);
  } catch (err) {
    text('updated', `the hub cannot be reached: ${err.message}`);
  }
}

function start() {
  if (timer) clearInterval(timer);
  refresh();
  timer = setInterval(refresh, 1000);
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('login-error').textContent = '';
  try {
    const value = $('connection-string').value;
    parseConnectionString(value);
    sessionStorage.setItem('coffre-login', value);
    $('connection-string').value = '';
    token = null;
    start();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem('coffre-login');
  token = null;
  lastData = null;
  location.reload();
});
if (sessionStorage.getItem('coffre-login')) start();
