'use strict';
// coffre-hub driven by the unmodified Azure IoT device SDK (azure-iot-device + the MQTT
// transport), against the stack `coffre up` starts: the demo device connects over MQTT/TLS
// and sends telemetry; every send resolves only once the hub has the message durably.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const crypto = require('node:crypto');

const s = require('./lib/stack.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

const TEST = { timeout: 60_000 };

// A service SAS token as azure-iothub makes it (iothub-protocol.md §1.4).
function serviceToken(connectionString) {
  const parts = Object.fromEntries(connectionString.split(';').map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i), p.slice(i + 1)];
  }));
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sig = crypto.createHmac('sha256', Buffer.from(parts.SharedAccessKey, 'base64'))
    .update(`${parts.HostName}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${parts.HostName}&sig=${encodeURIComponent(sig)}` +
    `&skn=${parts.SharedAccessKeyName}&se=${se}`;
}

// Every message of `deviceId` in the read API, partition by partition.
async function readBack(stack, deviceId) {
  const url = `https://localhost:${stack.https_port}`;
  const auth = { authorization: serviceToken(stack.service_connection_string) };
  const get = (p) => s.rawRequest({ url, path: p, caFile: stack.ca_file, headers: auth });
  const parts = await get('/telemetry/partitions?x=1');
  assert.equal(parts.status, 200, parts.text);
  const found = [];
  for (const { id } of parts.json.partitions) {
    let from = 0;
    for (;;) {
      const page = await get(`/telemetry/partitions/${id}/messages?from=${from}&max=1000`);
      assert.equal(page.status, 200, page.text);
      found.push(...page.json.messages.filter((m) => m.deviceId === deviceId));
      if (page.json.messages.length === 0) break;
      from = Number(page.json.nextOffset);
    }
  }
  return found;
}

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
  });

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
    const back = await readBack(stack, 'demo-device');
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
