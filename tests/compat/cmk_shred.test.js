'use strict';
// Crypto-shredding, end to end: a hub whose customer key lives in a vault without purge
// protection stores telemetry; the customer deletes the key (the hub turns Inaccessible within a
// second) and purges it. From then on the data cannot be read, even with the raw files and the
// service key together: a restarted hub stays Inaccessible, and `coffre verify-at-rest` finds
// every record still sealed and the telemetry nowhere. (A vault backup taken before the purge could bring the
// key back: docs/SECURITY.md.)

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

const s = require('./lib/stack.js');
const { freePort, startHub, stopHub } = require('./lib/hub_process.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');

const CMK = ['get', 'wrapKey', 'unwrapKey'];
const MARKER = 'shred-marker';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const bin = (name) => path.join(process.env.COFFRE_BIN_DIR, name);

describe('purging the customer key crypto-shreds the hub', () => {
  let stack;
  let vault;
  let tmp;
  let hub;
  before(async () => {
    stack = await s.startStack();
    vault = await s.startVault(stack, { purgeProtection: false });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-shred-'));
  }, { timeout: 120_000 });
  after(async () => {
    if (hub) await stopHub(hub.proc);
    if (vault) await s.stopVault(vault);
    if (stack) await s.stopStack(stack);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }, { timeout: 60_000 });

  it('delete, purge: Inaccessible within 1 s, then unreadable with the files and the service key', { timeout: 120_000 }, async () => {
    const keys = s.keyClient(vault.url, vault.token, vault.caFile);
    await keys.createRsaKey('shred-cmk', { keySize: 2048 });  // the size is not what is tested
    const principal = await s.setPrincipal(vault, 'shred-hub', CMK);
    fs.writeFileSync(path.join(tmp, 'token'), principal.token, { mode: 0o600 });
    const mqttPort = await freePort();
    const httpsPort = await freePort();
    const data = path.join(tmp, 'hub');
    const serviceKey = path.join(tmp, 'service.key');
    const args = [
      '--dir', data,
      '--mqtt-listen', `127.0.0.1:${mqttPort}`, '--https-listen', `127.0.0.1:${httpsPort}`,
      '--amqp-listen', `127.0.0.1:${await freePort()}`,
      '--tls-cert', path.join(stack.dir, 'tls', 'server.pem'),
      '--tls-key', path.join(stack.dir, 'tls', 'server-key.pem'),
      '--vault-key-uri', `${vault.url}/keys/shred-cmk`,
      '--vault-token-file', path.join(tmp, 'token'), '--vault-ca-file', stack.ca_file,
      '--service-key-file', serviceKey, '--bootstrap-device', 'shred-dev'];
    hub = await startHub(args);
    assert.ok(hub.listening, hub.output);

    const read = (f) => fs.readFileSync(path.join(data, 'bootstrap', f), 'utf8').trim();
    const hubView = { https_port: httpsPort, ca_file: stack.ca_file,
      service_connection_string: read('iothubowner.connection-string') };
    const status = async () => (await s.rawRequest({ url: `https://localhost:${httpsPort}`,
      path: '/$coffre/encryption', caFile: stack.ca_file })).json;
    assert.equal((await status()).purgeProtection, false, 'the hub sees the missing purge protection');
    assert.match(hub.output, /has no purge protection/);

    const device = Client.fromConnectionString(
      `${read('shred-dev.connection-string')};GatewayHostName=localhost:${mqttPort}`, Mqtt);
    await device.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
    await device.open();
    for (let n = 0; n < 10; n++) await device.sendEvent(new Message(`${MARKER}-${n}`));
    await device.close();
    assert.equal((await s.readBack(hubView, 'shred-dev')).length, 10);

    const t0 = Date.now();
    const poller = await keys.beginDeleteKey('shred-cmk');
    await poller.pollUntilDone();
    for (;;) {
      const st = await status();
      if (st.state === 'Inaccessible') {
        assert.equal(st.reason, 'KeyDeleted');
        break;
      }
      assert.ok(Date.now() - t0 < 3000, 'not Inaccessible after the delete');
      await sleep(20);
    }
    const inaccessibleAfter = Date.now() - t0;
    await keys.purgeDeletedKey('shred-cmk');
    await stopHub(hub.proc);

    // The key is gone for good: a restarted hub stays Inaccessible and serves nothing.
    hub = await startHub(args);
    assert.ok(hub.listening, hub.output);
    assert.match(hub.output, /starting Inaccessible/);
    const after = await status();
    assert.equal(after.state, 'Inaccessible');
    assert.equal(after.reason, 'KeyDeleted');
    const refused = Client.fromConnectionString(
      `${read('shred-dev.connection-string')};GatewayHostName=localhost:${mqttPort}`, Mqtt);
    refused.setRetryPolicy(new NoRetry());  // "server unavailable" would be retried otherwise
    await refused.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
    await assert.rejects(refused.open());
    await stopHub(hub.proc);
    hub = null;

    // Raw files and the service key together: every record still sealed, the telemetry nowhere.
    const verify = await new Promise((resolve) => {
      execFile(bin('coffre'), ['verify-at-rest', '--hub-data', data, '--service-key-file', serviceKey,
        '--find', MARKER], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, out: stdout + stderr }));
    });
    console.log(`# Inaccessible ${inaccessibleAfter} ms after the delete; verify-at-rest:\n${verify.out.replace(/^/gm, '# ')}`);
    assert.equal(verify.code, 0, verify.out);
    assert.match(verify.out, /telemetry records \(service key removed\): 10, sealed 10/);
    assert.ok(inaccessibleAfter <= 1000, `Inaccessible ${inaccessibleAfter} ms after the delete`);
  });
});
