'use strict';
// Issue 14: "The raw data directory holds no twin value, tag or C2D body in plaintext", on the
// real processes of a `coffre up` stack: marker strings go in as twin tags, desired and reported
// properties (the device SDK over MQTT), a module twin's tags, and C2D bodies, application
// properties and message ids (one completed over HTTPS, so its feedback record exists, one left
// queued). After `coffre down` every file under the stack's directory (hub and vault data, logs,
// everything) is searched for each marker as raw bytes, base64 and hex.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const s = require('./lib/stack.js');
const { openDevice } = require('./lib/device.js');

const API = 'api-version=2021-04-12';

function filesUnder(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return filesUnder(p);
    return e.isFile() ? [p] : [];
  });
}

function forms(marker) {
  const raw = Buffer.from(marker, 'utf8');
  return [raw, Buffer.from(raw.toString('base64').replace(/=+$/, '')),
    Buffer.from(raw.toString('base64url')), Buffer.from(raw.toString('hex')),
    Buffer.from(raw.toString('hex').toUpperCase())];
}

describe('twins and C2D at rest in a real stack', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  it('no marker is found in any file after coffre down', { timeout: 120_000 }, async () => {
    const nonce = crypto.randomBytes(6).toString('hex');
    const m = Object.fromEntries(['tag', 'desired', 'reported', 'moduletag', 'body', 'prop', 'mid']
      .map((k) => [k, `mk-${k}-${nonce}`]));
    const url = `https://localhost:${stack.https_port}`;
    const service = (method, p, body, headers = {}) => s.rawRequest({ url, method, path: `${p}?${API}`,
      caFile: stack.ca_file, body,
      headers: { authorization: s.serviceToken(stack.service_connection_string), ...headers } });
    const deviceId = stack.device_connection_string.match(/DeviceId=([^;]+)/)[1];
    const key = stack.device_connection_string.match(/SharedAccessKey=([^;]+)/)[1];

    // Twin: tags and desired by the service, reported by the device SDK, a module's tags.
    let res = await service('PATCH', `/twins/${deviceId}`,
      { tags: { site: m.tag }, properties: { desired: { cfg: m.desired } } }, { 'if-match': '*' });
    assert.equal(res.status, 200, res.text);
    res = await service('PUT', `/devices/${deviceId}/modules/mod`, { deviceId, moduleId: 'mod' });
    assert.equal(res.status, 200, res.text);
    res = await service('PATCH', `/twins/${deviceId}/modules/mod`, { tags: { t: m.moduletag } }, { 'if-match': '*' });
    assert.equal(res.status, 200, res.text);
    const client = await openDevice(stack);
    try {
      const twin = await client.getTwin();
      await new Promise((resolve, reject) => twin.properties.reported.update({ fw: m.reported },
        (err) => (err ? reject(err) : resolve())));
    } finally {
      await client.close();
    }

    // C2D: two messages asking for feedback; the first completed over HTTPS.
    for (const n of [1, 2]) {
      res = await service('POST', `/devices/${deviceId}/messages/devicebound`, `${m.body}-${n}`,
        { 'content-type': 'text/plain', 'iothub-ack': 'full', 'iothub-messageid': `${m.mid}-${n}`,
          'iothub-app-secret': m.prop });
      assert.equal(res.status, 204, res.text);
    }
    const sr = encodeURIComponent(`localhost/devices/${deviceId}`);
    const se = Math.ceil(Date.now() / 1000) + 3600;
    const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
    const device = { authorization: `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}` };
    const got = await s.rawRequest({ url, path: `/devices/${deviceId}/messages/deviceBound?${API}`,
      caFile: stack.ca_file, headers: device });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.text, `${m.body}-1`);
    const done = await s.rawRequest({ url, method: 'DELETE', caFile: stack.ca_file, headers: device,
      path: `/devices/${deviceId}/messages/deviceBound/${encodeURIComponent(got.headers.etag.slice(1, -1))}?${API}` });
    assert.equal(done.status, 204, done.text);
    const feedback = await service('GET', '/messages/serviceBound/feedback');
    assert.equal(feedback.status, 200, feedback.text);
    assert.ok(feedback.text.includes(`${m.mid}-1`), feedback.text);
    const read = await service('GET', `/twins/${deviceId}`);
    assert.ok(read.text.includes(m.reported) && read.text.includes(m.tag), read.text);

    execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), ['down', '--dir', stack.dir],
      { stdio: 'pipe', timeout: 60_000 });
    const files = filesUnder(stack.dir);
    const contents = files.map((f) => [path.relative(stack.dir, f), fs.readFileSync(f)]);
    // The search reads what is there: the device id is in connection.json in plaintext.
    assert.ok(contents.some(([, c]) => c.includes(Buffer.from(deviceId))));
    const found = [];
    for (const [name, marker] of Object.entries(m)) {
      for (const [file, c] of contents) {
        if (forms(marker).some((f) => c.includes(f))) found.push(`${name} in ${file}`);
      }
    }
    assert.deepEqual(found, [], `markers in plaintext (${files.length} files searched)`);
    console.log(`# ${Object.keys(m).length} markers, ${files.length} files, none found`);
  });
});
