'use strict';
// Issue 14, bad input through the unmodified device SDK over MQTT/TLS: a reported patch over
// Azure's 32 KB limit and one with a key Azure refuses fail in the SDK's callback with the hub's
// message (the SDK reads the JSON error body's errorCode), the connection stays usable, the twin
// keeps what it had, and the next valid patch goes through.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');

const s = require('./lib/stack.js');
const { openDevice } = require('./lib/device.js');

const API = 'api-version=2021-04-12';

function report(twin, patch) {
  return new Promise((resolve, reject) => twin.properties.reported.update(patch,
    (err) => (err ? reject(err) : resolve())));
}

describe('bad reported patches through the device SDK', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  it('are refused with a readable error and change nothing', { timeout: 60_000 }, async () => {
    const deviceId = stack.device_connection_string.match(/DeviceId=([^;]+)/)[1];
    const client = await openDevice(stack);
    try {
      const twin = await client.getTwin();
      await report(twin, { kept: 1 });
      const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`big${i}`, 'x'.repeat(4000)]));
      await assert.rejects(report(twin, big), /over the limit/);  // 40 KB of 4 KB values
      await assert.rejects(report(twin, { 'a.b': 1 }), (err) => err instanceof Error && err.message.length > 0);
      await report(twin, { after: 2 });

      const read = await s.rawRequest({ url: `https://localhost:${stack.https_port}`,
        path: `/twins/${encodeURIComponent(deviceId)}?${API}`, caFile: stack.ca_file,
        headers: { authorization: s.serviceToken(stack.service_connection_string) } });
      assert.equal(read.status, 200, read.text);
      const reported = read.json.properties.reported;
      assert.equal(reported.kept, 1);
      assert.equal(reported.after, 2);
      assert.equal(reported.big0, undefined);
      assert.equal(reported.$version, 3);  // two accepted patches
    } finally {
      await client.close();
    }
  });
});
