'use strict';
// Issue 17: backing up a hub while devices send, and restoring it. Two devices send over MQTT with
// the unmodified device SDK; one reports a twin property and has a C2D message waiting. Then
// `coffre hub backup` runs while the first device keeps sending; after it the second device is
// erased and the first sends more. `coffre hub restore` brings the hub back to the backup's
// moment: everything acknowledged before the backup began reads back, nothing sent after it
// finished, the erased device stays erased (its records are markers, its identity gone), the
// twin and the C2D message are there, `coffre hub verify` passes, and devices connect and send
// again. A damaged backup is refused and the hub serves on as it was.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile, spawnSync } = require('node:child_process');
const { promisify } = require('node:util');

// Before the SDKs: it wraps tls.connect.
const { trustCa } = require('./lib/eventhubs.js');

const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');
const s = require('./lib/stack.js');
const { uniqueId, service, createDevice, sendC2d } = require('./lib/iothub.js');

const BEFORE = 200;   // each device's messages before the backup
const DURING = 150;   // the kept device's, while the backup runs
const AFTER = 50;     // the kept device's, after the backup finished
const IN_FLIGHT = 10;

function coffre(args) {
  const run = spawnSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), args,
    { encoding: 'utf8', timeout: 180_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

async function send(client, tag, from, to) {
  let next = from;
  const lane = async () => {
    while (next < to) {
      const seq = next++;
      const m = new Message(JSON.stringify({ tag, seq }));
      m.messageId = `${tag}-${seq}`;
      await client.sendEvent(m);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

async function readAll(stack) {
  const messages = [];
  for (let p = 0; p < 4; p++) {
    let from = 0;
    for (;;) {
      const res = await service(stack)('GET', `/telemetry/partitions/${p}/messages?from=${from}&max=1000`);
      assert.equal(res.status, 200, res.text);
      if (res.json.messages.length === 0) break;
      messages.push(...res.json.messages);
      from = Number(res.json.nextOffset);
    }
  }
  return messages;
}

describe('a hub backed up while devices send, then restored', () => {
  let stack;
  const ids = {};
  const keys = {};
  const clients = {};
  let backupFile;
  let backupOut;

  const connect = async (tag) => {
    const client = Client.fromConnectionString(
      `HostName=${stack.hub_host};DeviceId=${ids[tag]};SharedAccessKey=${keys[tag]};` +
      `GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
    client.setRetryPolicy(new NoRetry());
    await client.open();
    return client;
  };

  before(async () => {
    stack = await s.startStack();
    trustCa(fs.readFileSync(stack.ca_file, 'utf8'));
    backupFile = path.join(stack.tmp, 'hub.cbak');
    for (const tag of ['kept', 'erased']) {
      ids[tag] = uniqueId(tag);
      keys[tag] = (await createDevice(stack, ids[tag])).authentication.symmetricKey.primaryKey;
      clients[tag] = await connect(tag);
    }
    const twin = await clients.kept.getTwin();
    await new Promise((resolve, reject) => twin.properties.reported.update({ site: 'before-backup' },
      (err) => (err ? reject(err) : resolve())));
    const c2d = await sendC2d(stack, ids.kept, 'waiting through the restore');
    assert.equal(c2d.status, 204, c2d.text);
    await Promise.all(['kept', 'erased'].map((tag) => send(clients[tag], tag, 0, BEFORE)));
  }, { timeout: 180_000 });

  after(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => {});
    if (stack) await s.stopStack(stack);
  }, { timeout: 60_000 });

  it('`coffre hub backup` makes a file while the device keeps sending', async () => {
    const backup = promisify(execFile)(path.join(process.env.COFFRE_BIN_DIR, 'coffre'),
      ['hub', 'backup', '--file', backupFile, '--dir', stack.dir, '--output', 'json'],
      { encoding: 'utf8', timeout: 180_000 });
    await Promise.all([backup.then((r) => { backupOut = JSON.parse(r.stdout); }),
      send(clients.kept, 'kept', BEFORE, BEFORE + DURING)]);
    assert.equal(backupOut.state, 'succeeded');
    assert.ok(backupOut.records >= 2 * BEFORE, JSON.stringify(backupOut));
    assert.equal(fs.statSync(backupFile).size, backupOut.bytes);
    assert.equal(fs.statSync(backupFile).mode & 0o777, 0o600);
    // Nothing of it is in the clear: no message id, no device id.
    const raw = fs.readFileSync(backupFile);
    assert.equal(raw.indexOf(`kept-${BEFORE - 1}`), -1);
    assert.equal(raw.indexOf(ids.kept), -1);
    // The hub keeps no copy.
    const listed = await service(stack)('GET', '/$coffre/backups');
    assert.deepEqual(listed.json, []);
  });

  it('after the backup: one device is erased, the other sends more', async () => {
    await send(clients.kept, 'kept', BEFORE + DURING, BEFORE + DURING + AFTER);
    await clients.erased.close();
    delete clients.erased;
    const erased = coffre(['hub', 'device', 'erase', ids.erased, '--dir', stack.dir]);
    assert.equal(erased.status, 0, erased.stderr);
    await clients.kept.close();
    delete clients.kept;
  });

  it('a damaged backup is refused and the hub serves on as it was', async () => {
    const bad = Buffer.from(fs.readFileSync(backupFile));
    bad[Math.floor(bad.length / 2)] ^= 0x10;
    const badFile = path.join(stack.tmp, 'bad.cbak');
    fs.writeFileSync(badFile, bad, { mode: 0o600 });
    const run = coffre(['hub', 'restore', '--file', badFile, '--dir', stack.dir]);
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /damaged/);
    const messages = await readAll(stack);
    assert.equal(messages.filter((m) => m.deviceId === ids.kept).length, BEFORE + DURING + AFTER);
  });

  it('`coffre hub restore` brings the hub back to the backup, the erasure kept', async () => {
    const run = coffre(['hub', 'restore', '--file', backupFile, '--dir', stack.dir]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stderr, /restore: .* records restored, all of the backup/);
    assert.match(run.stderr, new RegExp(`device ${ids.erased} was erased after the backup`));
    const messages = await readAll(stack);
    const kept = messages.filter((m) => m.deviceId === ids.kept).map((m) => JSON.parse(m.body).seq);
    const erased = messages.filter((m) => m.deviceId === ids.erased);
    // Everything acknowledged before the backup began; nothing sent after it finished.
    for (let seq = 0; seq < BEFORE; seq++) assert.ok(kept.includes(seq), `kept-${seq} is missing`);
    assert.ok(kept.every((seq) => seq < BEFORE + DURING), 'a message sent after the backup is back');
    assert.equal(new Set(kept).size, kept.length, 'a message is there twice');
    assert.equal(kept.length + erased.length, backupOut.records);
    assert.equal(erased.length, BEFORE);
    for (const m of erased) {
      assert.equal(m.body, undefined);
      assert.equal(typeof m.erased.erasedAt, 'string');
    }
    const gone = await service(stack)('GET', `/devices/${ids.erased}`);
    assert.equal(gone.status, 404, gone.text);
  });

  it('the restored hub verifies, and its devices connect, receive and send again', async () => {
    const verify = coffre(['hub', 'verify', '--dir', stack.dir, '--output', 'json']);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const report = JSON.parse(verify.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.partitions.reduce((n, p) => n + p.recordsErased, 0), BEFORE);

    clients.kept = await connect('kept');
    const twin = await clients.kept.getTwin();
    assert.equal(twin.properties.reported.site, 'before-backup');
    const c2d = await new Promise((resolve) => {
      clients.kept.on('message', (msg) => clients.kept.complete(msg, () => resolve(msg.data.toString())));
    });
    assert.equal(c2d, 'waiting through the restore');
    await send(clients.kept, 'kept', 1000, 1010);
    const messages = await readAll(stack);
    const fresh = messages.filter((m) => m.deviceId === ids.kept && JSON.parse(m.body).seq >= 1000);
    assert.equal(fresh.length, 10);
    const erasedClient = Client.fromConnectionString(
      `HostName=${stack.hub_host};DeviceId=${ids.erased};SharedAccessKey=${keys.erased};` +
      `GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
    erasedClient.setRetryPolicy(new NoRetry());
    await assert.rejects(erasedClient.open());
    await erasedClient.close().catch(() => {});
  });
});
