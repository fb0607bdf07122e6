'use strict';
// Issue 12: a revoked device stops talking at once (throttling: device_throttle.test.js).
// The unmodified device SDK (azure-iot-device-mqtt, Mqtt and MqttWs) against a `coffre up`
// stack: DELETE, disable (PUT status), or a regenerated key (PUT with the key it used replaced)
// through the service REST API closes its session within a second (measured, asserted at 2 s)
// and what it sends afterwards is refused and not stored; the HTTPS device API refuses it on
// its next request.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const tls = require('node:tls');
const crypto = require('node:crypto');

const s = require('./lib/stack.js');
const { service, createDevice } = require('./lib/iothub.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');

const API = 'api-version=2021-04-12';

// MqttWs always dials port 443: this agent takes its connection to the stack's HTTPS port.
class PortAgent extends https.Agent {
  constructor(port, ca) {
    super({ keepAlive: false });
    this.port = port;
    this.ca = ca;
  }
  createConnection(options, callback) {
    return tls.connect({ ...options, host: '127.0.0.1', port: this.port, servername: 'localhost',
      ca: this.ca }, callback);
  }
}

// MqttWs dials wss://{HostName}:443 (PortAgent takes it to the right port); Mqtt dials the
// GatewayHostName.
function connectionString(hub, device, transport) {
  const key = device.authentication.symmetricKey.primaryKey;
  const cs = `HostName=localhost;DeviceId=${device.deviceId};SharedAccessKey=${key}`;
  return transport === 'ws' ? cs : `${cs};GatewayHostName=localhost:${hub.mqtt_port}`;
}

async function openDevice(hub, cs, transport, retry = false) {
  const client = Client.fromConnectionString(cs, transport === 'ws' ? MqttWs : Mqtt);
  if (!retry) client.setRetryPolicy(new NoRetry());
  const options = { ca: fs.readFileSync(hub.ca_file, 'utf8') };
  if (transport === 'ws') options.mqtt = { webSocketAgent: new PortAgent(hub.https_port, options.ca) };
  await client.setOptions(options);
  await client.open();
  return client;
}

// Resolves with the ms from `start` to the client's 'disconnect' event, or null after `ms`.
function disconnectedWithin(client, start, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    client.once('disconnect', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

// The HTTPS device API, as azure-iot-device-http sends: a device SAS token per request.
function deviceToken(id, key) {
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sr = encodeURIComponent(`localhost/devices/${id}`);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}
function httpsSend(hub, id, key, body) {
  return s.rawRequest({ url: `https://localhost:${hub.https_port}`, method: 'POST',
    path: `/devices/${id}/messages/events?${API}`, caFile: hub.ca_file, body,
    headers: { authorization: deviceToken(id, key), 'content-type': 'text/plain' } });
}

const CHANGES = {
  deleted: async (hub, d) => {
    const res = await service(hub)('DELETE', `/devices/${d.deviceId}`, undefined, { 'if-match': '*' });
    assert.equal(res.status, 204, res.text);
  },
  disabled: async (hub, d) => {
    const res = await service(hub)('PUT', `/devices/${d.deviceId}`, { ...d, status: 'disabled' }, { 'if-match': '*' });
    assert.equal(res.status, 200, res.text);
  },
  'primary key regenerated': async (hub, d) => {
    const fresh = crypto.randomBytes(32).toString('base64');
    const body = { ...d, authentication: { type: 'sas', symmetricKey: { primaryKey: fresh,
      secondaryKey: d.authentication.symmetricKey.secondaryKey } } };
    const res = await service(hub)('PUT', `/devices/${d.deviceId}`, body, { 'if-match': '*' });
    assert.equal(res.status, 200, res.text);
  },
};

describe('revocation: a changed identity loses its open sessions', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  let n = 0;
  for (const transport of ['mqtt', 'ws']) {
    for (const [what, change] of Object.entries(CHANGES)) {
      it(`${transport}: device ${what} → closed within 1 s, later sends not stored`, { timeout: 60_000 }, async () => {
        const d = await createDevice(stack, `rev-${transport}-${n++}`);
        const client = await openDevice(stack, connectionString(stack, d, transport), transport);
        try {
          await client.sendEvent(new Message('before'));
          const start = Date.now();
          const closed = disconnectedWithin(client, start, 5_000);
          await change(stack, d);
          const ms = await closed;
          console.log(`[ measured ] ${transport}, device ${what}: session closed after ${ms} ms`);
          assert.ok(ms !== null && ms <= 2_000, `closed after ${ms} ms`);
          await assert.rejects(client.sendEvent(new Message('after')));
        } finally {
          await client.close().catch(() => {});
        }
        const back = await s.readBack(stack, d.deviceId);
        assert.deepEqual(back.map((m) => m.body), ['before']);
      });
    }
  }

  it('https: the device API refuses a device on its first request after it is disabled', { timeout: 60_000 }, async () => {
    const d = await createDevice(stack, 'rev-https');
    const key = d.authentication.symmetricKey.primaryKey;
    assert.equal((await httpsSend(stack, d.deviceId, key, 'before')).status, 204);
    await CHANGES.disabled(stack, d);
    const refused = await httpsSend(stack, d.deviceId, key, 'after');
    assert.equal(refused.status, 401, refused.text);
    const back = await s.readBack(stack, d.deviceId);
    assert.deepEqual(back.map((m) => m.body), ['before']);
  });
});
