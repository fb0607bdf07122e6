'use strict';
// Issue 14 through the unmodified service SDK (azure-iothub): Registry.getTwin / updateTwin with
// the twin's etag as If-Match (a stale etag is the SDK's InvalidEtagError, 412),
// Client.invokeDeviceMethod (a round trip to the device SDK over MQTT/TLS, a device offline: 404
// DeviceNotOnline, a device that never answers: 504 within responseTimeoutInSeconds) and
// Registry.createQuery over 250 devices: a WHERE on tags read page by page with nextAsTwin until
// hasMoreResults is false, a WHERE on reported properties, and a COUNT() ... GROUP BY.
// Runs on the stack run_on_default_ports.sh started (azure-iothub's REST client always uses 443).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { Mqtt } = require('azure-iot-device-mqtt');
const h = require('./lib/iothub.js');

const DEVICES = 250;
const PAGE = 40;
const BATCH = 25;  // registry calls in flight at once

describe('twins, methods and queries driven by azure-iothub', () => {
  const { stack, registry, service, open } = h.useRunningStack();
  const report = h.report;

  async function device(prefix) {
    const id = h.uniqueId(prefix);
    return (await h.unthrottled(() => registry.create({ deviceId: id }))).responseBody;
  }

  const connect = (identity) => open(identity, Mqtt);

  it('getTwin and updateTwin with If-Match: tags and desired, a stale etag is 412', { timeout: 30_000 }, async () => {
    const d = await device('twin');
    const client = await connect(d);
    await report(await client.getTwin(), { firmware: '3.1', battery: { level: 80 } });

    const twin = (await registry.getTwin(d.deviceId)).responseBody;
    assert.equal(twin.deviceId, d.deviceId);
    assert.equal(typeof twin.etag, 'string');
    assert.notEqual(twin.etag, '*');
    assert.equal(twin.properties.reported.firmware, '3.1');
    assert.deepEqual(twin.properties.reported.battery, { level: 80 });
    assert.equal(twin.properties.reported.$version, 2);
    assert.equal(twin.properties.desired.$version, 1);
    assert.equal(twin.connectionState, 'Connected');

    const seen = [];
    await h.onDesired(await client.getTwin(), (delta) => seen.push(delta));
    const patch = { tags: { site: 'lyon', rack: { row: 3 } }, properties: { desired: { interval: 30 } } };
    const updated = (await registry.updateTwin(d.deviceId, patch, twin.etag)).responseBody;
    assert.deepEqual(updated.tags, { site: 'lyon', rack: { row: 3 } });
    assert.equal(updated.properties.desired.interval, 30);
    assert.equal(updated.properties.desired.$version, 2);
    assert.notEqual(updated.etag, twin.etag);
    await h.waitFor(() => seen.some((p) => p.interval === 30), 5000, 'the desired notification');

    // The etag read before the update is stale now: Azure's 412 PreconditionFailed.
    const stale = await registry.updateTwin(d.deviceId, { tags: { site: 'nice' } }, twin.etag)
      .then(() => assert.fail('a stale etag was accepted'), (err) => err);
    assert.equal(stale.constructor.name, 'InvalidEtagError', String(stale));
    assert.equal(stale.response.statusCode, 412);
    assert.match(JSON.parse(stale.responseBody).Message, /^ErrorCode:PreconditionFailed;/);

    // The SDK's Twin object carries its etag: update() after get() is accepted, a null
    // removes a property, and the twin read again agrees.
    const fresh = (await registry.getTwin(d.deviceId)).responseBody;
    assert.equal(fresh.etag, updated.etag);
    await fresh.update({ tags: { rack: null, owner: 'ops' }, properties: { desired: { interval: 60 } } });
    const last = (await registry.getTwin(d.deviceId)).responseBody;
    assert.deepEqual(last.tags, { site: 'lyon', owner: 'ops' });
    assert.equal(last.properties.desired.interval, 60);
    assert.equal(last.properties.desired.$version, 3);
    assert.equal(last.etag, fresh.etag);
    // The reported section is the device's: the service's patch leaves it as it was.
    assert.equal(last.properties.reported.firmware, '3.1');

    // Bad input through the SDK: a desired section over Azure's 32 KB is ArgumentError (400),
    // an unknown device is DeviceNotFoundError (404); the twin is as it was.
    const huge = await registry.updateTwin(d.deviceId,
      { properties: { desired: { blob: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'x'.repeat(3000)])) } } }, '*').then(() => null, (err) => err);
    assert.equal(huge?.constructor.name, 'ArgumentError', String(huge));
    assert.equal(huge.response.statusCode, 400);
    const unknown = await registry.getTwin(`${d.deviceId}-nobody`).then(() => null, (err) => err);
    assert.equal(unknown?.constructor.name, 'DeviceNotFoundError', String(unknown));
    const unchanged = (await registry.getTwin(d.deviceId)).responseBody;
    assert.equal(unchanged.etag, last.etag);
    assert.equal(unchanged.properties.desired.blob, undefined);
  });

  it('invokeDeviceMethod: a round trip, an offline device (404), a silent one (504)', { timeout: 30_000 }, async () => {
    const d = await device('method');
    const client = await connect(d);
    client.onDeviceMethod('reboot', (req, res) =>
      res.send(201, { accepted: req.payload.delay, method: req.methodName }));
    client.onDeviceMethod('silent', () => {});

    const ok = await service.invokeDeviceMethod(d.deviceId,
      { methodName: 'reboot', payload: { delay: 5 }, responseTimeoutInSeconds: 10,
        // The SDK subscribes to the method topic in the background: the hub waits for it.
        connectTimeoutInSeconds: 10 });
    assert.equal(ok.result.status, 201);
    assert.deepEqual(ok.result.payload, { accepted: 5, method: 'reboot' });
    assert.equal(ok.message.statusCode, 200);

    const unknown = await service.invokeDeviceMethod(`${d.deviceId}-nobody`, { methodName: 'reboot' })
      .then(() => assert.fail('an unknown device answered'), (err) => err);
    assert.equal(unknown.constructor.name, 'DeviceNotFoundError', String(unknown));
    assert.equal(unknown.response.statusCode, 404);

    const offline = await device('offline');
    const notOnline = await service.invokeDeviceMethod(offline.deviceId, { methodName: 'reboot' })
      .then(() => assert.fail('an offline device answered'), (err) => err);
    assert.equal(notOnline.response.statusCode, 404);
    assert.match(JSON.parse(notOnline.responseBody).Message, /^ErrorCode:DeviceNotOnline;/);

    const start = Date.now();
    const silent = await service.invokeDeviceMethod(d.deviceId,
      { methodName: 'silent', responseTimeoutInSeconds: 5 })
      .then(() => assert.fail('a silent device answered'), (err) => err);
    const took = Date.now() - start;
    console.log(`silent device: 504 after ${took} ms (responseTimeoutInSeconds 5)`);
    assert.equal(silent.constructor.name, 'GatewayTimeoutError', String(silent));
    assert.equal(silent.response.statusCode, 504);
    assert.match(JSON.parse(silent.responseBody).Message, /^ErrorCode:GatewayTimeout/);
    assert.ok(took >= 4500 && took < 15_000, `504 after ${took} ms`);

    // The same connection still answers afterwards.
    const again = await service.invokeDeviceMethod(d.deviceId, { methodName: 'reboot', payload: { delay: 1 } });
    assert.equal(again.result.status, 201);

    // A response timeout under Azure's 5 s is the SDK's ArgumentError (400).
    const tooShort = await service.invokeDeviceMethod(d.deviceId, { methodName: 'reboot', responseTimeoutInSeconds: 2 })
      .then(() => assert.fail('a 2 s timeout was accepted'), (err) => err);
    assert.equal(tooShort.constructor.name, 'ArgumentError', String(tooShort));

    // connectTimeoutInSeconds: the call waits for the offline device to connect and subscribe.
    const pending = service.invokeDeviceMethod(offline.deviceId,
      { methodName: 'wake', payload: 'up', connectTimeoutInSeconds: 15, responseTimeoutInSeconds: 10 });
    await h.sleep(500);
    const late = await connect(offline);
    late.onDeviceMethod('wake', (req, res) => res.send(200, `woken ${req.payload}`));
    const woken = await pending;
    assert.equal(woken.result.status, 200);
    assert.equal(woken.result.payload, 'woken up');
  });

  it(`createQuery over ${DEVICES} devices: paged WHERE on tags and on reported, GROUP BY`, { timeout: 60_000 }, async () => {
    const run = h.uniqueId('q');
    const groups = ['north', 'south', 'east'];
    const ids = Array.from({ length: DEVICES }, (_, i) => `${run}-${String(i).padStart(3, '0')}`);
    let started = Date.now();
    const identities = new Map();
    for (let i = 0; i < ids.length; i += BATCH) {
      await Promise.all(ids.slice(i, i + BATCH).map(async (id) => {
        identities.set(id, (await h.unthrottled(() => registry.create({ deviceId: id }))).responseBody);
      }));
    }
    const created = Date.now() - started;
    started = Date.now();
    for (let i = 0; i < ids.length; i += BATCH) {
      await Promise.all(ids.slice(i, i + BATCH).map((id, j) =>
        registry.updateTwin(id, { tags: { run, group: groups[(i + j) % 3], n: i + j } }, '*')));
    }
    const tagged = Date.now() - started;
    console.log(`${DEVICES} devices created in ${created} ms, tagged in ${tagged} ms`);

    // Every device connects over MQTT and reports its firmware: one in five runs 2.0.
    started = Date.now();
    const version = (i) => (i % 5 === 2 ? `2.0-${run}` : `1.0-${run}`);
    const reporters = ids.filter((_, i) => i % 5 === 2);
    for (let i = 0; i < ids.length; i += BATCH) {
      await Promise.all(ids.slice(i, i + BATCH).map(async (id, j) => {
        const client = await h.openClient(stack, identities.get(id), Mqtt);
        try {
          await report(await client.getTwin(), { fw: { version: version(i + j) } });
        } finally {
          await client.close();
        }
      }));
    }
    console.log(`${DEVICES} devices connected and reported over MQTT in ${Date.now() - started} ms`);

    // WHERE on tags, PAGE at a time, until hasMoreResults is false.
    started = Date.now();
    const query = registry.createQuery(`SELECT * FROM devices WHERE tags.run = '${run}'`, PAGE);
    const seen = [];
    let pages = 0;
    while (query.hasMoreResults) {
      const page = (await query.nextAsTwin()).result;
      pages++;
      assert.ok(page.length <= PAGE, `a page of ${page.length}`);
      for (const twin of page) {
        assert.equal(twin.tags.run, run);
        assert.equal(typeof twin.etag, 'string');
        assert.equal(typeof twin.update, 'function');  // the SDK's Twin objects
        seen.push(twin.deviceId);
      }
      assert.ok(pages <= 20, 'the query keeps returning continuation tokens');
    }
    console.log(`tags query: ${seen.length} twins in ${pages} pages of ${PAGE} in ${Date.now() - started} ms`);
    assert.equal(new Set(seen).size, seen.length, 'no twin twice');
    assert.deepEqual([...seen].sort(), [...ids].sort());
    assert.ok(pages >= Math.ceil(DEVICES / PAGE), `${pages} pages`);

    // A number compared, AND/IN over tags: one page, hasMoreResults false at once.
    const some = registry.createQuery(`SELECT * FROM devices WHERE tags.run = '${run}' AND ` +
      `tags.n < 20 AND tags.group IN ['north', 'east']`);
    const somePage = (await some.next()).result;
    assert.equal(some.hasMoreResults, false);
    assert.deepEqual(somePage.map((t) => t.tags.n).sort((a, b) => a - b),
      [...Array(20).keys()].filter((n) => n % 3 !== 1));

    // WHERE on reported properties over the same 250, 20 at a time.
    const reported = registry.createQuery(
      `SELECT * FROM devices WHERE properties.reported.fw.version = '2.0-${run}'`, 20);
    const found = [];
    let reportedPages = 0;
    while (reported.hasMoreResults) {
      const page = (await reported.nextAsTwin()).result;
      reportedPages++;
      assert.ok(page.length <= 20, `a page of ${page.length}`);
      for (const twin of page) {
        assert.equal(twin.properties.reported.fw.version, `2.0-${run}`);
        found.push(twin.deviceId);
      }
      assert.ok(reportedPages <= 20, 'the query keeps returning continuation tokens');
    }
    assert.equal(found.length, DEVICES / 5);
    assert.deepEqual(found.sort(), reporters.sort());
    assert.ok(reportedPages >= 3, `${reportedPages} pages`);

    // COUNT() ... GROUP BY.
    const counts = registry.createQuery(`SELECT tags.group AS grp, COUNT() AS devices FROM devices ` +
      `WHERE tags.run = '${run}' GROUP BY tags.group`);
    const rows = (await counts.next()).result;
    assert.equal(counts.hasMoreResults, false);
    const byGroup = Object.fromEntries(rows.map((r) => [r.grp, r.devices]));
    assert.deepEqual(byGroup, { north: 84, south: 83, east: 83 });
    const versions = registry.createQuery('SELECT properties.reported.fw.version, COUNT() AS n ' +
      `FROM devices WHERE tags.run = '${run}' GROUP BY properties.reported.fw.version`);
    const byVersion = Object.fromEntries((await versions.next()).result.map((r) => [r.version, r.n]));
    assert.deepEqual(byVersion, { [`1.0-${run}`]: 200, [`2.0-${run}`]: 50 });

    // Malformed query text: the SDK's ArgumentError (400).
    const bad = await registry.createQuery('SELECT * FROM devices WHERE').next()
      .then(() => assert.fail('malformed query accepted'), (err) => err);
    assert.equal(bad.constructor.name, 'ArgumentError', String(bad));
    assert.equal(bad.response.statusCode, 400);
  });
});
