'use strict';
// Cluster mode with two hub nodes over one store, with the unmodified device SDK: `coffre up
// --cluster` runs hub nodes 0 and 1 (connection.json's `hub_nodes`) on the Patroni-managed
// PostgreSQL. A device on each node streams at once, and each node reads back what the other
// acknowledged. The customer key disabled on the vault turns both nodes Inaccessible within a
// second (each polls the vault itself); enabled again, both serve. A device connecting through
// node 1 while connected through node 0 has its older connection closed within a second (as
// Azure IoT Hub closes the older of two). A direct method (100 kB each way) and a desired-property
// patch sent through node 0 reach the device's session on node 1. An Event Hubs receiver with a
// higher epoch (the SDK's ownerLevel) through node 1 takes the partition from one through node
// 0. Then node 1 is killed with
// SIGKILL mid-stream: its device reconnects to node 0 and goes on, every message acknowledged
// by either node reads back once, and `coffre up` starts node 1 again.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

const { trustCa } = require('./lib/eventhubs.js');  // before the SDKs: it wraps tls.connect
const s = require('./lib/stack.js');
const { expectStoredOnce } = require('./lib/cluster.js');
const { onDesired, waitFor } = require('./lib/iothub.js');
const { openDevice, streamMessages } = require('./lib/device.js');
const { Message } = require('azure-iot-device');
const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');

const LANES = 8;            // sends in flight at once, per device
const PER_DEVICE = 300;     // acknowledged messages per device in the first case
const KILL_AFTER = 200;     // acknowledged messages on node 1 before it is killed
const AFTER_KILL = 200;     // acknowledged messages through node 0 after the device moved
const STREAM_LIMIT_MS = 60_000;
const LIMIT_MS = 1000;      // the hub obeys the key within a second

// The stack's view of hub node `i`: its ports in place of the top-level ones.
function node(stack, i) {
  const n = stack.hub_nodes[i];
  return { ...stack, mqtt_port: n.mqtt_port, https_port: n.https_port, amqp_port: n.amqp_port };
}

// A device's connection string through hub node `i` (the SDK's MQTT goes to GatewayHostName).
function through(stack, i, deviceId, key) {
  return `HostName=${stack.hub_host};DeviceId=${deviceId};SharedAccessKey=${key};` +
    `GatewayHostName=localhost:${stack.hub_nodes[i].mqtt_port}`;
}

async function state(stack, i) {
  const res = await s.rawRequest({ url: `https://localhost:${stack.hub_nodes[i].https_port}`,
    path: '/$coffre/encryption', caFile: stack.ca_file });
  assert.equal(res.status, 200);
  return res.json.state;
}

// Polls every 20 ms until node `i` reports `wanted`; the time it took.
async function untilState(stack, i, wanted, t0, limitMs) {
  for (;;) {
    if ((await state(stack, i)) === wanted) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) throw new Error(`node ${i} not ${wanted} within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('cluster mode: two hub nodes over one store', () => {
  let stack;
  let second;  // { id, key }: a device of this test, beside the demo device
  before(async () => {
    stack = await s.startStack(['--cluster']);
    second = { id: 'node-1-device', key: crypto.randomBytes(32).toString('base64') };
    const res = await s.rawRequest({ url: `https://localhost:${stack.https_port}`, method: 'PUT',
      path: `/devices/${second.id}?api-version=2021-04-12`, caFile: stack.ca_file,
      headers: { authorization: s.serviceToken(stack.service_connection_string),
                 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId: second.id, authentication: { type: 'sas',
        symmetricKey: { primaryKey: second.key, secondaryKey: second.key } } }) });
    assert.equal(res.status, 200, res.text);
  }, { timeout: 180_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 90_000 });

  it('a device on each node: both acknowledged, each node reads what the other stored', { timeout: 120_000 }, async () => {
    assert.equal(stack.hub_nodes.length, 2, 'connection.json lists two hub nodes');
    assert.equal(stack.hub_nodes[0].mqtt_port, stack.mqtt_port, 'node 0 is the top-level hub');
    assert.equal(stack.hub_nodes[0].pid, stack.pids.hub);
    const demoKey = /SharedAccessKey=([^;]+)/.exec(stack.device_connection_string)[1];
    const onNode0 = await openDevice(stack, through(stack, 0, 'demo-device', demoKey));
    const onNode1 = await openDevice(stack, through(stack, 1, second.id, second.key));
    const started = Date.now();
    const stop = (acked) => () => acked() >= PER_DEVICE || Date.now() - started > STREAM_LIMIT_MS;
    let a = 0;
    let b = 0;
    const [sentA, sentB] = await Promise.all([
      streamMessages(onNode0, { prefix: 'both-a', lanes: LANES, stop: stop(() => a), onAck: (n) => { a = n; } }),
      streamMessages(onNode1, { prefix: 'both-b', lanes: LANES, stop: stop(() => b), onAck: (n) => { b = n; } }),
    ]);
    await onNode0.close();
    await onNode1.close();
    assert.equal(sentA.failure, null, `a send through node 0 failed: ${sentA.failure}`);
    assert.equal(sentB.failure, null, `a send through node 1 failed: ${sentB.failure}`);
    assert.ok(a >= PER_DEVICE && b >= PER_DEVICE, `acknowledged: ${a} through node 0, ${b} through node 1`);
    // Each node's read API serves the other node's messages.
    expectStoredOnce(await s.readBack(node(stack, 0), second.id), sentB.acked, 'both-b');
    expectStoredOnce(await s.readBack(node(stack, 1), 'demo-device'), sentA.acked, 'both-a');
  });

  it('the customer key disabled: both nodes Inaccessible within a second, and back', { timeout: 60_000 }, async () => {
    const vault = s.stackVault(stack);
    const keys = s.keyClient(vault.url, vault.token, vault.caFile);
    const version = (await keys.getKey(stack.key_name)).properties.version;
    const t0 = Date.now();
    await keys.updateKeyProperties(stack.key_name, version, { enabled: false });
    const [ms0, ms1] = await Promise.all([untilState(stack, 0, 'Inaccessible', t0, 10_000),
      untilState(stack, 1, 'Inaccessible', t0, 10_000)]);
    console.log(`# key disabled: node 0 Inaccessible after ${ms0} ms, node 1 after ${ms1} ms`);
    const t1 = Date.now();
    await keys.updateKeyProperties(stack.key_name, version, { enabled: true });
    const [back0, back1] = await Promise.all([untilState(stack, 0, 'Accessible', t1, 10_000),
      untilState(stack, 1, 'Accessible', t1, 10_000)]);
    console.log(`# key enabled: node 0 Accessible after ${back0} ms, node 1 after ${back1} ms`);
    for (const [what, ms] of [['node 0 off', ms0], ['node 1 off', ms1], ['node 0 on', back0], ['node 1 on', back1]]) {
      assert.ok(ms <= LIMIT_MS, `${what} took ${ms} ms`);
    }
  });

  it('the device connecting through node 1 closes its connection through node 0 within a second', { timeout: 60_000 }, async () => {
    const onNode0 = await openDevice(stack, through(stack, 0, second.id, second.key));
    let closedAt = 0;
    onNode0.on('disconnect', () => { if (!closedAt) closedAt = Date.now(); });
    // Timed from the start of the new connection (TLS, CONNECT and the takeover): an upper bound.
    const startedAt = Date.now();
    const onNode1 = await openDevice(stack, through(stack, 1, second.id, second.key));
    while (!closedAt && Date.now() - startedAt < 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(closedAt > 0, 'node 0 closed the older connection');
    const ms = closedAt - startedAt;
    console.log(`# takeover: node 0 closed the older connection ${ms} ms after the new one began`);
    assert.ok(ms <= LIMIT_MS, `the older connection closed after ${ms} ms`);
    const m = new Message('after the takeover');
    m.messageId = 'takeover-0';
    await onNode1.sendEvent(m);  // the new connection serves
    await onNode1.close();
    await onNode0.close().catch(() => {});
  });

  it('a direct method and a desired patch through node 0 reach the device on node 1', { timeout: 60_000 }, async () => {
    const device = await openDevice(stack, through(stack, 1, second.id, second.key));
    device.onDeviceMethod('reboot', (req, res) =>
      res.send(201, { asked: req.payload.blob.length, echo: 'y'.repeat(100_000) }));
    const twin = await device.getTwin();
    const deltas = [];
    await onDesired(twin, (delta) => deltas.push(delta));
    const call = (method, path, body) => s.rawRequest({
      url: `https://localhost:${stack.hub_nodes[0].https_port}`, method, caFile: stack.ca_file,
      path: `${path}?api-version=2021-04-12`, body: JSON.stringify(body),
      headers: { authorization: s.serviceToken(stack.service_connection_string),
                 'content-type': 'application/json' } });
    const t0 = Date.now();
    // The connect timeout covers the SDK's method subscription, made in the background.
    const res = await call('POST', `/twins/${second.id}/methods`, { methodName: 'reboot',
      payload: { blob: 'x'.repeat(100_000) }, responseTimeoutInSeconds: 20, connectTimeoutInSeconds: 10 });
    const methodMs = Date.now() - t0;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.status, 201);
    assert.equal(res.json.payload.asked, 100_000);
    assert.equal(res.json.payload.echo.length, 100_000);
    const t1 = Date.now();
    const patched = await call('PATCH', `/twins/${second.id}`, { properties: { desired: { interval: 42 } } });
    assert.equal(patched.status, 200, patched.text);
    await waitFor(() => deltas.some((d) => d.interval === 42), 10_000, 'the desired patch on node 1');
    console.log(`# through node 0 to the device on node 1: method answered in ${methodMs} ms, ` +
      `desired patch told in ${Date.now() - t1} ms`);
    await device.close();
  });

  it('an epoch receiver through node 1 takes the partition from one through node 0', { timeout: 60_000 }, async () => {
    trustCa(fs.readFileSync(stack.ca_file, 'utf8'));  // the Event Hubs SDK's TLS (rhea)
    const port0 = `:${stack.hub_nodes[0].amqp_port}/`;
    assert.ok(stack.eventhub_connection_string.includes(port0), stack.eventhub_connection_string);
    const through1 = stack.eventhub_connection_string.replace(port0, `:${stack.hub_nodes[1].amqp_port}/`);
    const subscribe = (cs, ownerLevel, errors) => {
      const client = new EventHubConsumerClient('$Default', cs, { retryOptions: { maxRetries: 0 } });
      const sub = client.subscribe('0', { processEvents: async () => {},
        processError: async (e) => { errors.push(e); } }, { startPosition: earliestEventPosition, ownerLevel });
      return { client, sub };
    };
    const lost = [];
    const first = subscribe(stack.eventhub_connection_string, 1, lost);
    await new Promise((r) => setTimeout(r, 1500));  // its link attached (were it not: refused below)
    const kept = [];
    const t0 = Date.now();
    const second = subscribe(through1, 2, kept);
    await waitFor(() => lost.length > 0, 10_000, 'the receiver through node 0 told it lost the partition');
    console.log(`# epoch 2 through node 1: the epoch-1 receiver through node 0 lost the partition ${Date.now() - t0} ms later`);
    assert.equal(lost[0].code, 'ReceiverDisconnectedError', String(lost[0]));
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(kept.map(String), [], 'the epoch-2 receiver keeps reading');
    for (const { client, sub } of [first, second]) {
      await sub.close();
      await client.close();
    }
  });

  it('node 1 killed with SIGKILL: its device goes on through node 0, nothing acknowledged lost', { timeout: 150_000 }, async () => {
    const killedPid = stack.hub_nodes[1].pid;
    const client = await openDevice(stack, through(stack, 1, second.id, second.key));
    let killed = false;
    // Sends in flight when the node dies fail: expected, so the failure is not looked at.
    const before = await streamMessages(client, {
      prefix: 'moved', lanes: LANES, stop: () => killed,
      onAck: (count) => {
        if (count >= KILL_AFTER && !killed) {
          killed = true;
          process.kill(killedPid, 'SIGKILL');  // with sends still in flight on the other lanes
        }
      },
    });
    await client.close().catch(() => {});
    const moved = await openDevice(stack, through(stack, 0, second.id, second.key));
    let added = 0;
    const started = Date.now();
    const after = await streamMessages(moved, {
      prefix: 'moved', lanes: LANES, first: before.next,
      stop: () => added >= AFTER_KILL || Date.now() - started > STREAM_LIMIT_MS,
      onAck: (count) => { added = count; },
    });
    await moved.close();
    assert.equal(after.failure, null, `a send through node 0 failed: ${after.failure}`);
    expectStoredOnce(await s.readBack(stack, second.id), [...before.acked, ...after.acked], 'moved');

    // `coffre up` starts the dead node again, on its ports, and it serves.
    execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), ['up', '--dir', stack.dir],
      { stdio: 'pipe', timeout: 120_000 });
    const now = JSON.parse(fs.readFileSync(path.join(stack.dir, 'connection.json'), 'utf8'));
    assert.notEqual(now.hub_nodes[1].pid, killedPid, 'coffre up started node 1 again');
    assert.equal(now.hub_nodes[1].mqtt_port, stack.hub_nodes[1].mqtt_port);
    const back = await openDevice(stack, through(stack, 1, second.id, second.key));
    await back.close();
  });
});
