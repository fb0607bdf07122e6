'use strict';
// coffre-hub driven by the unmodified Azure IoT device SDK (azure-iot-device + the MQTT
// transport), against the stack `coffre up` starts: the demo device connects over MQTT/TLS
// and sends telemetry; every send resolves only once the hub has the message durably.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const s = require('./lib/stack.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const TEST = { timeout: 60_000 };


// A device client over MQTT that trusts the stack's CA.
async function openDevice(connectionString, caFile) {
  const client = Client.fromConnectionString(connectionString, Mqtt);
  await client.setOptions({ ca: fs.readFileSync(caFile, 'utf8') });
  await client.open();
  return client;
}

describe('coffre-hub driven by azure-iot-device over MQTT', () => {
  let stack;

  before(async () => {
    stack = await s.startStack();
  }, { timeout: 120_000 });

  after(async () => {
    if (stack) await s.stopStack(stack);
  }, { timeout: 60_000 });

  it('the demo device connects and its telemetry is acknowledged (QoS 1, durable)', TEST, async () => {
    const client = await openDevice(stack.device_connection_string, stack.ca_file);
    try {
      for (let n = 0; n < 10; n++) {
        const message = new Message(JSON.stringify({ temperature: 20 + n, n }));
        message.messageId = `msg-${n}`;
        message.correlationId = `corr-${n}`;
        message.contentType = 'application/json';
        message.contentEncoding = 'utf-8';
        message.properties.add('tricky key', 'a b&c=d/e?f%g+h$');
        const result = await client.sendEvent(message);
        assert.equal(result.constructor.name, 'MessageEnqueued');
      }
    } finally {
      await client.close();
    }
    // Everything acknowledged comes back through the read API, in order, with its properties.
    const back = await s.readBack(stack, 'demo-device');
    assert.equal(back.length, 10);
    back.forEach((m, n) => {
      assert.equal(m.systemProperties.messageId, `msg-${n}`);
      assert.equal(m.systemProperties.correlationId, `corr-${n}`);
      assert.equal(m.systemProperties.contentType, 'application/json');
      assert.equal(m.properties['tricky key'], 'a b&c=d/e?f%g+h$');
      assert.deepEqual(JSON.parse(m.body), { temperature: 20 + n, n });
      if (n > 0) assert.ok(Number(m.sequenceNumber) > Number(back[n - 1].sequenceNumber));
    });
  });

  it('the read API refuses callers without a service token', TEST, async () => {
    const res = await s.rawRequest({ url: `https://localhost:${stack.https_port}`,
      path: '/telemetry/partitions?x=1', caFile: stack.ca_file });
    assert.equal(res.status, 401);
    assert.match(res.json.Message, /^ErrorCode:IotHubUnauthorizedAccess;/);
  });

  it('the REST APIs want an api-version Azure has published; GET /devices takes top', TEST, async () => {
    const url = `https://localhost:${stack.https_port}`;
    const headers = { authorization: s.serviceToken(stack.service_connection_string) };
    const get = (p) => s.rawRequest({ url, path: p, caFile: stack.ca_file, headers });
    const missing = await get('/devices/demo-device');
    assert.equal(missing.status, 400);
    assert.match(missing.json.Message, /^ErrorCode:ArgumentInvalid;.*api-version/);
    const unknown = await get('/devices/demo-device?api-version=2099-01-01');
    assert.equal(unknown.status, 400);
    assert.equal((await get('/devices/demo-device?api-version=2021-04-12')).status, 200);
    assert.equal((await get('/devices/demo-device?api-version=2020-09-30')).status, 200);
    const one = await get('/devices?top=1&api-version=2021-04-12');
    assert.equal(one.status, 200);
    assert.equal(one.json.length, 1);
    assert.equal((await get('/devices?top=0&api-version=2021-04-12')).status, 400);
  });

  it('a wrong key is refused as unauthorized', TEST, async () => {
    const bad = stack.device_connection_string.replace(/SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
    const client = Client.fromConnectionString(bad, Mqtt);
    await client.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
    await assert.rejects(client.open(), (err) => {
      assert.match(err.constructor.name + ' ' + err.message, /Unauthorized|Not authorized/i);
      return true;
    });
  });

  it('an unknown device is refused as unauthorized', TEST, async () => {
    const ghost = stack.device_connection_string.replace(/DeviceId=[^;]+/, 'DeviceId=ghost-device');
    const client = Client.fromConnectionString(ghost, Mqtt);
    await client.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
    await assert.rejects(client.open());
  });
});
