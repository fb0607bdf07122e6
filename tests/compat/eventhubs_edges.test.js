'use strict';
// Issue 15 (a), the edges of the AMQP endpoint, with rhea-promise (the AMQP client under
// @azure/event-hubs) where the SDK hides the wire, and the SDK where it shows what matters:
// AMQP over WebSocket beside MQTT's on /$iothub/websocket (by subprotocol); a bare AMQP header
// (no SASL, as the IoT SDKs connect) with a put-token answered on the "cbs"
// reply link (int status-code, correlation id echoed), and ten refused ones closing their
// connection; a claim that expires detaches its receiver
// with amqp:unauthorized-access; epochs steal a partition (the SDK's ReceiverDisconnectedError)
// and a sixth receiver without one is refused; senders and unknown nodes are refused; garbage and
// an oversized frame end only their own connection; while the customer key is disabled the
// endpoint refuses (new connections and open receivers), and serves again once it is enabled.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');

// Before the SDKs: it wraps tls.connect.
const { trustCa, rawTlsConnect, parse, ehToken, iotToken } = require('./lib/eventhubs.js');

const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const { Connection, ReceiverEvents, SenderEvents } = require('rhea-promise');
const WebSocket = require('ws');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const s = require('./lib/stack.js');
const { uniqueId, waitFor, createDevice, sleep } = require('./lib/iothub.js');
const { encryption } = require('./lib/device.js');

// The error a link ends with, or null if it stays open `ms`.
function linkError(link, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    const done = (context) => {
      clearTimeout(timer);
      const l = context.receiver || context.sender;
      resolve((l && l.error) || context.error || { condition: 'closed without error' });
    };
    link.on(ReceiverEvents.receiverError, done);
    link.on(ReceiverEvents.receiverClose, done);
    link.on(SenderEvents.senderError, done);
  });
}

describe('Event Hubs-compatible endpoint: the edges', () => {
  let stack;
  let eh;  // the parsed Event Hubs connection string
  let host;
  const connections = [];
  const clients = [];

  async function open(options = {}) {
    const c = new Connection({
      transport: 'tls', host: 'localhost', hostname: 'localhost', port: stack.amqp_port,
      reconnect: false, ...options,
    });
    await c.open();
    connections.push(c);
    return c;
  }

  // put-token on `connection` as the IoT SDKs do it (reply-to "cbs", a receiver without target).
  async function putToken(connection, token, audience) {
    const session = await connection.createSession();
    const receiver = await session.createReceiver({ source: { address: '$cbs' }, credit_window: 10 });
    const sender = await session.createAwaitableSender({ target: { address: '$cbs' } });
    const reply = new Promise((resolve) => receiver.on(ReceiverEvents.message, (ctx) => resolve(ctx.message)));
    const id = crypto.randomUUID();
    await sender.send({
      message_id: id, reply_to: 'cbs', to: '$cbs', body: token,
      application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience },
    });
    let timer;
    const m = await Promise.race([reply, new Promise((resolve) => { timer = setTimeout(() => resolve(null), 10_000); })]);
    clearTimeout(timer);  // a pending timer would keep the test's process alive
    assert.ok(m, 'a put-token answer');
    assert.equal(m.correlation_id, id);
    return m;
  }

  const receiverAddress = (group, partition) =>
    `${eh.EntityPath}/ConsumerGroups/${group}/Partitions/${partition}`;

  before(async () => {
    stack = await s.startStack();
    trustCa(fs.readFileSync(stack.ca_file, 'utf8'));
    eh = parse(stack.eventhub_connection_string);
    host = new URL(eh.Endpoint.replace('sb://', 'https://')).host;
    const id = uniqueId('edge');
    const json = await createDevice(stack, id);
    const device = Client.fromConnectionString(`HostName=${stack.hub_host};DeviceId=${id};` +
      `SharedAccessKey=${json.authentication.symmetricKey.primaryKey};GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
    await device.open();
    for (let i = 0; i < 10; i++) await device.sendEvent(new Message(`m${i}`));
    await device.close();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(connections.map((c) => c.close().catch(() => {})));
    if (stack) await s.stopStack(stack);
  });

  it('a bare AMQP header (no SASL) and an IoT-style put-token: int 200 on the "cbs" reply link', async () => {
    const c = await open();  // no username: rhea sends AMQP 0 1 0 0, no SASL
    const owner = parse(stack.service_connection_string);
    const m = await putToken(c, iotToken(owner.HostName, owner.SharedAccessKey, owner.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600), owner.HostName);
    assert.equal(m.application_properties['status-code'], 200);
    const bad = await putToken(c, iotToken(owner.HostName, Buffer.alloc(32).toString('base64'),
      owner.SharedAccessKeyName, Math.floor(Date.now() / 1000) + 600), owner.HostName);
    assert.equal(bad.application_properties['status-code'], 401);
    // Ten refused tokens on one connection close it: it cannot make the hub check signatures
    // without end.
    const c2 = await open();
    const wrong = iotToken(owner.HostName, Buffer.alloc(32).toString('base64'), owner.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600);
    for (let i = 0; i < 10; i++) {
      assert.equal((await putToken(c2, wrong, owner.HostName)).application_properties['status-code'], 401);
    }
    await waitFor(() => !c2.isOpen(), 10_000, 'the connection closed after ten refusals');
    assert.equal(c.isOpen(), true);
  });

  it('AMQP over WebSocket on /$iothub/websocket, chosen by the subprotocol AMQPWSB10', async () => {
    const c = await open({
      webSocketOptions: {
        webSocket: WebSocket,
        url: `wss://localhost:${stack.https_port}/$iothub/websocket`,
        protocol: ['AMQPWSB10'],
        options: { ca: fs.readFileSync(stack.ca_file, 'utf8') },
      },
    });
    const owner = parse(stack.service_connection_string);
    const m = await putToken(c, iotToken(owner.HostName, owner.SharedAccessKey, owner.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600), owner.HostName);
    assert.equal(m.application_properties['status-code'], 200);
  });

  it('a claim that expires detaches the receiver it authorized (amqp:unauthorized-access)', async () => {
    const c = await open({ username: eh.SharedAccessKeyName });  // SASL ANONYMOUS, as the SDK
    const address = receiverAddress('$Default', 0);
    const expiry = Math.floor(Date.now() / 1000) + 2;
    const m = await putToken(c, ehToken(`sb://${host}/${address}`, eh.SharedAccessKey, eh.SharedAccessKeyName, expiry),
      `sb://${host}/${address}`);
    assert.equal(m.application_properties['status-code'], 200);
    const receiver = await c.createReceiver({ source: { address }, credit_window: 0 });
    const t0 = Date.now();
    const err = await linkError(receiver, 10_000);
    assert.ok(err, 'the receiver was detached');
    assert.equal(err.condition, 'amqp:unauthorized-access');
    console.log(`detached ${Date.now() - t0} ms after attach (token valid ~2 s)`);
  });

  it('refuses receivers without a claim, senders to the entity, and unknown nodes', async () => {
    const c = await open({ username: eh.SharedAccessKeyName });
    const unauthorized = await c.createReceiver({ source: { address: receiverAddress('$Default', 1) } })
      .then((r) => linkError(r, 5000), (e) => e);
    assert.equal(unauthorized.condition, 'amqp:unauthorized-access');
    const audience = `sb://${host}/${eh.EntityPath}`;
    await putToken(c, ehToken(audience, eh.SharedAccessKey, eh.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600), audience);
    const sender = await c.createSender({ target: { address: eh.EntityPath } }).then((x) => linkError(x, 5000), (e) => e);
    assert.equal(sender.condition, 'amqp:not-allowed');
    const unknown = await c.createReceiver({ source: { address: 'no/such/node' } }).then((r) => linkError(r, 5000), (e) => e);
    assert.equal(unknown.condition, 'amqp:not-found');
    const partition = await c.createReceiver({ source: { address: receiverAddress('$Default', 99) } })
      .then((r) => linkError(r, 5000), (e) => e);
    assert.equal(partition.condition, 'com.microsoft:argument-out-of-range');
  });

  it('epochs: a higher one steals the partition, a lower one is refused, at most five without', async () => {
    const c = await open({ username: eh.SharedAccessKeyName });
    const audience = `sb://${host}/${eh.EntityPath}`;
    await putToken(c, ehToken(audience, eh.SharedAccessKey, eh.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600), audience);
    const address = receiverAddress('$Default', 2);
    const plain = [];
    for (let i = 0; i < 5; i++) plain.push(await c.createReceiver({ source: { address }, credit_window: 0 }));
    const sixth = await c.createReceiver({ source: { address }, credit_window: 0 }).then((r) => linkError(r, 5000), (e) => e);
    assert.equal(sixth.condition, 'amqp:resource-limit-exceeded');
    const stolen = plain.map((r) => linkError(r, 10_000));
    // The SDK's ownerLevel is the epoch.
    const client = new EventHubConsumerClient('$Default', stack.eventhub_connection_string,
      { retryOptions: { maxRetries: 0 } });
    clients.push(client);
    const errors = [];
    const sub = client.subscribe('2', { processEvents: async () => {}, processError: async (e) => { errors.push(e); } },
      { startPosition: earliestEventPosition, ownerLevel: 5 });
    for (const err of await Promise.all(stolen)) assert.equal(err && err.condition, 'amqp:link:stolen');
    const lower = await c.createReceiver({ source: { address }, credit_window: 0,
      properties: { 'com.microsoft:epoch': { type: 'long', value: 4 } } }).then((r) => linkError(r, 5000), (e) => e);
    assert.equal(lower && lower.condition, 'amqp:link:stolen');
    const noEpoch = await c.createReceiver({ source: { address }, credit_window: 0 }).then((r) => linkError(r, 5000), (e) => e);
    assert.equal(noEpoch && noEpoch.condition, 'amqp:link:stolen');
    // A higher epoch from elsewhere takes it from the SDK, which reports ReceiverDisconnectedError.
    const higher = await c.createReceiver({ source: { address }, credit_window: 0,
      properties: { 'com.microsoft:epoch': 9 } });
    await waitFor(() => errors.length > 0, 10_000, 'the SDK told of the stolen partition');
    assert.equal(errors[0].code, 'ReceiverDisconnectedError');
    await sub.close();
    await higher.close();
  });

  it('garbage and an oversized frame end their own connection only', async () => {
    const survivor = await open({ username: eh.SharedAccessKeyName });
    const audience = `sb://${host}/${eh.EntityPath}`;
    // What the hub wrote before it closed the connection, or null if it stayed open 15 s.
    const rawClose = (bytes) => new Promise((resolve) => {
      const sock = rawTlsConnect({ host: '127.0.0.1', port: stack.amqp_port, servername: 'localhost' },
        () => sock.write(bytes));
      const timer = setTimeout(() => { sock.destroy(); resolve(null); }, 15_000);
      const got = [];
      sock.on('data', (d) => got.push(d));
      sock.on('error', () => {});
      sock.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(got).toString('latin1')); });
    });
    assert.notEqual(await rawClose(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), null, 'HTTP on the AMQP port: closed');
    const header = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00]);
    // A frame header announcing 4 GB (and none of it sent) is refused from its first 8 bytes,
    // with the close's error, not held until the open deadline.
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xf0, 0x02, 0x00, 0x00, 0x00]);
    const answer = await rawClose(Buffer.concat([header, huge]));
    assert.ok(answer && answer.includes('amqp:connection:framing-error') &&
      answer.includes('4294967280 bytes is over the limit'), `a 4 GB frame: ${JSON.stringify(answer)}`);
    assert.notEqual(await rawClose(Buffer.concat([header, crypto.randomBytes(4096)])), null, 'random frames: closed');
    const m = await putToken(survivor, ehToken(audience, eh.SharedAccessKey, eh.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) + 600), audience);
    assert.equal(m.application_properties['status-code'], 200);
  });

  it('refuses while the customer key is disabled, and serves again once it is enabled', { timeout: 120_000 }, async () => {
    const client = new EventHubConsumerClient('$Default', stack.eventhub_connection_string,
      { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
    clients.push(client);
    assert.equal((await client.getEventHubProperties()).name, eh.EntityPath);
    const errors = [];
    const sub = client.subscribe('3', { processEvents: async () => {}, processError: async (e) => { errors.push(e); } },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
    await sleep(1000);
    const vault = s.stackVault(stack);
    const keys = s.keyClient(vault.url, vault.token, vault.caFile);
    const version = (await keys.getKey(stack.key_name)).properties.version;
    await keys.updateKeyProperties(stack.key_name, version, { enabled: false });
    try {
      await waitFor(async () => (await encryption(stack)).state === 'Inaccessible', 30_000, 'Inaccessible');
      await waitFor(() => errors.length > 0, 15_000, 'the open receiver refused');
      const fresh = new EventHubConsumerClient('$Default', stack.eventhub_connection_string,
        { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
      clients.push(fresh);
      await assert.rejects(fresh.getEventHubProperties());
    } finally {
      await sub.close();
      await keys.updateKeyProperties(stack.key_name, version, { enabled: true });
    }
    await waitFor(async () => (await encryption(stack)).state !== 'Inaccessible', 30_000, 'accessible again');
    const again = new EventHubConsumerClient('$Default', stack.eventhub_connection_string,
      { retryOptions: { maxRetries: 0, timeoutInMs: 10_000 } });
    clients.push(again);
    await waitFor(async () => again.getEventHubProperties().then(() => true, () => false), 30_000, 'served again');
  });
});
