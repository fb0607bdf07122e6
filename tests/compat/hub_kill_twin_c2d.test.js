'use strict';
// kill -9 of coffre-hub during twin reported patches and C2D completes (issue 14). While the
// unmodified device SDK streams reported patches over MQTT (each a new property), the service
// enqueues C2D messages and a second device receives and completes them over HTTPS, all at
// once; once enough of each are acknowledged the hub is killed with SIGKILL with all three still
// in flight. After `coffre up` restarts it:
//  - every reported patch the SDK saw answered (its update callback without error) is in the twin;
//  - every C2D message whose enqueue was acknowledged (204) is either completed with an
//    acknowledgement before the kill, or still there (delivered again after the restart), or was
//    being completed at the kill (its outcome unknown to the device);
//  - no message whose complete was acknowledged (204) is delivered again.
// C2D completes over MQTT (PUBACK) are not part of this: a device never learns whether its
// PUBACK arrived, so there is no acknowledged complete to check (Azure: at least once).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const s = require('./lib/stack.js');
const { openDevice } = require('./lib/device.js');

const API = 'api-version=2021-04-12';
const TWIN_LANES = 4;      // reported patches in flight at once
const KILL_AFTER_PATCHES = 120;
const KILL_AFTER_COMPLETES = 20;
const OP_TIMEOUT_MS = 5_000;  // an operation cut by the kill may never be answered
const RUN_LIMIT_MS = 90_000;  // the whole stream before the kill, at most (fsyncs are slow on a busy disk)

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// A device SAS token as the device SDK makes it (iothub-protocol.md §1.4).
function deviceToken(deviceId, keyB64) {
  const sr = encodeURIComponent(`localhost/devices/${deviceId}`);
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sig = crypto.createHmac('sha256', Buffer.from(keyB64, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

describe('coffre-hub killed with SIGKILL during reported patches and C2D completes', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  it('acknowledged patches, enqueues and completes survive; no completed message comes back',
    { timeout: 180_000 }, async () => {
      const url = `https://localhost:${stack.https_port}`;
      const request = (method, p, body, headers) => s.rawRequest({ url, method, path: `${p}?${API}`,
        caFile: stack.ca_file, body, headers });
      const service = (method, p, body, headers = {}) => request(method, p, body,
        { authorization: s.serviceToken(stack.service_connection_string), ...headers });
      const reporter = stack.device_connection_string.match(/DeviceId=([^;]+)/)[1];

      const created = await service('PUT', '/devices/c2d-kill', { deviceId: 'c2d-kill' });
      assert.equal(created.status, 200, created.text);
      const c2dKey = created.json.authentication.symmetricKey.primaryKey;
      const device = (method, p) => request(method, p, undefined,
        { authorization: deviceToken('c2d-kill', c2dKey) });

      const pid = () => JSON.parse(fs.readFileSync(path.join(stack.dir, 'connection.json'), 'utf8')).pids.hub;
      const hubPid = pid();
      assert.ok(hubPid > 0);

      const client = await openDevice(stack);
      const twin = await client.getTwin();

      const patched = [];          // property numbers whose patch was answered
      const enqueued = new Set();  // message ids whose enqueue was answered 204
      const completed = new Set(); // message ids whose complete was answered 204
      const completing = new Set();// complete sent, no answer (cut by the kill)
      let killed = false;
      let stop = false;
      const started = Date.now();
      const maybeKill = () => {
        if (!killed && patched.length >= KILL_AFTER_PATCHES && completed.size >= KILL_AFTER_COMPLETES) {
          killed = true;
          process.kill(hubPid, 'SIGKILL');  // with patches, sends and completes still in flight
        }
      };
      const running = () => !killed && !stop && Date.now() - started < RUN_LIMIT_MS;

      let nextPatch = 0;
      async function twinLane() {
        while (running()) {
          const n = nextPatch++;
          try {
            await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update(
              { [`p${n}`]: n }, (err) => (err ? reject(err) : resolve()))), OP_TIMEOUT_MS);
          } catch {
            if (killed || !running()) return;
            await new Promise((r) => setTimeout(r, 50));
            continue;  // slow under load (not acknowledged, not counted): go on until the kill
          }
          patched.push(n);
          // The kill comes from here, so that completes and enqueues are caught mid-way too.
          maybeKill();
          // Past the threshold, waiting for completes: fewer patches (the twin has a size limit).
          if (patched.length >= KILL_AFTER_PATCHES) await new Promise((r) => setTimeout(r, 20));
        }
      }

      let nextSend = 0;
      async function sendLane() {
        while (running()) {
          const id = `k-${nextSend++}`;
          let res;
          try {
            res = await service('POST', '/devices/c2d-kill/messages/devicebound', `body of ${id}`,
              { 'content-type': 'text/plain', 'iothub-messageid': id });
          } catch {
            return;
          }
          if (res.status === 204) enqueued.add(id);
          else if (res.status === 403) await new Promise((r) => setTimeout(r, 20));  // queue full
          else if (!killed) assert.fail(`enqueue: ${res.status} ${res.text}`);
        }
      }

      async function completeLane() {
        while (running()) {
          let got;
          try {
            got = await device('GET', '/devices/c2d-kill/messages/deviceBound');
          } catch {
            return;
          }
          if (got.status === 204) {
            await new Promise((r) => setTimeout(r, 10));
            continue;
          }
          assert.equal(got.status, 200, got.text);
          const id = got.headers['iothub-messageid'];
          assert.equal(got.text, `body of ${id}`);
          const lock = got.headers.etag.slice(1, -1);
          completing.add(id);
          let done;
          try {
            done = await device('DELETE', `/devices/c2d-kill/messages/deviceBound/${encodeURIComponent(lock)}`);
          } catch {
            return;
          }
          assert.equal(done.status, 204, done.text);
          completing.delete(id);
          completed.add(id);
        }
      }

      await Promise.all([...Array.from({ length: TWIN_LANES }, twinLane), sendLane(), completeLane()]);
      await client.close().catch(() => {});
      assert.ok(killed, `killed (patches ${patched.length}, enqueued ${enqueued.size}, completed ${completed.size})`);
      console.log(`# at the kill: ${patched.length} patches, ${enqueued.size} enqueues and ` +
                  `${completed.size} completes acknowledged, ${completing.size} complete(s) unanswered`);

      execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), ['up', '--dir', stack.dir],
        { stdio: 'pipe', timeout: 60_000 });
      assert.notEqual(pid(), hubPid, 'coffre up started a new hub');

      // Every acknowledged reported patch is in the twin.
      const read = await service('GET', `/twins/${encodeURIComponent(reporter)}`);
      assert.equal(read.status, 200, read.text);
      const reported = read.json.properties.reported;
      const lostPatches = patched.filter((n) => reported[`p${n}`] !== n);
      assert.deepEqual(lostPatches, [], 'reported patches acknowledged before the kill and gone');

      // Drain the queue: nothing completed comes back, every acknowledged enqueue is accounted for.
      const after = new Set();
      for (let i = 0; i < 200; ++i) {
        const got = await device('GET', '/devices/c2d-kill/messages/deviceBound');
        if (got.status === 204) break;
        assert.equal(got.status, 200, got.text);
        const id = got.headers['iothub-messageid'];
        assert.ok(!after.has(id), `${id} delivered twice after the restart`);
        after.add(id);
        const done = await device('DELETE',
          `/devices/c2d-kill/messages/deviceBound/${encodeURIComponent(got.headers.etag.slice(1, -1))}`);
        assert.equal(done.status, 204, done.text);
      }
      const again = [...after].filter((id) => completed.has(id));
      assert.deepEqual(again, [], 'messages completed (204) before the kill, delivered again');
      const lostMessages = [...enqueued].filter((id) => !completed.has(id) && !after.has(id) && !completing.has(id));
      assert.deepEqual(lostMessages, [], 'enqueues acknowledged before the kill and gone');
      console.log(`# after the restart: ${Object.keys(reported).filter((k) => /^p\d+$/.test(k)).length} ` +
                  `properties in the twin, ${after.size} message(s) still queued`);
    });
});
