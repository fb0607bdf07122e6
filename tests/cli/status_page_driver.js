'use strict';
// Drives Debian's Chromium, headless, over the DevTools protocol on a pipe (no npm package):
// signs in to the hub's status page with a policy connection string, checks the live values in
// the DOM, disables the customer key and sees the page turn Inaccessible, enables it again, and
// keeps screenshots.
//   node status_page_driver.js URL CONNECTION_STRING SPKI_SHA256 ARTIFACT_DIR COFFRE STACK_DIR
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const [url, connectionString, spki, artifacts, coffre, stackDir] = process.argv.slice(2);
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-chromium-'));
fs.mkdirSync(artifacts, { recursive: true });

// The flags a sandboxed CI machine needs: no network of its own, no first-run work.
const browser = spawn(chromium, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--remote-debugging-pipe',
  `--ignore-certificate-errors-spki-list=${spki}`, '--window-size=1280,1400', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });  // its own process group
const exited = new Promise((resolve) => browser.once('exit', resolve));
let browserLog = '';
browser.stderr.on('data', (d) => { browserLog = (browserLog + d).slice(-4000); });

// The protocol: JSON messages ending in a NUL byte, fd 3 to Chromium, fd 4 from it.
let nextId = 1;
const pending = new Map();
let buffered = Buffer.alloc(0);
browser.stdio[4].on('data', (chunk) => {
  buffered = Buffer.concat([buffered, chunk]);
  let end;
  while ((end = buffered.indexOf(0)) >= 0) {
    const message = JSON.parse(buffered.subarray(0, end).toString('utf8'));
    buffered = buffered.subarray(end + 1);
    const waiter = pending.get(message.id);
    if (waiter) {
      pending.delete(message.id);
      if (message.error) waiter.reject(new Error(`${waiter.method}: ${message.error.message}`));
      else waiter.resolve(message.result);
    }
  }
});
function send(method, params = {}, sessionId) {
  const id = nextId++;
  browser.stdio[3].write(JSON.stringify({ id, method, params, sessionId }) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}

let session;
async function evaluate(expression) {
  const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, session);
  if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
  return r.result.value;
}
// Polls `expression` until `ok(value)`, at most `seconds`.
async function waitFor(what, expression, ok, seconds = 15) {
  const deadline = Date.now() + seconds * 1000;
  let value;
  while (Date.now() < deadline) {
    value = await evaluate(expression).catch(() => undefined);
    if (ok(value)) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: still ${JSON.stringify(value)} after ${seconds} s`);
}
async function screenshot(name) {
  const { data } = await send('Page.captureScreenshot', { format: 'png' }, session);
  const file = path.join(artifacts, name);
  fs.writeFileSync(file, Buffer.from(data, 'base64'));
  console.log(`screenshot: ${file}`);
}
const textOf = (id) => `document.getElementById(${JSON.stringify(id)}).textContent`;

async function main() {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  ({ sessionId: session } = await send('Target.attachToTarget', { targetId, flatten: true }));
  await send('Page.enable', {}, session);
  await send('Page.navigate', { url }, session);
  await waitFor('the page loads', 'document.readyState === "complete" && !!document.getElementById("login-form")', (v) => v === true);
  assert.equal(await evaluate('document.getElementById("status").hidden'), true, 'no data before signing in');

  // A wrong key is refused, and says so.
  const wrong = connectionString.replace(/SharedAccessKey=[^;]*/, 'SharedAccessKey=' + Buffer.alloc(32, 7).toString('base64'));
  await evaluate(`document.getElementById('connection-string').value = ${JSON.stringify(wrong)};
                  document.getElementById('login-form').requestSubmit(); true`);
  await waitFor('a wrong key is refused', textOf('login-error'), (v) => /refused/.test(v || ''));

  await evaluate(`document.getElementById('connection-string').value = ${JSON.stringify(connectionString)};
                  document.getElementById('login-form').requestSubmit(); true`);
  await waitFor('the key shows Accessible', textOf('key-state'), (v) => v === 'Accessible');
  await waitFor('the charts have two samples', 'document.querySelectorAll("#throughput polyline").length', (v) => v >= 1);
  assert.equal(await evaluate(textOf('hub-name')), 'localhost');
  assert.match(await evaluate(textOf('key-id')), /\/keys\/hub-cmk\/[0-9a-f]+$/);
  assert.equal(await evaluate('document.querySelectorAll("#partitions tbody tr").length'), 4);
  const stored = await evaluate(textOf('throughput-now'));
  assert.match(stored, / (\d+) stored since start/);
  assert.ok(Number(/ (\d+) stored since start/.exec(stored)[1]) >= 30, stored);
  assert.equal(await evaluate('document.querySelector("#timeline .period.accessible") !== null'), true);
  // The policy's key never reaches the page's DOM (it sits in this tab's sessionStorage only).
  const key = /SharedAccessKey=([^;]*)/.exec(connectionString)[1];
  assert.equal(await evaluate(`document.documentElement.outerHTML.includes(${JSON.stringify(key)})`), false);
  await screenshot('status-accessible.png');

  // The customer disables the key: the hub refuses everything within a second; the page says so.
  execFileSync(coffre, ['vault', 'key', 'disable', 'hub-cmk', '--dir', stackDir], { stdio: 'ignore' });
  await waitFor('the key shows Inaccessible', textOf('key-state'), (v) => v === 'Inaccessible', 10);
  assert.equal(await evaluate(textOf('key-reason')), 'KeyDisabled');
  assert.equal(await evaluate('document.querySelector("#timeline .period.inaccessible") !== null'), true);
  await screenshot('status-inaccessible.png');

  execFileSync(coffre, ['vault', 'key', 'enable', 'hub-cmk', '--dir', stackDir], { stdio: 'ignore' });
  await waitFor('the key shows Accessible again', textOf('key-state'), (v) => v === 'Accessible', 10);
  await waitFor('the events list the outage', 'Array.from(document.querySelectorAll("#events tbody tr td:nth-child(2)")).map((td) => td.textContent).join(",")',
    (v) => /accessible,inaccessible/.test(v || ''));
  await screenshot('status-after.png');
  console.log('status page: signed in, live values, Inaccessible within the poll, back, screenshots kept');
}

// Chromium closes itself and its helper processes; the profile goes once all of them are gone
// (a renderer still writing into it made the removal fail once).
async function finish(code) {
  clearTimeout(deadline);
  const closed = send('Browser.close').catch(() => {});
  const gone = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10000))]);
  await closed;
  try { process.kill(-browser.pid, 'SIGKILL'); } catch { /* the group is gone */ }
  if (!gone) await exited;
  fs.rmSync(profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  process.exit(code);
}
const deadline = setTimeout(() => { console.error('status page driver: over 120 s'); finish(1); }, 120000);
main().then(() => finish(0), (err) => {
  console.error(`FAIL: ${err.stack || err}\nchromium said: ${browserLog}`);
  finish(1);
});
