'use strict';
// Issue 17: erasing one device inside a shared partition. Two devices on the same partition send
// 500 messages each over MQTT with the unmodified device SDK; `coffre hub device erase` erases
// one. Then the other's 500 read back whole and in order through the read API and through the
// Event Hubs-compatible endpoint (@azure/event-hubs), the erased one's 500 are still in their
// places as erasure markers (no content), `coffre hub verify` passes, the erasure is listed, and
// the erased device's credentials no longer connect. (That the erased key is gone from the
// store's files and from memory is hub_test's DeviceErasureTest, which can look inside.)

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');

// Before the SDKs: it wraps tls.connect.
const { trustCa } = require('./lib/eventhubs.js');

const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');
const s = require('./lib/stack.js');
const { uniqueId, waitFor, service, createDevice } = require('./lib/iothub.js');

const PER_DEVICE = 500;
const IN_FLIGHT = 20;
const PARTITIONS = 4;

function coffre(args) {
  return execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), args,
    { encoding: 'utf8', timeout: 120_000 });
}

// The hub's partition of a device id: FNV-1a of the id, modulo the partition count.
function partitionOf(id) {
  let h = 2166136261;
  for (const byte of Buffer.from(id, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h % PARTITIONS;
}

async function sendAll(client, tag) {
  let next = 0;
  const lane = async () => {
    while (next < PER_DEVICE) {
      const seq = next++;
      const m = new Message(JSON.stringify({ tag, seq }));
      m.messageId = `${tag}-${seq}`;
      await client.sendEvent(m);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

describe('erasing one device in a shared partition', () => {
  let stack;
  let partition;
  const ids = {};
  const devices = [];

  before(async () => {
    stack = await s.startStack();
    trustCa(fs.readFileSync(stack.ca_file, 'utf8'));
    ids.erased = uniqueId('erased');
    partition = partitionOf(ids.erased);
    do ids.kept = uniqueId('kept'); while (partitionOf(ids.kept) !== partition);
    for (const tag of ['erased', 'kept']) {
      const json = await createDevice(stack, ids[tag]);
      const client = Client.fromConnectionString(
        `HostName=${stack.hub_host};DeviceId=${ids[tag]};` +
        `SharedAccessKey=${json.authentication.symmetricKey.primaryKey};` +
        `GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
      client.setRetryPolicy(new NoRetry());
      await client.open();
      devices.push({ tag, client, key: json.authentication.symmetricKey.primaryKey });
    }
    // Both at once, so that their records interleave in the partition.
    await Promise.all(devices.map(({ client, tag }) => sendAll(client, tag)));
    await Promise.all(devices.map(({ client }) => client.close()));
  }, { timeout: 180_000 });

  after(async () => {
    if (stack) await s.stopStack(stack);
  }, { timeout: 60_000 });

  it('`coffre hub device erase` deletes the device and destroys its key', () => {
    const out = JSON.parse(coffre(['hub', 'device', 'erase', ids.erased, '--dir', stack.dir, '--output', 'json']));
    assert.equal(out.deviceId, ids.erased);
    assert.equal(out.deviceDeleted, true);
    assert.ok(out.keyNumber > 0, JSON.stringify(out));
    assert.equal(typeof out.erasedBy, 'string');
    const listed = JSON.parse(coffre(['hub', 'device', 'erasures', '--dir', stack.dir, '--output', 'json']));
    assert.deepEqual(listed.map((e) => e.deviceId), [ids.erased]);
  });

  it('the read API serves the other device whole and in order, and markers for the erased', async () => {
    const messages = [];
    let from = 0;
    for (;;) {
      const res = await service(stack)('GET', `/telemetry/partitions/${partition}/messages?from=${from}&max=1000`);
      assert.equal(res.status, 200, res.text);
      if (res.json.messages.length === 0) break;
      messages.push(...res.json.messages);
      from = Number(res.json.nextOffset);
    }
    assert.equal(messages.length, 2 * PER_DEVICE);
    const kept = messages.filter((m) => m.deviceId === ids.kept);
    const erased = messages.filter((m) => m.deviceId === ids.erased);
    assert.equal(kept.length, PER_DEVICE);
    assert.equal(erased.length, PER_DEVICE);
    // Sent by 20 lanes at once: each message once, in the order the hub acknowledged them.
    const seqs = kept.map((m) => JSON.parse(m.body).seq);
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: PER_DEVICE }, (_, i) => i));
    for (const m of kept) {
      assert.equal(m.erased, undefined);
      assert.equal(m.systemProperties.messageId, `kept-${JSON.parse(m.body).seq}`);
    }
    for (const m of erased) {
      assert.equal(m.body, undefined);
      assert.equal(m.systemProperties, undefined);
      assert.match(m.erased.erasedAt, /^\d{4}-\d\d-\d\dT/);
      assert.equal(typeof m.erased.erasedBy, 'string');
    }
    const offsets = messages.map((m) => m.sequenceNumber);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  });

  it('the Event Hubs endpoint serves the same, with the erased events marked', async () => {
    const consumer = new EventHubConsumerClient('$Default', stack.eventhub_connection_string);
    const events = [];
    const errors = [];
    const sub = consumer.subscribe(String(partition), {
      processEvents: async (batch) => { events.push(...batch); },
      processError: async (err) => { errors.push(err); },
    }, { startPosition: earliestEventPosition, maxBatchSize: 200, maxWaitTimeInSeconds: 1 });
    try {
      await waitFor(() => errors.length > 0 || events.length >= 2 * PER_DEVICE, 60_000, 'all events');
    } finally {
      await sub.close();
      await consumer.close();
    }
    assert.deepEqual(errors.map((e) => `${e.code}: ${e.message}`), []);
    assert.equal(events.length, 2 * PER_DEVICE);
    const deviceOf = (e) => e.systemProperties['iothub-connection-device-id'];
    const kept = events.filter((e) => deviceOf(e) === ids.kept);
    const erased = events.filter((e) => deviceOf(e) === ids.erased);
    assert.equal(kept.length, PER_DEVICE);
    assert.equal(erased.length, PER_DEVICE);
    assert.deepEqual(kept.map((e) => e.body.seq).sort((a, b) => a - b),
      Array.from({ length: PER_DEVICE }, (_, i) => i));
    for (const e of kept) assert.equal(e.properties?.['coffre-erased'], undefined);
    for (const e of erased) {
      assert.equal(e.properties['coffre-erased'], true);
      assert.ok(e.properties['coffre-erased-at'] instanceof Date || typeof e.properties['coffre-erased-at'] === 'number');
      assert.equal(typeof e.properties['coffre-erased-by'], 'string');
      assert.ok(e.body === undefined || e.body === null || e.body.length === 0, JSON.stringify(e.body));
    }
  });

  it('`coffre hub verify` passes: the chain covers the erased records too', () => {
    const run = spawnSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'),
      ['hub', 'verify', '--dir', stack.dir, '--output', 'json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    const p = report.partitions.find((x) => x.id === String(partition));
    assert.equal(p.recordsErased, PER_DEVICE);
  });

  it('the erased device can no longer connect', async () => {
    const { key } = devices.find((d) => d.tag === 'erased');
    const client = Client.fromConnectionString(
      `HostName=${stack.hub_host};DeviceId=${ids.erased};SharedAccessKey=${key};` +
      `GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
    client.setRetryPolicy(new NoRetry());
    await assert.rejects(client.open());
    await client.close().catch(() => {});
  });

  it('refuses bad erase requests with clear errors', async () => {
    const call = service(stack);
    for (const [body, status] of [
      [{}, 400], [{ deviceId: null }, 400], [{ deviceId: 7 }, 400], [{ deviceId: 'x'.repeat(200) }, 400],
      [{ deviceId: 'a b' }, 400], ['not json', 400]]) {
      const res = await call('POST', '/$coffre/erasures', body);
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
    }
    const res = await s.rawRequest({
      url: `https://localhost:${stack.https_port}`, method: 'POST', path: '/$coffre/erasures',
      caFile: stack.ca_file, body: { deviceId: ids.kept }, headers: { authorization: 'SharedAccessSignature sr=x&sig=y&se=1' },
    });
    assert.equal(res.status, 401, res.text);
  });
});
