'use strict';
// The hub issue's compatibility run: azure-iothub's Registry creates three devices, and the
// unmodified azure-iot-device-mqtt SDK connects one over MQTT/TLS (8883), one over MQTT over
// WebSocket (wss://…:443/$iothub/websocket) and one with an X.509 self-signed certificate
// (thumbprint registered). Together they send 1,000 messages with properties; all 1,000 come
// back through the read API with their properties, in order within each partition.
// Runs on the stack run_on_default_ports.sh started (the SDKs hard-code 443 and 8883).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { Registry } = require('azure-iothub');
const { selfSignedCertificate } = require('./lib/iothub.js');
const { Client, Message } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const s = require('./lib/stack.js');

const TOTAL = 1000;
const IN_FLIGHT = 20;  // per client: QoS 1 PUBLISHes awaiting their PUBACK

function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomInt(1e6)}`;
}

function message(transport, seq) {
  const m = new Message(JSON.stringify({ transport, seq, pad: 'x'.repeat(seq % 50) }));
  m.messageId = `${transport}-${seq}`;
  m.correlationId = `corr-${seq}`;
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('seq', String(seq));
  m.properties.add('transport', transport);
  m.properties.add('note', 'a b&c=d/é');  // needs percent-encoding in the topic
  return m;
}

// Sends seq 0..count-1 in order, with up to IN_FLIGHT unacknowledged at a time.
async function sendAll(client, transport, count) {
  let next = 0;
  async function lane() {
    while (next < count) {
      const seq = next++;
      await client.sendEvent(message(transport, seq));
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

describe('three devices, three transports, 1,000 messages read back', () => {
  let stack;
  let registry;
  let tmp;
  const ids = {};
  before(() => {
    const dir = process.env.COFFRE_STACK_DIR;
    assert.ok(dir, 'COFFRE_STACK_DIR must name a running stack (see run_on_default_ports.sh)');
    stack = JSON.parse(fs.readFileSync(path.join(dir, 'connection.json'), 'utf8'));
    registry = Registry.fromConnectionString(stack.service_connection_string);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-x509-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('sends over MQTT/TLS, MQTT/WebSocket and X.509, and reads all back in order', { timeout: 180_000 }, async () => {
    ids.tls = uniqueId('tls');
    ids.ws = uniqueId('ws');
    ids.x509 = uniqueId('x509');
    const tlsDevice = (await registry.create({ deviceId: ids.tls })).responseBody;
    const wsDevice = (await registry.create({ deviceId: ids.ws })).responseBody;
    const cert = selfSignedCertificate(tmp, ids.x509);
    const x509Device = (await registry.create({
      deviceId: ids.x509,
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.thumbprint } },
    })).responseBody;
    assert.equal(x509Device.authentication.type, 'selfSigned');

    const sas = (id, d) => `HostName=${stack.hub_host};DeviceId=${id};SharedAccessKey=${d.authentication.symmetricKey.primaryKey}`;
    const clients = {
      tls: Client.fromConnectionString(sas(ids.tls, tlsDevice), Mqtt),
      ws: Client.fromConnectionString(sas(ids.ws, wsDevice), MqttWs),
      x509: Client.fromConnectionString(`HostName=${stack.hub_host};DeviceId=${ids.x509};x509=true`, Mqtt),
    };
    clients.x509.setOptions({ cert: cert.cert, key: cert.key });
    const counts = { tls: 334, ws: 333, x509: 333 };
    assert.equal(counts.tls + counts.ws + counts.x509, TOTAL);
    try {
      for (const c of Object.values(clients)) await c.open();
      await Promise.all(Object.keys(clients).map((t) => sendAll(clients[t], t, counts[t])));
    } finally {
      await Promise.all(Object.values(clients).map((c) => c.close().catch(() => {})));
    }

    let total = 0;
    for (const transport of Object.keys(clients)) {
      const back = await s.readBack(stack, ids[transport]);
      assert.equal(back.length, counts[transport], `${transport}: every message reads back once`);
      back.forEach((m, seq) => {
        // readBack walks one partition in offset order, and a device lives in one partition.
        assert.equal(m.partition, back[0].partition);
        if (seq > 0) assert.ok(m.sequenceNumber > back[seq - 1].sequenceNumber);
        assert.equal(m.systemProperties.messageId, `${transport}-${seq}`, `${transport}: in order`);
        assert.equal(m.systemProperties.correlationId, `corr-${seq}`);
        assert.equal(m.systemProperties.contentType, 'application/json');
        assert.equal(m.systemProperties.contentEncoding, 'utf-8');
        assert.equal(m.systemProperties['iothub-connection-device-id'], ids[transport]);
        assert.deepEqual(m.properties, { seq: String(seq), transport, note: 'a b&c=d/é' });
        assert.deepEqual(JSON.parse(m.body), { transport, seq, pad: 'x'.repeat(seq % 50) });
      });
      total += back.length;
    }
    assert.equal(total, TOTAL);
    for (const id of Object.values(ids)) await registry.delete(id);
  });

  it('an X.509 device with a certificate whose thumbprint is not registered is refused', { timeout: 60_000 }, async () => {
    const id = uniqueId('x509-wrong');
    const registered = selfSignedCertificate(tmp, id);
    await registry.create({
      deviceId: id,
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: registered.thumbprint } },
    });
    const other = selfSignedCertificate(tmp, id);
    const client = Client.fromConnectionString(`HostName=${stack.hub_host};DeviceId=${id};x509=true`, Mqtt);
    client.setOptions({ cert: other.cert, key: other.key });
    try {
      await assert.rejects(client.open(), (err) => {
        assert.equal(err.constructor.name, 'UnauthorizedError');
        return true;
      });
    } finally {
      await client.close().catch(() => {});
    }
    await registry.delete(id);
  });
});
