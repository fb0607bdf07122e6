'use strict';
// Issue 14's cloud-to-device queue through the unmodified device SDKs. Over HTTPS
// (azure-iot-device-http, which polls GET /devices/{id}/messages/deviceBound on port 443):
// complete, reject and abandon (an abandoned message comes again, a completed or rejected one
// never), the feedback records the sender asked for, a stale lock refused, an expired message
// never delivered, and the 51st message of a full queue refused with Azure's 403
// DeviceMaximumQueueDepthExceeded while nothing queued is lost. Over MQTT/TLS: a message sent
// while the device is offline arrives when it connects again, and once acknowledged never again.
// The service side sends through the hub's owner-only REST route (the service SDK's AMQP sender
// arrives in a later issue). Runs on the stack run_on_default_ports.sh started.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { Http } = require('azure-iot-device-http');
const { Mqtt } = require('azure-iot-device-mqtt');
const h = require('./lib/iothub.js');

const TEST = { timeout: 30_000 };

describe('C2D over HTTPS and MQTT with the device SDKs', () => {
  const { stack, registry, open } = h.useRunningStack();
  let feedback = [];  // every record read so far (the feedback queue is the hub's, not a device's)

  async function device(prefix) {
    return (await registry.create({ deviceId: h.uniqueId(prefix) })).responseBody;
  }

  // The device SDK over HTTPS, polling once a second (its default) and draining the queue at
  // each poll; every delivery goes to `onMessage(client, message)`.
  async function httpDevice(identity, onMessage) {
    const client = await open(identity, Http);
    client.on('error', (err) => console.log(`http client error: ${err}`));
    client.on('message', (m) => onMessage(client, m));
    return client;
  }

  // Completes every message the device receives over HTTPS until `awaited` has come, then lets
  // it poll once more; resolves with the message ids in delivery order.
  async function receiveOver(identity, awaited) {
    const got = [];
    await httpDevice(identity, async (client, m) => {
      got.push(m.messageId);
      await client.complete(m);
    });
    await h.waitFor(() => got.includes(awaited), 10_000, `message ${awaited}`);
    await h.sleep(1200);  // one more poll
    return got;
  }

  async function feedbackFor(deviceId) {
    feedback = feedback.concat(await h.drainFeedback(stack));
    return feedback.filter((f) => f.deviceId === deviceId);
  }

  it('HTTPS: complete, reject, abandon; feedback; a stale lock is 412', TEST, async () => {
    const d = await device('http-c2d');
    for (const [id, ack] of [['complete-me', 'full'], ['reject-me', 'full'], ['abandon-me', 'full'],
      ['quiet', 'none']]) {
      const sent = await h.sendC2d(stack, d.deviceId, `body of ${id}`,
        { 'iothub-messageid': id, 'iothub-ack': ack, 'iothub-correlationid': `corr-${id}`,
          'iothub-app-kind': 'test' });
      assert.equal(sent.status, 204, sent.text);
    }

    const deliveries = [];
    const settled = [];
    let completedOnce = null;
    const http = await httpDevice(d, async (client, m) => {
      deliveries.push(m);
      const n = deliveries.filter((x) => x.messageId === m.messageId).length;
      if (m.messageId === 'reject-me') await client.reject(m);
      else if (m.messageId === 'abandon-me' && n === 1) await client.abandon(m);
      else {
        await client.complete(m);
        if (m.messageId === 'complete-me') completedOnce = m;
      }
      settled.push(`${m.messageId}#${n}`);
    });
    await h.waitFor(() => settled.includes('abandon-me#2') && settled.includes('quiet#1'), 10_000,
      'every message settled, the abandoned one delivered again');

    const first = deliveries.find((m) => m.messageId === 'complete-me');
    assert.equal(first.data.toString(), 'body of complete-me');
    assert.equal(first.correlationId, 'corr-complete-me');
    assert.equal(first.properties.getValue('iothub-app-kind'), 'test');
    assert.equal(typeof first.lockToken, 'string');
    assert.ok(first.lockToken.length > 0);
    const again = deliveries.filter((m) => m.messageId === 'abandon-me');
    assert.notEqual(again[0].lockToken, again[1].lockToken, 'a new lock for the new delivery');

    // A completed message's lock is gone: completing it again is the SDK's 412 error.
    assert.ok(completedOnce);
    const stale = await http.complete(completedOnce).then(() => null, (err) => err);
    assert.ok(stale, 'completing twice was accepted');
    assert.equal(stale.response?.statusCode, 412, String(stale));
    assert.match(stale.responseBody, /DeviceMessageLockLost/);

    // The next poll delivers nothing: completed and rejected messages are gone.
    const before = deliveries.length;
    await h.sleep(1500);
    assert.equal(deliveries.length, before, deliveries.map((m) => m.messageId).join(','));
    assert.deepEqual(deliveries.map((m) => m.messageId).sort(),
      ['abandon-me', 'abandon-me', 'complete-me', 'quiet', 'reject-me']);

    const records = await feedbackFor(d.deviceId);
    const outcome = Object.fromEntries(records.map((f) => [f.originalMessageId, f.statusCode]));
    assert.deepEqual(outcome, { 'complete-me': 'Success', 'reject-me': 'Rejected', 'abandon-me': 'Success' });
    for (const f of records) {
      assert.equal(f.deviceGenerationId, d.generationId);
      assert.equal(typeof f.enqueuedTimeUtc, 'string');
    }
  });

  it('HTTPS: an expired message is never delivered, its feedback says so', TEST, async () => {
    const d = await device('http-expiry');
    const expiry = new Date(Date.now() + 600).toISOString();
    const sent = await h.sendC2d(stack, d.deviceId, 'too late',
      { 'iothub-messageid': 'expires', 'iothub-ack': 'negative', 'iothub-expiry': expiry });
    assert.equal(sent.status, 204, sent.text);
    await h.sleep(900);  // past its expiry before the device first asks
    assert.equal((await h.sendC2d(stack, d.deviceId, 'in time', { 'iothub-messageid': 'fresh' })).status, 204);

    assert.deepEqual(await receiveOver(d, 'fresh'), ['fresh']);
    const records = await feedbackFor(d.deviceId);
    assert.deepEqual(records.map((f) => [f.originalMessageId, f.statusCode, f.description]),
      [['expires', 'Expired', 'Message Expired']]);
  });

  it('HTTPS: the 51st queued message is refused (403), nothing queued is lost', TEST, async () => {
    const d = await device('http-depth');
    const other = await device('http-depth-other');
    for (let i = 0; i < 50; i++) {
      const sent = await h.sendC2d(stack, d.deviceId, `m${i}`, { 'iothub-messageid': `m${i}` });
      assert.equal(sent.status, 204, `message ${i}: ${sent.text}`);
    }
    const refused = await h.sendC2d(stack, d.deviceId, 'one too many', { 'iothub-messageid': 'm50' });
    assert.equal(refused.status, 403, refused.text);
    assert.match(refused.json.Message, /^ErrorCode:DeviceMaximumQueueDepthExceeded;/);
    assert.equal(refused.headers['iothub-errorcode'], 'DeviceMaximumQueueDepthExceeded');
    // Another device's queue is its own.
    assert.equal((await h.sendC2d(stack, other.deviceId, 'x')).status, 204);

    const got = [];
    await httpDevice(d, async (client, m) => {
      got.push(m.data.toString());
      await client.complete(m);
    });
    await h.waitFor(() => got.length >= 50, 15_000, `50 messages (${got.length} so far)`);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`), 'all 50, in order');
    // Room again once they are completed (a completion may still be on its way).
    await h.waitFor(async () => (await h.sendC2d(stack, d.deviceId, 'm50')).status === 204, 5000,
      'the queue to take a message again');
  });

  it("HTTPS: a device deleted and created again never gets its predecessor's messages", TEST, async () => {
    const old = await device('http-recreated');
    const id = old.deviceId;
    assert.equal((await h.sendC2d(stack, id, 'for the old device', { 'iothub-messageid': 'old' })).status, 204);
    await registry.delete(id);
    const renewed = (await registry.create({ deviceId: id })).responseBody;
    assert.notEqual(renewed.generationId, old.generationId);
    assert.equal((await h.sendC2d(stack, id, 'for the new device', { 'iothub-messageid': 'new' })).status, 204);
    assert.deepEqual(await receiveOver(renewed, 'new'), ['new']);
  });

  it('MQTT: a message sent while the device is offline arrives on connect, once', TEST, async () => {
    const d = await device('mqtt-offline');
    const first = await h.openClient(stack, d, Mqtt);
    const early = [];
    first.on('message', (m) => early.push(m));
    await h.sleep(300);  // subscribed to the devicebound topic
    await first.close();

    const sent = await h.sendC2d(stack, d.deviceId, 'while you were away',
      { 'iothub-messageid': 'offline-1', 'iothub-ack': 'positive', 'iothub-app-prio': 'high' });
    assert.equal(sent.status, 204, sent.text);
    assert.equal(early.length, 0);

    const second = await open(d, Mqtt);
    const got = [];
    second.on('message', (m) => got.push(m));
    await h.waitFor(() => got.length >= 1, 10_000, 'the queued message');
    assert.equal(got[0].data.toString(), 'while you were away');
    assert.equal(got[0].messageId, 'offline-1');
    assert.equal(got[0].properties.getValue('prio'), 'high');
    // The SDK's PUBACK completed it: positive feedback, and a third session gets nothing.
    await h.waitFor(async () => (await feedbackFor(d.deviceId)).length >= 1, 5000, 'the feedback');
    assert.deepEqual((await feedbackFor(d.deviceId)).map((f) => f.statusCode), ['Success']);
    await second.close();
    const third = await open(d, Mqtt);
    const later = [];
    third.on('message', (m) => later.push(m));
    await h.sleep(1000);
    assert.equal(later.length, 0);
  });
});
