'use strict';
// Issue 12: throttled devices back off and recover. A hub started with small throttles (no
// vault: it only borrows a `coffre up` stack's TLS certificate): a device over the d2c quota is
// cut, refused with CONNACK 3 while its source is past its budget of failed CONNECTs, backs off
// (the unmodified device SDK's default retry policy) and gets every message through. Nothing
// here is timed against a bound, so it runs beside the rest of the suite (revocation.test.js,
// timed against 1 s, runs alone).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const s = require('./lib/stack.js');
const { freePort, startHub, stopHub } = require('./lib/hub_process.js');
const { openDevice } = require('./lib/device.js');
const { Message } = require('azure-iot-device');

describe('throttling: the SDK backs off and recovers', () => {
  let stack;
  let hub;
  let tmp;
  before(async () => {
    stack = await s.startStack();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-throttle-'));
  }, { timeout: 120_000 });
  after(async () => {
    if (hub) await stopHub(hub.proc);
    if (stack) await s.stopStack(stack);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it('over the d2c quota the hub cuts the device, CONNACK 3 holds it off, and every message gets through',
    { timeout: 120_000 }, async () => {
      const mqttPort = await freePort();
      const httpsPort = await freePort();
      const data = path.join(tmp, 'hub');
      hub = await startHub([
        '--dir', data,
        '--mqtt-listen', `127.0.0.1:${mqttPort}`, '--https-listen', `127.0.0.1:${httpsPort}`,
        '--amqp-listen', `127.0.0.1:${await freePort()}`,
        '--tls-cert', path.join(stack.dir, 'tls', 'server.pem'),
        '--tls-key', path.join(stack.dir, 'tls', 'server-key.pem'),
        '--service-key-file', path.join(tmp, 'service.key'), '--bootstrap-device', 'busy',
        // The SDK writes the 30 PUBLISHes at once: past the burst of 5 the hub's wait would
        // exceed 25 ms unless they spread over 2.5 s, so the cut is certain. Two wrong keys
        // spend the refused-CONNECT budget for 2 s (0.5/s): the SDK's reconnects in that window
        // get CONNACK 3, and its back-off (which doubles per refusal) stays short.
        '--d2c-per-second', '10', '--d2c-burst', '5', '--mqtt-d2c-max-delay-ms', '25',
        '--mqtt-failed-connects-per-second', '0.5', '--mqtt-failed-connects-burst', '2']);
      assert.ok(hub.listening, hub.output);
      const read = (f) => fs.readFileSync(path.join(data, 'bootstrap', f), 'utf8').trim();
      const view = { mqtt_port: mqttPort, https_port: httpsPort, ca_file: stack.ca_file,
        service_connection_string: read('iothubowner.connection-string') };
      const cs = `${read('busy.connection-string')};GatewayHostName=localhost:${mqttPort}`;

      // The SDK's default retry policy (exponential back-off with jitter).
      const device = await openDevice(view, cs, { retry: true });
      // A neighbour with a wrong key spends 127.0.0.1's budget of refused CONNECTs.
      const wrong = cs.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${crypto.randomBytes(32).toString('base64')}`);
      for (let i = 0; i < 2; i++) {
        await assert.rejects(openDevice(view, wrong));
      }
      try {
        const start = Date.now();
        const sends = [];
        for (let i = 0; i < 30; i++) {
          const m = new Message(`m-${i}`);
          m.messageId = `m-${i}`;
          sends.push(device.sendEvent(m));
        }
        await Promise.all(sends);
        console.log(`[ measured ] 30 messages at 10/s (burst 5, max wait 25 ms): all acknowledged after ${Date.now() - start} ms`);
      } finally {
        await device.close().catch(() => {});
      }
      assert.match(hub.output, /closing: throttled: the hub's device-to-cloud quota is spent/);
      assert.match(hub.output, /CONNECT of client 'busy' refused: UNAVAILABLE/);
      const back = await s.readBack(view, 'busy');
      const ids = new Set(back.map((m) => m.systemProperties.messageId));
      for (let i = 0; i < 30; i++) assert.ok(ids.has(`m-${i}`), `m-${i} stored`);
    });
});
