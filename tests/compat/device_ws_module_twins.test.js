'use strict';
// Issue 14, the device side over MQTT over WebSocket and for modules, with the unmodified SDKs:
// azure-iot-device-mqtt's MqttWs (wss://host:443/$iothub/websocket, which the SDK hard-codes)
// reads its twin, reports a patch the service SDK reads back, is notified of a desired patch
// made with Registry.updateTwin (and sees it in its next get), and answers a direct method
// invoked with Client.invokeDeviceMethod. A ModuleClient (MQTT/TLS and MqttWs) reads its module
// twin, reports a patch read back by Registry.getModuleTwin, gets a desired patch made with
// updateModuleTwin, and answers a module method.
// Runs on the stack run_on_default_ports.sh started.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const h = require('./lib/iothub.js');

const TEST = { timeout: 30_000 };

describe('twins and methods over MQTT/WebSocket and for modules', () => {
  const { registry, service, open } = h.useRunningStack();
  const report = h.report;

  it('MqttWs: twin get, reported patch read back, desired patch notified and read', TEST, async () => {
    const id = h.uniqueId('ws-twin');
    const d = (await registry.create({ deviceId: id })).responseBody;
    const client = await open(d, MqttWs);

    const twin = await client.getTwin();
    assert.equal(twin.properties.reported.$version, 1);
    assert.equal(twin.properties.desired.$version, 1);
    await report(twin, { firmware: '4.0.1', sensors: { temp: true, hum: false } });
    const read = (await registry.getTwin(id)).responseBody;
    assert.equal(read.properties.reported.firmware, '4.0.1');
    assert.deepEqual(read.properties.reported.sensors, { temp: true, hum: false });
    assert.equal(read.properties.reported.$version, 2);
    assert.equal(typeof read.properties.reported.$metadata.firmware.$lastUpdated, 'string');

    // A null removes a reported property.
    await report(twin, { sensors: { hum: null } });
    const trimmed = (await registry.getTwin(id)).responseBody;
    assert.deepEqual(trimmed.properties.reported.sensors, { temp: true });

    // A reported patch over Azure's 32 KB is refused on the twin response topic (the SDK's
    // error), and the connection goes on: the twin is as it was.
    const huge = await report(twin, { blob: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'x'.repeat(3000)])) }).then(() => null, (err) => err);
    assert.ok(huge instanceof Error, 'an oversize reported patch was accepted');
    console.log(`oversize reported patch: ${huge.constructor.name}: ${huge.message}`);
    const same = (await registry.getTwin(id)).responseBody;
    assert.equal(same.etag, trimmed.etag);
    assert.equal(same.properties.reported.blob, undefined);

    const deltas = [];
    await h.onDesired(twin, (delta) => deltas.push(delta));
    await h.waitFor(() => deltas.length >= 1, 5000, "the SDK's first desired event");
    // A reported patch changes the twin's etag too (as Azure's): the etag read before the last
    // report is stale, the one read after it is current.
    assert.notEqual(trimmed.etag, read.etag);
    const patch = { properties: { desired: { mode: 'eco', limits: { max: 9 } } } };
    const stale = await registry.updateTwin(id, patch, read.etag).then(() => null, (err) => err);
    assert.equal(stale?.response?.statusCode, 412, String(stale));
    await registry.updateTwin(id, patch, trimmed.etag);
    await h.waitFor(() => deltas.some((p) => p.mode === 'eco'), 5000, 'the desired notification');
    const delta = deltas.find((p) => p.mode === 'eco');
    assert.deepEqual(delta.limits, { max: 9 });
    assert.equal(delta.$version, 2);
    const again = await client.getTwin();
    assert.equal(again.properties.desired.mode, 'eco');
    assert.equal(again.properties.desired.$version, 2);
  });

  it('MqttWs: a direct method round trip', TEST, async () => {
    const id = h.uniqueId('ws-method');
    const d = (await registry.create({ deviceId: id })).responseBody;
    const client = await open(d, MqttWs);
    client.onDeviceMethod('setLed', (req, res) => res.send(200, { led: req.payload.color }));
    const r = await service.invokeDeviceMethod(id,
      { methodName: 'setLed', payload: { color: 'green' }, responseTimeoutInSeconds: 10,
        // The SDK subscribes to the method topic in the background: the hub waits for it.
        connectTimeoutInSeconds: 10 });
    assert.equal(r.result.status, 200);
    assert.deepEqual(r.result.payload, { led: 'green' });
  });

  for (const [name, Transport] of [['MQTT/TLS', Mqtt], ['MqttWs', MqttWs]]) {
    it(`module twin over ${name}: get, reported patch read back, desired notified, module method`, TEST, async () => {
      const deviceId = h.uniqueId('mod-host');
      await registry.create({ deviceId });
      const moduleId = 'sensor';
      const m = (await registry.addModule({ deviceId, moduleId })).responseBody;
      assert.equal(m.moduleId, moduleId);
      const client = await open({ deviceId, authentication: m.authentication }, Transport, { moduleId });

      const twin = await client.getTwin();
      assert.equal(twin.properties.reported.$version, 1);
      await report(twin, { pipeline: 'v2', rate: 12.5 });
      const read = (await registry.getModuleTwin(deviceId, moduleId)).responseBody;
      assert.equal(read.deviceId, deviceId);
      assert.equal(read.moduleId, moduleId);
      assert.equal(read.properties.reported.pipeline, 'v2');
      assert.equal(read.properties.reported.rate, 12.5);
      assert.equal(read.properties.reported.$version, 2);
      // The device's own twin is untouched by its module's report.
      const deviceTwin = (await registry.getTwin(deviceId)).responseBody;
      assert.equal(deviceTwin.properties.reported.pipeline, undefined);

      const deltas = [];
      await h.onDesired(twin, (delta) => deltas.push(delta));
      await h.waitFor(() => deltas.length >= 1, 5000, "the SDK's first desired event");
      const updated = (await registry.updateModuleTwin(deviceId, moduleId,
        { tags: { role: 'edge' }, properties: { desired: { threshold: 3 } } }, read.etag)).responseBody;
      assert.deepEqual(updated.tags, { role: 'edge' });
      await h.waitFor(() => deltas.some((p) => p.threshold === 3), 5000, 'the module desired notification');
      const stale = await registry.updateModuleTwin(deviceId, moduleId, { tags: { role: 'x' } }, read.etag)
        .then(() => assert.fail('a stale etag was accepted'), (err) => err);
      assert.equal(stale.response.statusCode, 412);

      client.onMethod('calibrate', (req, res) => res.send(200, { module: moduleId, got: req.payload }));
      const r = await service.invokeDeviceMethod(deviceId, moduleId,
        { methodName: 'calibrate', payload: [1, 2], responseTimeoutInSeconds: 10,
        // The SDK subscribes to the method topic in the background: the hub waits for it.
        connectTimeoutInSeconds: 10 });
      assert.equal(r.result.status, 200);
      assert.deepEqual(r.result.payload, { module: moduleId, got: [1, 2] });

      // The module twin is found by a query over devices.modules, its tags and reported values.
      const q = registry.createQuery(`SELECT * FROM devices.modules WHERE deviceId = '${deviceId}' ` +
        "AND tags.role = 'edge' AND properties.reported.pipeline = 'v2'");
      const rows = (await q.nextAsTwin()).result;
      assert.equal(q.hasMoreResults, false);
      assert.deepEqual(rows.map((t) => [t.deviceId, t.moduleId]), [[deviceId, moduleId]]);
    });
  }
});
