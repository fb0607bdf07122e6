'use strict';
// Turning a customer-managed key on for a hub that already holds data, online: a hub starts
// service-managed (the weaker mode, which it says in its log and status), a device streams,
// `coffre hub encryption set --key-uri` hands it the customer key in coffre-vault. The root key
// is re-wrapped (no data re-encrypted), the device never sees an error, everything reads back,
// the customer key now rules (disable: Inaccessible; enable: back), and a restart keeps it.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const s = require('./lib/stack.js');
const { freePort, startHub, stopHub } = require('./lib/hub_process.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('turning a customer-managed key on', () => {
  let stack;
  let tmp;
  let hub;
  before(async () => {
    stack = await s.startStack();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-enable-'));
  }, { timeout: 120_000 });
  after(async () => {
    if (hub) await stopHub(hub.proc);
    if (stack) await s.stopStack(stack);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it('re-wraps the root key online; the customer key then rules, across a restart', { timeout: 120_000 }, async () => {
    const mqttPort = await freePort();
    const httpsPort = await freePort();
    const data = path.join(tmp, 'hub');
    const args = [
      '--dir', data,
      '--mqtt-listen', `127.0.0.1:${mqttPort}`, '--https-listen', `127.0.0.1:${httpsPort}`,
      '--amqp-listen', `127.0.0.1:${await freePort()}`,
      '--tls-cert', path.join(stack.dir, 'tls', 'server.pem'),
      '--tls-key', path.join(stack.dir, 'tls', 'server-key.pem'),
      '--service-key-file', path.join(tmp, 'service.key'), '--bootstrap-device', 'cmk-dev'];
    hub = await startHub(args);
    assert.ok(hub.listening, hub.output);
    assert.match(hub.output, /service-managed keys: no customer-managed key protects/);

    const read = (f) => fs.readFileSync(path.join(data, 'bootstrap', f), 'utf8').trim();
    const owner = read('iothubowner.connection-string');
    const hubView = { https_port: httpsPort, ca_file: stack.ca_file, service_connection_string: owner };
    const status = async () => (await s.rawRequest({ url: `https://localhost:${httpsPort}`,
      path: '/$coffre/encryption', caFile: stack.ca_file })).json;
    let st = await status();
    assert.equal(st.mode, 'service-managed');
    assert.equal(st.keyId, 'coffre:service-managed/1');

    const openDevice = async () => {
      const c = Client.fromConnectionString(
        `${read('cmk-dev.connection-string')};GatewayHostName=localhost:${mqttPort}`, Mqtt);
      c.setRetryPolicy(new NoRetry());
      await c.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
      await c.open();
      return c;
    };
    const device = await openDevice();
    const acked = [];
    let error = null;
    let stop = false;
    const stream = (async () => {
      for (let n = 0; !stop; n++) {
        const m = new Message(`enable-${n}`);
        m.messageId = `enable-${n}`;
        try {
          await device.sendEvent(m);
          acked.push(m.messageId);
        } catch (err) {
          error = err;
          return;
        }
        await sleep(5);
      }
    })();
    // Streaming before the switch, and again after it: a few acknowledged messages each time.
    const streamed = async (atLeast) => {
      for (const t = Date.now(); acked.length < atLeast && error === null;) {
        assert.ok(Date.now() - t < 10_000, 'the device did not stream');
        await sleep(10);
      }
    };
    await streamed(5);

    const shown = execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), ['hub', 'encryption', 'set',
      '--key-uri', `${stack.vault_url}/keys/${stack.key_name}`,
      '--vault-token-file', path.join(stack.dir, 'hub', 'vault-token'),
      '--vault-ca-file', stack.ca_file,
      '--login', owner, '--ca-file', stack.ca_file, '--port', String(httpsPort)], { encoding: 'utf8' });
    assert.match(shown, /MODE +customer-managed/);
    await streamed(acked.length + 5);
    stop = true;
    await stream;
    await device.close();
    assert.equal(error, null, `the device saw an error during the switch: ${error}`);
    st = await status();
    assert.equal(st.mode, 'customer-managed');
    assert.equal(st.state, 'Accessible');
    assert.match(st.keyId, new RegExp(`/keys/${stack.key_name}/`));
    const stored = new Set((await s.readBack(hubView, 'cmk-dev')).map((m) => m.systemProperties.messageId));
    assert.deepEqual(acked.filter((id) => !stored.has(id)), [], 'acknowledged and lost');

    // The customer key rules now.
    const vault = s.stackVault(stack);
    const keys = s.keyClient(vault.url, vault.token, vault.caFile);
    await keys.updateKeyProperties(stack.key_name, { enabled: false });
    for (const t0 = Date.now(); (await status()).state !== 'Inaccessible';) {
      assert.ok(Date.now() - t0 < 1500, 'not Inaccessible after the disable');
      await sleep(20);
    }
    await keys.updateKeyProperties(stack.key_name, { enabled: true });
    for (const t0 = Date.now(); (await status()).state !== 'Accessible';) {
      assert.ok(Date.now() - t0 < 1500, 'not back after the enable');
      await sleep(20);
    }

    // A restart with the same flags (no key named) keeps the customer key: it is stored.
    await stopHub(hub.proc);
    hub = await startHub(args);
    assert.ok(hub.listening, hub.output);
    st = await status();
    assert.equal(st.mode, 'customer-managed');
    assert.equal(st.state, 'Accessible');
    assert.equal((await s.readBack(hubView, 'cmk-dev')).length >= acked.length, true);
    console.log(`# switched to ${st.keyId} while streaming; ${acked.length} acknowledged, all read back`);
  });
});
