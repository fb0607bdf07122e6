'use strict';
// Issue 14, first end-to-end run: the unmodified device SDK (azure-iot-device-mqtt over MQTT/TLS)
// against a `coffre up` stack, the service side through the REST routes azure-iothub uses
// (GET/PATCH /twins/{id}, POST /twins/{id}/methods) and Coffre's C2D send route: a twin read, a
// reported patch read back by the service, a desired patch notified to the device and seen in the
// next read, a direct method round trip, a method to an offline device (404 DeviceNotOnline), a
// device that never answers (504 within the timeout), and a C2D message delivered over MQTT.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const s = require('./lib/stack.js');
const { service, createDevice, sendC2d, waitFor, onDesired } = require('./lib/iothub.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');

async function openDevice(hub, device) {
  const key = device.authentication.symmetricKey.primaryKey;
  const cs = `HostName=localhost;DeviceId=${device.deviceId};SharedAccessKey=${key};` +
             `GatewayHostName=localhost:${hub.mqtt_port}`;
  const client = Client.fromConnectionString(cs, Mqtt);
  client.setRetryPolicy(new NoRetry());
  await client.setOptions({ ca: fs.readFileSync(hub.ca_file, 'utf8') });
  await client.open();
  return client;
}

describe('twins, direct methods and C2D over MQTT', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  it('twin: get, reported patch read back, desired patch notified and read', { timeout: 60_000 }, async () => {
    const d = await createDevice(stack, 'twin-dev');
    const client = await openDevice(stack, d);
    try {
      const twin = await client.getTwin();
      assert.equal(twin.properties.reported.$version, 1);
      // This SDK's update takes a callback, and calls it once the hub answered (204).
      await new Promise((resolve, reject) => twin.properties.reported.update(
        { firmware: '1.2.0', net: { rssi: -60 } }, (err) => (err ? reject(err) : resolve())));
      const read = await service(stack)('GET', '/twins/twin-dev');
      assert.equal(read.status, 200, read.text);
      assert.equal(read.json.properties.reported.firmware, '1.2.0');
      assert.equal(read.json.properties.reported.$version, 2);

      const seen = [];
      await onDesired(twin, (delta) => seen.push(delta));
      await waitFor(() => seen.length >= 1, 5000, 'the initial desired properties');  // the SDK's first event
      const patched = await service(stack)('PATCH', '/twins/twin-dev',
        { tags: { site: 'paris' }, properties: { desired: { interval: 5 } } }, { 'if-match': '*' });
      assert.equal(patched.status, 200, patched.text);
      await waitFor(() => seen.some((p) => p.interval === 5), 5000, 'the desired notification');
      const again = await client.getTwin();
      assert.equal(again.properties.desired.interval, 5);
      assert.equal(again.properties.desired.$version, 2);
    } finally {
      await client.close();
    }
  });

  it('methods: a round trip, an offline device, a device that never answers', { timeout: 60_000 }, async () => {
    const d = await createDevice(stack, 'method-dev');
    const client = await openDevice(stack, d);
    try {
      client.onDeviceMethod('echo', (req, res) => res.send(200, { echo: req.payload }));
      client.onDeviceMethod('silent', () => {});
      // The SDK subscribes in the background: the hub waits for the subscription (up to the
      // connect timeout) rather than the test guessing how long it takes.
      const ok = await service(stack)('POST', '/twins/method-dev/methods',
        { methodName: 'echo', payload: { n: 42 }, responseTimeoutInSeconds: 10,
          connectTimeoutInSeconds: 10 });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { status: 200, payload: { echo: { n: 42 } } });

      const start = Date.now();
      const silent = await service(stack)('POST', '/twins/method-dev/methods',
        { methodName: 'silent', responseTimeoutInSeconds: 5 });
      assert.equal(silent.status, 504, silent.text);
      assert.match(silent.text, /GatewayTimeout/);
      assert.ok(Date.now() - start < 15_000);
    } finally {
      await client.close();
    }
    await createDevice(stack, 'offline-dev');
    const offline = await service(stack)('POST', '/twins/offline-dev/methods', { methodName: 'echo' });
    assert.equal(offline.status, 404, offline.text);
    assert.match(offline.text, /DeviceNotOnline/);
  });

  it('c2d: a message sent before and one after the device connects arrive over MQTT', { timeout: 60_000 }, async () => {
    const d = await createDevice(stack, 'c2d-dev');
    const send = (body, id) => sendC2d(stack, 'c2d-dev', body,
      { 'iothub-messageid': id, 'iothub-app-kind': 'cmd' });
    assert.equal((await send('first', 'm1')).status, 204);
    const client = await openDevice(stack, d);
    try {
      const got = [];
      client.on('message', (m) => got.push(m));
      await waitFor(() => got.length >= 1, 10_000, 'the queued message');
      assert.equal((await send('second', 'm2')).status, 204);
      await waitFor(() => got.length >= 2, 10_000, 'the live message');
      assert.deepEqual(got.map((m) => m.data.toString()), ['first', 'second']);
      assert.equal(got[0].messageId, 'm1');
      assert.equal(got[0].properties.getValue('kind'), 'cmd');
    } finally {
      await client.close();
    }
  });
});
