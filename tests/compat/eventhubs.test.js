'use strict';
// Issue 15 (a): the Event Hubs-compatible endpoint with the unmodified @azure/event-hubs 6.0.4.
// Devices send telemetry over MQTT (the device SDK); EventHubConsumerClient reads it back with
// the stack's Event Hubs-compatible connection string, over AMQPS (the port comes from the
// connection string's Endpoint) and over AMQP over WebSocket (the HTTPS port's
// /$servicebus/websocket): from the earliest event, a sequence number, an enqueued time and the
// latest, in two consumer groups at once, with properties and system properties; the management
// reads match what was sent; the IoT Hub connection string's redirect works as Azure's sample
// uses it; bad signatures (both conventions), expired tokens and unknown entities, partitions
// and consumer groups fail with the SDK errors Azure's would.
// The stack's CA is trusted by wrapping tls.connect (which rhea, ws and mqtt.js all call).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

// Before the SDKs: it wraps tls.connect.
const { trustCa, parse, ehToken, iotToken } = require('./lib/eventhubs.js');

const {
  EventHubConsumerClient, earliestEventPosition, latestEventPosition,
} = require('@azure/event-hubs');
const { Connection, ReceiverEvents, isAmqpError } = require('rhea-promise');
const WebSocket = require('ws');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');
const s = require('./lib/stack.js');
const { uniqueId, waitFor, service, createDevice, sleep } = require('./lib/iothub.js');

const DEVICES = 4;
const TOTAL = Number(process.env.COFFRE_EH_MESSAGES || 1000);
const IN_FLIGHT = 20;
const READ_TIMEOUT_MS = 120_000;
const NO_RETRY = { retryOptions: { maxRetries: 0, timeoutInMs: 15_000 } };

// What the device sent as message `seq` of device number `d`.
function telemetry(d, seq) {
  const m = new Message(JSON.stringify({ d, seq }));
  m.messageId = `m-${d}-${seq}`;
  m.correlationId = `c-${seq}`;
  m.contentType = 'application/json';
  m.contentEncoding = 'utf-8';
  m.properties.add('seq', String(seq));
  m.properties.add('note', 'a b&c=d/é');
  return m;
}

async function sendAll(client, d, count) {
  let next = 0;
  const lane = async () => {
    while (next < count) await client.sendEvent(telemetry(d, next++));
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

// Reads from every partition from `startPosition` until `want(events)` holds; returns the events
// by partition.
async function readUntil(client, startPosition, want, what) {
  const events = [];
  const errors = [];
  const sub = client.subscribe({
    processEvents: async (batch) => { events.push(...batch); },
    processError: async (err) => { errors.push(err); },
  }, { startPosition, maxBatchSize: 100, maxWaitTimeInSeconds: 1 });
  try {
    await waitFor(() => errors.length > 0 || want(events), READ_TIMEOUT_MS, what);
  } finally {
    await sub.close();
  }
  assert.deepEqual(errors.map((e) => `${e.code}: ${e.message}`), []);
  return events;
}

function checkEvent(e, deviceIds) {
  const { d, seq } = e.body;
  assert.equal(e.messageId, `m-${d}-${seq}`);
  assert.equal(e.correlationId, `c-${seq}`);
  assert.equal(e.contentType, 'application/json');
  assert.deepEqual(e.properties, { seq: String(seq), note: 'a b&c=d/é' });
  const sp = e.systemProperties;
  assert.equal(sp['iothub-connection-device-id'], deviceIds[d]);
  assert.equal(sp['iothub-message-source'], 'Telemetry');
  assert.equal(sp.contentEncoding, 'utf-8');
  assert.equal(typeof sp['iothub-enqueuedtime'], 'number');
  assert.match(sp['iothub-connection-auth-method'], /"type":"sas"/);
  assert.ok(e.enqueuedTimeUtc instanceof Date);
  assert.equal(typeof e.sequenceNumber, 'number');
  assert.equal(e.offset, String(e.sequenceNumber));
}

// The stack's connection string with another Endpoint port or entity, or a token.
function variant(cs, { port, entity, key, sas } = {}) {
  const p = parse(cs);
  const host = new URL(p.Endpoint.replace('sb://', 'https://')).hostname;
  let out = `Endpoint=sb://${host}:${port ?? new URL(p.Endpoint.replace('sb://', 'https://')).port}/;`;
  if (sas) out += `SharedAccessSignature=${sas};`;
  else out += `SharedAccessKeyName=${p.SharedAccessKeyName};SharedAccessKey=${key ?? p.SharedAccessKey};`;
  return `${out}EntityPath=${entity ?? p.EntityPath}`;
}

// The IoT Hub connection string -> Event Hubs connection string conversion of Azure's sample
// (iothubConnectionString.ts): SASL PLAIN with an IoT-style token, a receiver on
// messages/events, and the redirect's info. The port is taken from the info (the sample
// assumes 5671).
async function convertIotHubConnectionString(iotHubCs, port) {
  const { HostName, SharedAccessKeyName, SharedAccessKey } = parse(iotHubCs);
  const [hubName] = HostName.split('.');
  const token = iotToken(`${HostName}/messages/events`, SharedAccessKey, SharedAccessKeyName,
    Math.ceil(Date.now() / 1000 + 300));
  const connection = new Connection({
    transport: 'tls', host: 'localhost', hostname: HostName, port, reconnect: false,
    username: `${SharedAccessKeyName}@sas.root.${hubName}`, password: token,
  });
  await connection.open();
  try {
    const receiver = await connection.createReceiver({
      source: { address: `amqps://${HostName}/messages/events/$management` },
    });
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no redirect within 10 s')), 10_000);
      receiver.on(ReceiverEvents.receiverError, (context) => {
        clearTimeout(timer);
        const error = context.receiver && context.receiver.error;
        if (!isAmqpError(error) || error.condition !== 'amqp:link:redirect') return reject(error);
        const entity = error.info.address.match(/:\d+\/(.*)\/\$management/i);
        if (!entity) return reject(new Error(`no entity in ${error.info.address}`));
        resolve(`Endpoint=sb://${error.info.hostname}:${error.info.port}/;EntityPath=${entity[1]};` +
          `SharedAccessKeyName=${SharedAccessKeyName};SharedAccessKey=${SharedAccessKey}`);
      });
    });
  } finally {
    await connection.close().catch(() => {});
  }
}

describe('Event Hubs-compatible endpoint (@azure/event-hubs 6.0.4)', () => {
  let stack;
  let cs;
  const deviceIds = [];
  const devices = [];
  const clients = [];
  let sentFrom;  // the time before the first message was sent

  const consumer = (group, connectionString = cs, options = {}) => {
    const c = new EventHubConsumerClient(group, connectionString, options);
    clients.push(c);
    return c;
  };

  before(async () => {
    stack = await s.startStack();
    trustCa(fs.readFileSync(stack.ca_file, 'utf8'));
    cs = stack.eventhub_connection_string;
    assert.ok(cs, 'connection.json has eventhub_connection_string');
    assert.equal(parse(cs).EntityPath, stack.eventhub_name);
    assert.equal(new URL(parse(cs).Endpoint.replace('sb://', 'https://')).port, String(stack.amqp_port));
    for (let d = 0; d < DEVICES; d++) {
      const id = uniqueId(`eh${d}`);
      const json = await createDevice(stack, id);
      deviceIds.push(id);
      const client = Client.fromConnectionString(
        `HostName=${stack.hub_host};DeviceId=${id};SharedAccessKey=${json.authentication.symmetricKey.primaryKey};` +
        `GatewayHostName=localhost:${stack.mqtt_port}`, Mqtt);
      client.setRetryPolicy(new NoRetry());
      await client.open();
      devices.push(client);
    }
    const res = await service(stack)('PUT', '/telemetry/consumergroups/second', {});
    assert.ok(res.status === 200 || res.status === 201, res.text);
    sentFrom = new Date(Date.now() - 5);
    const t0 = Date.now();
    await Promise.all(devices.map((c, d) => sendAll(c, d, TOTAL / DEVICES)));
    const ms = Date.now() - t0;
    console.log(`ingest: ${TOTAL} messages over MQTT in ${ms} ms (${Math.round(TOTAL * 1000 / ms)}/s)`);
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await Promise.all(devices.map((c) => c.close().catch(() => {})));
    if (stack) await s.stopStack(stack);
  });

  it('getEventHubProperties and getPartitionProperties match what was sent', async () => {
    const c = consumer('$Default');
    const props = await c.getEventHubProperties();
    assert.equal(props.name, stack.eventhub_name);
    assert.deepEqual(props.partitionIds, ['0', '1', '2', '3']);
    assert.ok(props.createdOn instanceof Date);
    let total = 0;
    for (const id of props.partitionIds) {
      const p = await c.getPartitionProperties(id);
      assert.equal(p.partitionId, id);
      assert.equal(p.eventHubName, stack.eventhub_name);
      if (p.isEmpty) {
        assert.equal(p.lastEnqueuedSequenceNumber, -1);
        continue;
      }
      total += p.lastEnqueuedSequenceNumber - p.beginningSequenceNumber + 1;
      assert.equal(p.lastEnqueuedOffset, String(p.lastEnqueuedSequenceNumber));
      assert.ok(p.lastEnqueuedOnUtc >= sentFrom);
    }
    assert.equal(total, TOTAL);
  });

  it(`reads all ${TOTAL} messages from the earliest, in two consumer groups at once`, async () => {
    const t0 = Date.now();
    const [a, b] = await Promise.all([
      readUntil(consumer('$Default'), earliestEventPosition, (ev) => ev.length >= TOTAL, '$Default'),
      readUntil(consumer('SECOND'), earliestEventPosition, (ev) => ev.length >= TOTAL, 'second'),
    ]);
    const ms = Date.now() - t0;
    console.log(`read: 2 x ${TOTAL} events over AMQPS in ${ms} ms (${Math.round(2 * TOTAL * 1000 / ms)}/s)`);
    for (const events of [a, b]) {
      assert.equal(events.length, TOTAL);
      const ids = new Set(events.map((e) => e.messageId));
      assert.equal(ids.size, TOTAL);
      for (const e of events) checkEvent(e, deviceIds);
      // Per device, in the order sent (one device's messages share a partition).
      for (let d = 0; d < DEVICES; d++) {
        const seqs = events.filter((e) => e.body.d === d).map((e) => e.body.seq);
        assert.deepEqual(seqs, Array.from({ length: TOTAL / DEVICES }, (_, i) => i));
      }
    }
  });

  it('starts after a sequence number (exclusive, or inclusive), and after an enqueued time', async () => {
    const c = consumer('$Default');
    let busiest = null;
    for (const id of await c.getPartitionIds()) {
      const p = await c.getPartitionProperties(id);
      if (!p.isEmpty && (!busiest || p.lastEnqueuedSequenceNumber > busiest.lastEnqueuedSequenceNumber)) busiest = p;
    }
    const pid = busiest.partitionId;
    const k = Math.floor(busiest.lastEnqueuedSequenceNumber / 2);
    const readOne = async (startPosition) => {
      let first = null;
      const errors = [];
      const sub = c.subscribe(pid, {
        processEvents: async (batch) => { if (!first && batch.length) first = batch[0]; },
        processError: async (err) => { errors.push(err); },
      }, { startPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 });
      try {
        await waitFor(() => first || errors.length, 30_000, 'the first event');
      } finally {
        await sub.close();
      }
      assert.deepEqual(errors, []);
      return first;
    };
    assert.equal((await readOne({ sequenceNumber: k })).sequenceNumber, k + 1);
    const inclusive = await readOne({ sequenceNumber: k, isInclusive: true });
    assert.equal(inclusive.sequenceNumber, k);
    assert.equal((await readOne({ offset: String(k) })).sequenceNumber, k + 1);
    const after = await readOne({ enqueuedOn: inclusive.enqueuedTimeUtc });
    assert.ok(after.enqueuedTimeUtc > inclusive.enqueuedTimeUtc);
    assert.ok(after.sequenceNumber > k);
  });

  it('from the latest: only what is sent after the receivers attached', async () => {
    const c = consumer('$Default');
    const events = [];
    const started = new Set();
    const errors = [];
    const sub = c.subscribe({
      processInitialize: async (ctx) => { started.add(ctx.partitionId); },
      processEvents: async (batch) => { events.push(...batch); },
      processError: async (err) => { errors.push(err); },
    }, { startPosition: latestEventPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 });
    try {
      await waitFor(() => started.size === 4, 30_000, 'four partition receivers');
      await sleep(1500);  // the receivers' attaches reach the hub after processInitialize
      const m = telemetry(0, 99999);
      await devices[0].sendEvent(m);
      await waitFor(() => events.length >= 1, 30_000, 'the new event');
      await sleep(500);
    } finally {
      await sub.close();
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(events.map((e) => e.messageId), ['m-0-99999']);
  });

  it("the IoT Hub connection string's redirect leads to the same events", async () => {
    const converted = await convertIotHubConnectionString(stack.service_connection_string, stack.amqp_port);
    assert.equal(parse(converted).EntityPath, stack.eventhub_name);
    const c = consumer('$Default', converted);
    const props = await c.getEventHubProperties();
    assert.equal(props.name, stack.eventhub_name);
    const events = await readUntil(c, earliestEventPosition, (ev) => ev.length >= 10, 'redirected reads');
    assert.ok(events.length >= 10);
  });

  it('reads over AMQP over WebSocket (/$servicebus/websocket on the HTTPS port)', async () => {
    const c = consumer('$Default', variant(cs, { port: stack.https_port }),
      { webSocketOptions: { webSocket: WebSocket } });
    const props = await c.getEventHubProperties();
    assert.deepEqual(props.partitionIds, ['0', '1', '2', '3']);
    const events = await readUntil(c, earliestEventPosition, (ev) => ev.length >= TOTAL, 'WebSocket reads');
    assert.ok(events.length >= TOTAL);
    for (const e of events.filter((x) => x.body.seq !== 99999)) checkEvent(e, deviceIds);
  });

  it('refuses wrong signatures (both conventions), expired tokens, unknown entities, partitions and groups', async () => {
    const p = parse(cs);
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    // Event Hubs style, wrong key.
    await assert.rejects(consumer('$Default', variant(cs, { key: wrongKey }), NO_RETRY).getEventHubProperties(),
      (err) => err.code === 'UnauthorizedError');
    // Event Hubs style, right key, expired.
    const host = new URL(p.Endpoint.replace('sb://', 'https://')).host;
    const expired = ehToken(`sb://${host}/${p.EntityPath}`, p.SharedAccessKey, p.SharedAccessKeyName,
      Math.floor(Date.now() / 1000) - 3600);
    await assert.rejects(consumer('$Default', variant(cs, { sas: expired }), NO_RETRY).getEventHubProperties(),
      (err) => err.code === 'UnauthorizedError');
    // IoT Hub style (the redirect's PLAIN), wrong key: the SASL exchange fails.
    const owner = parse(stack.service_connection_string);
    await assert.rejects(convertIotHubConnectionString(
      `HostName=${owner.HostName};SharedAccessKeyName=${owner.SharedAccessKeyName};SharedAccessKey=${wrongKey}`,
      stack.amqp_port));
    // A valid token still works after all that, and other clients were not affected.
    const ok = consumer('$Default', variant(cs, { sas: ehToken(`sb://${host}/${p.EntityPath}`, p.SharedAccessKey,
      p.SharedAccessKeyName, Math.floor(Date.now() / 1000) + 600) }), NO_RETRY);
    assert.equal((await ok.getEventHubProperties()).name, stack.eventhub_name);
    // Unknown partition and entity.
    await assert.rejects(ok.getPartitionProperties('99'), (err) => err.code === 'ArgumentOutOfRangeError');
    await assert.rejects(consumer('$Default', variant(cs, { entity: 'nosuchhub' }), NO_RETRY).getEventHubProperties(),
      (err) => err.code === 'MessagingEntityNotFoundError');
    // Unknown consumer group: the receiver's attach is refused.
    const errors = [];
    const sub = consumer('nosuchgroup', cs, NO_RETRY).subscribe('0', {
      processEvents: async () => {},
      processError: async (err) => { errors.push(err); },
    }, { startPosition: earliestEventPosition });
    try {
      await waitFor(() => errors.length > 0, 30_000, 'the refusal');
    } finally {
      await sub.close();
    }
    assert.equal(errors[0].code, 'MessagingEntityNotFoundError');
  });
});
