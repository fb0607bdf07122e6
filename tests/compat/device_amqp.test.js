'use strict';
// Issue 15 (c): the unmodified azure-iot-device-amqp transport (Amqp on 5671 and AmqpWs on 443,
// which the SDK hard-codes) against the hub: telemetry read back through the read API, C2D
// received, completed and abandoned, the twin read, reported properties updated and read back by
// the service, a desired patch pushed, a direct method answered, a module's telemetry and twin;
// and the refusals (wrong signature, expired token, another device's addresses); one connection
// per device across MQTT and AMQP (the newer one takes over), and a device disabled in the
// registry loses its AMQP connection. Runs on the stack run_on_default_ports.sh started.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const { Client, Message } = require('azure-iot-device');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');
const h = require('./lib/iothub.js');
const s = require('./lib/stack.js');
const rhea = require('rhea');

const TEST = { timeout: 60_000 };

function inbox(client) {
  const box = { messages: [], waiters: [] };
  client.on('message', (m) => {
    const w = box.waiters.shift();
    if (w) w(m); else box.messages.push(m);
  });
  box.next = () => (box.messages.length > 0 ? Promise.resolve(box.messages.shift())
    : new Promise((resolve) => box.waiters.push(resolve)));
  return box;
}

// A device SAS token signed with `key` (base64), expiring at `se` (seconds).
function deviceToken(host, deviceId, key, se) {
  const sr = encodeURIComponent(`${host}/devices/${deviceId}`);
  const sig = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${se}`;
}

// Raw AMQP (rhea, no SASL, as the device SDK): put-token for `id`, then attach a sender to
// `other`'s telemetry and a receiver on its C2D; resolves with the two detach conditions.
function foreignAttach(stack, token, id, other) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no refusal')), 15_000);
    const conn = rhea.create_container().connect({
      host: 'localhost', port: stack.amqp_port ?? 5671, transport: 'tls', servername: 'localhost',
      ca: require('node:fs').readFileSync(stack.ca_file),
    });
    const conditions = [];
    const done = (c) => {
      conditions.push(c);
      if (conditions.length === 2) {
        clearTimeout(timer);
        conn.close();
        resolve(conditions);
      }
    };
    conn.on('connection_open', () => {
      const put = conn.open_sender('$cbs');
      const replies = conn.open_receiver({ source: { address: '$cbs' } });
      replies.on('message', (ctx) => {
        if (ctx.message.application_properties['status-code'] !== 200) {
          return reject(new Error(`put-token: ${JSON.stringify(ctx.message.application_properties)}`));
        }
        const send = conn.open_sender(`/devices/${other}/messages/events`);
        send.on('sender_error', (c) => done(c.sender.error.condition));
        const recv = conn.open_receiver(`/devices/${other}/messages/devicebound`);
        recv.on('receiver_error', (c) => done(c.receiver.error.condition));
      });
      put.on('sendable', () => {
        if (put.sent) return;
        put.sent = true;
        put.send({
          message_id: 'put-1', to: '$cbs', reply_to: 'cbs', body: token,
          application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken',
            name: encodeURIComponent(`${stack.hub_host}/devices/${id}`) },
        });
      });
    });
    conn.on('error', reject);
  });
}

for (const [name, Transport] of [['Amqp', Amqp], ['AmqpWs', AmqpWs]]) {
  describe(`azure-iot-device-amqp ${name}`, () => {
    const { stack, registry, service, open } = h.useRunningStack();

    it('sends telemetry with properties, read back through the read API', TEST, async () => {
      const id = h.uniqueId(`tel-${name}`);
      const d = (await registry.create({ deviceId: id })).responseBody;
      const client = await open(d, Transport);
      for (let n = 0; n < 20; n++) {
        const m = new Message(JSON.stringify({ n }));
        m.messageId = n === 0 ? '6d1e5c9a-3b7f-4c2e-9a1d-2f4b6c8e0a1b' : `m-${n}`;
        m.contentType = 'application/json';
        m.contentEncoding = 'utf-8';
        m.properties.add('seq', String(n));
        await client.sendEvent(m);  // resolves on the hub's accepted disposition
      }
      const got = await s.readBack(stack, id);
      assert.equal(got.length, 20);
      const first = got.find((m) => m.properties?.seq === '0' || m.applicationProperties?.seq === '0') ?? got[0];
      assert.ok(JSON.stringify(first).includes('6d1e5c9a-3b7f-4c2e-9a1d-2f4b6c8e0a1b'),
        `the uuid message id as canonical text: ${JSON.stringify(first)}`);
      assert.ok(JSON.stringify(got).includes('"m-19"'));
    });

    it('receives C2D, abandons one (it comes again) and completes it', TEST, async () => {
      const id = h.uniqueId(`c2d-${name}`);
      const d = (await registry.create({ deviceId: id })).responseBody;
      const client = await open(d, Transport);
      const box = inbox(client);
      const sent = await h.sendC2d(stack, id, 'abandon me', { 'iothub-messageid': 'ab-1', 'iothub-app-x': 'y' });
      assert.equal(sent.status, 204, sent.text);
      const first = await box.next();
      assert.equal(first.data.toString(), 'abandon me');
      assert.equal(first.messageId, 'ab-1');
      assert.equal(first.properties.getValue('x'), 'y');
      await client.abandon(first);
      const again = await box.next();
      assert.equal(again.messageId, 'ab-1');
      await client.complete(again);
      await h.waitFor(async () => {
        const twin = (await registry.get(id)).responseBody;
        return twin.cloudToDeviceMessageCount === 0;
      }, 5000, 'the queue to empty');
    });

    it('twin: get, reported patch read back, desired patch pushed', TEST, async () => {
      const id = h.uniqueId(`twin-${name}`);
      const d = (await registry.create({ deviceId: id })).responseBody;
      const client = await open(d, Transport);
      const twin = await client.getTwin();
      assert.equal(twin.properties.reported.$version, 1);
      await h.report(twin, { firmware: '1.2.3', mode: { eco: true } });
      const read = (await registry.getTwin(id)).responseBody;
      assert.equal(read.properties.reported.firmware, '1.2.3');
      assert.deepEqual(read.properties.reported.mode, { eco: true });

      const deltas = [];
      // The first event comes from the twin the SDK holds; the subscription is a PUT on the twin link.
      await h.onDesired(twin, (delta) => deltas.push(delta));
      await h.waitFor(() => deltas.length >= 1, 10_000, "the SDK's first desired event");
      await registry.updateTwin(id, { properties: { desired: { interval: 30 } } }, read.etag);
      await h.waitFor(() => deltas.some((p) => p.interval === 30), 10_000, 'the desired patch');
      assert.equal(deltas.find((p) => p.interval === 30).$version, 2);
      const again = await client.getTwin();
      assert.equal(again.properties.desired.interval, 30);
    });

    it('answers a direct method the service invokes', TEST, async () => {
      const id = h.uniqueId(`method-${name}`);
      const d = (await registry.create({ deviceId: id })).responseBody;
      const client = await open(d, Transport);
      client.onDeviceMethod('reboot', (req, res) => res.send(201, { delay: req.payload.delay, ok: true }));
      const r = await service.invokeDeviceMethod(id, { methodName: 'reboot', payload: { delay: 5 },
        responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 });
      assert.equal(r.result.status, 201);
      assert.deepEqual(r.result.payload, { delay: 5, ok: true });
    });

    it('refuses a wrong signature, an expired token, foreign addresses and oversize telemetry', TEST, async () => {
      const id = h.uniqueId(`bad-${name}`);
      const d = (await registry.create({ deviceId: id })).responseBody;
      const wrongKey = crypto.randomBytes(32).toString('base64');
      for (const cs of [
        h.connectionString(stack, id, wrongKey),
        `HostName=${stack.hub_host};DeviceId=${id};SharedAccessSignature=` +
          deviceToken(stack.hub_host, id, d.authentication.symmetricKey.primaryKey, Math.floor(Date.now() / 1000) - 60),
      ]) {
        const client = Client.fromConnectionString(cs, Transport);
        client.setRetryPolicy(new NoRetry());
        const err = await client.open().then(() => null, (e) => e);
        assert.ok(err, 'the hub accepted a bad credential');
        assert.equal(err.constructor.name, 'UnauthorizedError', `${err.constructor.name}: ${err.message}`);
        await client.close().catch(() => {});
      }
      // A device may attach only its own addresses: with device A's token, B's telemetry and
      // C2D links are detached at once with amqp:unauthorized-access.
      const other = h.uniqueId(`other-${name}`);
      await registry.create({ deviceId: other });
      const se = Math.floor(Date.now() / 1000) + 600;
      const token = deviceToken(stack.hub_host, id, d.authentication.symmetricKey.primaryKey, se);
      const refusals = await foreignAttach(stack, token, id, other);
      assert.deepEqual(refusals, ['amqp:unauthorized-access', 'amqp:unauthorized-access']);
      // The right key still works.
      const good = await open(d, Transport);
      await good.sendEvent(new Message('fine'));
      // Telemetry over 256 KiB is rejected (amqp:link:message-size-exceeded), the link stays.
      const big = await good.sendEvent(new Message(Buffer.alloc(300 * 1024, 'x'))).then(() => null, (e) => e);
      assert.equal(big && big.constructor.name, 'MessageTooLargeError', big && big.message);
      await good.sendEvent(new Message('still fine'));
    });
  });
}

describe('a module over AMQP', () => {
  const { stack, registry, service, open } = h.useRunningStack();

  it('ModuleClient over Amqp: telemetry, its own twin, a module method', TEST, async () => {
    const deviceId = h.uniqueId('amqp-mod');
    await registry.create({ deviceId });
    const m = (await registry.addModule({ deviceId, moduleId: 'filter' })).responseBody;
    const client = await open({ deviceId, authentication: m.authentication }, Amqp, { moduleId: 'filter' });
    await client.sendEvent(new Message('from the module'));
    const twin = await client.getTwin();
    await h.report(twin, { stage: 'filter' });
    const read = (await registry.getModuleTwin(deviceId, 'filter')).responseBody;
    assert.equal(read.properties.reported.stage, 'filter');
    client.onMethod('ping', (req, res) => res.send(200, { pong: true }));
    const r = await service.invokeDeviceMethod(deviceId, 'filter', { methodName: 'ping', payload: null,
      responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 });
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.result.payload, { pong: true });
    const got = await s.readBack(stack, deviceId);
    assert.equal(got.length, 1);
    assert.ok(JSON.stringify(got[0]).includes('filter'), JSON.stringify(got[0]));
  });
});

// Registers `id` as an X.509 (selfSigned) device with a new certificate made in `dir`, and opens
// a client (Amqp unless said) that presents it.
async function x509Client(stack, registry, dir, id, Transport = Amqp) {
  const cert = h.selfSignedCertificate(dir, id);
  await registry.create({ deviceId: id,
    authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: cert.thumbprint } } });
  const client = Client.fromConnectionString(`HostName=${stack.hub_host};DeviceId=${id};x509=true`, Transport);
  client.setOptions({ cert: cert.cert, key: cert.key });
  client.setRetryPolicy(new NoRetry());
  await client.open();
  return client;
}

describe('X.509 devices over AMQP (TLS client certificate, no $cbs)', () => {
  const { stack, registry } = h.useRunningStack();
  const os = require('node:os');
  const fs = require('node:fs');
  const path = require('node:path');

  it('a registered certificate sends telemetry and reads its twin; another one is refused', TEST, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-amqp-x509-'));
    try {
      const id = h.uniqueId('x509-amqp');
      const client = await x509Client(stack, registry, tmp, id);
      try {
        await client.sendEvent(new Message('from a certificate'));
        const twin = await client.getTwin();
        assert.equal(twin.properties.reported.$version, 1);
      } finally {
        await client.close();
      }
      const got = await s.readBack(stack, id);
      assert.equal(got.length, 1);

      const other = h.selfSignedCertificate(tmp, id);
      const wrong = Client.fromConnectionString(`HostName=${stack.hub_host};DeviceId=${id};x509=true`, Amqp);
      wrong.setOptions({ cert: other.cert, key: other.key });
      wrong.setRetryPolicy(new NoRetry());
      await wrong.open().catch(() => {});
      const err = await wrong.sendEvent(new Message('no')).then(() => null, (e) => e);
      assert.equal(err?.constructor.name, 'UnauthorizedError', String(err));
      await wrong.close().catch(() => {});
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// iothub-connection-auth-method and -auth-generation-id on events read through the Event Hubs
// endpoint (@azure/event-hubs), as IoT Hub sets them: the device's way in (a certificate over
// AMQP and MQTT; SAS over AMQP, MQTT and HTTPS) and its identity's generationId.
describe('authentication annotations through the Event Hubs endpoint', () => {
  const { stack, registry, open } = h.useRunningStack();
  const os = require('node:os');
  const fs = require('node:fs');
  const path = require('node:path');
  const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');

  it('an X.509 device reads as x509Certificate, SAS devices as sas, each with its generationId', TEST, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'coffre-amqp-auth-'));
    const expected = new Map();  // device id -> auth type
    try {
      for (const [name, Transport] of [['amqp', Amqp], ['mqtt', Mqtt]]) {
        const x509 = h.uniqueId(`auth-x509-${name}`);
        const certClient = await x509Client(stack, registry, tmp, x509, Transport);
        await certClient.sendEvent(new Message(`x509 over ${name}`));
        await certClient.close();
        expected.set(x509, 'x509Certificate');
      }

      for (const [name, Transport] of [['amqp', Amqp], ['mqtt', Mqtt]]) {
        const id = h.uniqueId(`auth-sas-${name}`);
        const d = (await registry.create({ deviceId: id })).responseBody;
        const client = await open(d, Transport);
        await client.sendEvent(new Message(`sas over ${name}`));
        expected.set(id, 'sas');
      }
      const https = h.uniqueId('auth-sas-https');
      const d = (await registry.create({ deviceId: https })).responseBody;
      const token = deviceToken(stack.hub_host, https, d.authentication.symmetricKey.primaryKey,
        Math.floor(Date.now() / 1000) + 600);
      const posted = await s.rawRequest({ url: `https://localhost:${stack.https_port ?? 443}`, method: 'POST',
        path: `/devices/${https}/messages/events?${h.API}`, caFile: stack.ca_file, body: 'sas over https',
        headers: { authorization: token } });
      assert.equal(posted.status, 204, posted.text);
      expected.set(https, 'sas');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const generations = new Map();
    for (const id of expected.keys()) generations.set(id, (await registry.get(id)).responseBody.generationId);

    const consumer = new EventHubConsumerClient('$Default', stack.eventhub_connection_string,
      { retryOptions: { maxRetries: 0, timeoutInMs: 15_000 } });
    const seen = new Map();
    const sub = consumer.subscribe({
      processEvents: async (events) => {
        for (const e of events) {
          const id = e.systemProperties['iothub-connection-device-id'];
          if (expected.has(id)) seen.set(id, e.systemProperties);
        }
      },
      processError: async () => {},
    }, { startPosition: earliestEventPosition, maxBatchSize: 500, maxWaitTimeInSeconds: 1 });
    try {
      await h.waitFor(() => seen.size === expected.size, 30_000, 'the devices\' events');
    } finally {
      await sub.close();
      await consumer.close();
    }
    for (const [id, type] of expected) {
      const sp = seen.get(id);
      assert.deepEqual(JSON.parse(sp['iothub-connection-auth-method']),
        { scope: 'device', type, issuer: 'iothub', acceptingIpFilterRule: null }, id);
      assert.ok(generations.get(id), `${id} has a generationId`);
      assert.equal(sp['iothub-connection-auth-generation-id'], generations.get(id), id);
    }
  });
});

describe('one connection per device across MQTT and AMQP', () => {
  const { registry, open } = h.useRunningStack();

  function disconnected(client) {
    const state = { gone: false };
    client.on('disconnect', () => { state.gone = true; });
    client.on('error', () => {});
    return state;
  }

  it('an AMQP connection takes the device over from MQTT, and MQTT takes it back', TEST, async () => {
    const id = h.uniqueId('both');
    const d = (await registry.create({ deviceId: id })).responseBody;
    const mqtt = await open(d, Mqtt);
    const mqttState = disconnected(mqtt);
    await mqtt.sendEvent(new Message('over mqtt'));

    const amqp = await open(d, Amqp);
    const amqpState = disconnected(amqp);
    const started = Date.now();
    await amqp.sendEvent(new Message('over amqp'));  // its first device link takes the identity
    await h.waitFor(() => mqttState.gone, 5000, 'the MQTT session to be closed');
    console.log(`MQTT session closed ${Date.now() - started} ms after the AMQP device's first link`);
    assert.equal(amqpState.gone, false);

    const back = await open(d, Mqtt);
    await h.waitFor(() => amqpState.gone, 5000, 'the AMQP connection to be closed');
    await back.sendEvent(new Message('mqtt again'));
  });

  it('disabling the device closes its AMQP connection', TEST, async () => {
    const id = h.uniqueId('disable');
    const d = (await registry.create({ deviceId: id })).responseBody;
    const amqp = await open(d, AmqpWs);
    const state = disconnected(amqp);
    await amqp.sendEvent(new Message('before'));
    const current = (await registry.get(id)).responseBody;
    await registry.update({ ...current, status: 'disabled' });
    await h.waitFor(() => state.gone, 5000, 'the AMQP connection to be closed');
    const again = Client.fromConnectionString(h.connectionString(s.runningStack(), id, d.authentication.symmetricKey.primaryKey), AmqpWs);
    again.setRetryPolicy(new NoRetry());
    const err = await again.open().then(() => null, (e) => e);
    assert.equal(err?.constructor.name, 'UnauthorizedError', String(err));
    await again.close().catch(() => {});
  });
});

// Issue 15: while the hub's customer key is disabled, both IoT SDKs over AMQP are refused (the
// open device client's telemetry, the open service client's send, fresh connections of both),
// and the same client objects work again by themselves once the key is enabled. One disabled
// window for both (the wait for the key's state is the slow part).
// The AMQP error condition an IoT SDK error carries (azure-iot-amqp-base keeps the frame's error
// as `amqpError`: a described list whose first value is the condition), or undefined.
function conditionOf(err) {
  const e = err?.amqpError;
  return e?.condition ?? e?.value?.[0]?.value;
}

describe('AMQP while the customer key is disabled', () => {
  const { stack, registry, open } = h.useRunningStack();
  const { Client: ServiceClient, Amqp: ServiceAmqp } = require('azure-iothub');
  const { encryption } = require('./lib/device.js');

  it('the device and the service client are refused, and served again by themselves once it is enabled', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const id = h.uniqueId('cmk-amqp');
    const d = (await registry.create({ deviceId: id })).responseBody;
    const device = await open(d, Amqp);
    device.on('error', () => {});
    await device.sendEvent(new Message('before'));
    const service = ServiceClient.fromConnectionString(stack.service_connection_string, ServiceAmqp);
    await service.open();
    await service.send(id, new Message('c2d before'));
    const fresh = [];
    const vault = s.stackVault(stack);
    const keys = s.keyClient(vault.url, vault.token, vault.caFile);
    const version = (await keys.getKey(stack.key_name)).properties.version;
    await keys.updateKeyProperties(stack.key_name, version, { enabled: false });
    const disabledAt = Date.now();
    try {
      await h.waitFor(async () => (await encryption(stack)).state === 'Inaccessible', 30_000, 'Inaccessible');
      console.log(`Inaccessible ${Date.now() - disabledAt} ms after the key was disabled`);
      const telemetry = await device.sendEvent(new Message('while disabled')).then(() => null, (e) => e);
      assert.ok(telemetry, 'telemetry refused');
      console.log(`device telemetry: ${telemetry.constructor.name}: ${telemetry.message} (${conditionOf(telemetry)})`);
      assert.equal(conditionOf(telemetry), 'amqp:connection:forced', String(telemetry));
      const c2d = await service.send(id, new Message('c2d while disabled')).then(() => null, (e) => e);
      assert.ok(c2d, 'C2D send refused');
      console.log(`service send: ${c2d.constructor.name}: ${c2d.message} (${conditionOf(c2d)})`);
      assert.equal(conditionOf(c2d), 'amqp:connection:forced', String(c2d));

      const freshDevice = Client.fromConnectionString(
        h.connectionString(stack, id, d.authentication.symmetricKey.primaryKey), Amqp);
      freshDevice.setRetryPolicy(new NoRetry());
      freshDevice.on('error', () => {});
      fresh.push(freshDevice);
      const deviceOpen = await freshDevice.open().then(() => null, (e) => e);
      assert.ok(deviceOpen, 'a fresh device connection refused');
      console.log(`fresh device open: ${deviceOpen.constructor.name}: ${deviceOpen.message} (${conditionOf(deviceOpen)})`);
      assert.equal(conditionOf(deviceOpen), 'amqp:connection:forced', String(deviceOpen));
      const freshService = ServiceClient.fromConnectionString(stack.service_connection_string, ServiceAmqp);
      fresh.push(freshService);
      const serviceOpen = await freshService.open().then(() => null, (e) => e);
      assert.ok(serviceOpen, 'a fresh service connection refused');
      console.log(`fresh service open: ${serviceOpen.constructor.name}: ${serviceOpen.message} (${conditionOf(serviceOpen)})`);
      assert.equal(conditionOf(serviceOpen), 'amqp:connection:forced', String(serviceOpen));
    } finally {
      await keys.updateKeyProperties(stack.key_name, version, { enabled: true });
    }
    const enabledAt = Date.now();
    await h.waitFor(async () => (await encryption(stack)).state !== 'Inaccessible', 30_000, 'accessible again');
    console.log(`accessible ${Date.now() - enabledAt} ms after the key was enabled`);
    // The same objects, no new client: each reconnects on its next call.
    await h.waitFor(() => device.sendEvent(new Message('after')).then(() => true, () => false), 30_000,
      'the device sends again');
    await h.waitFor(() => service.send(id, new Message('c2d after')).then(() => true, () => false), 30_000,
      'the service client sends again');
    await Promise.all([service.close(), ...fresh.map((c) => c.close())].map((p) => p.catch(() => {})));
    console.log(`the disabled-key test took ${Date.now() - started} ms`);
  });
});
