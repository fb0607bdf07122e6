'use strict';
// coffre-hub's service API driven by the unmodified azure-iothub SDK (Registry), on the stack
// run_on_default_ports.sh started (COFFRE_STACK_DIR; its CA trusted via NODE_EXTRA_CA_CERTS).
// A device the SDK creates then connects with azure-iot-device over MQTT and sends telemetry.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { Registry } = require('azure-iothub');
const { Client, ModuleClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Http } = require('azure-iot-device-http');
const s = require('./lib/stack.js');

const TEST = { timeout: 60_000 };

function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;
}

describe('coffre-hub service API driven by azure-iothub', () => {
  let stack;
  let registry;

  before(() => {
    const dir = process.env.COFFRE_STACK_DIR;
    assert.ok(dir, 'COFFRE_STACK_DIR must name a running stack (see run_on_default_ports.sh)');
    stack = JSON.parse(fs.readFileSync(path.join(dir, 'connection.json'), 'utf8'));
    registry = Registry.fromConnectionString(stack.service_connection_string);
  });

  it('creates, gets, lists, updates and deletes a device', TEST, async () => {
    const id = uniqueId('svc');
    const created = (await registry.create({ deviceId: id, status: 'enabled' })).responseBody;
    assert.equal(created.deviceId, id);
    assert.equal(created.authentication.type, 'sas');
    assert.equal(Buffer.from(created.authentication.symmetricKey.primaryKey, 'base64').length, 32);
    assert.ok(created.etag);
    assert.equal(created.connectionState, 'Disconnected');

    const got = (await registry.get(id)).responseBody;
    assert.equal(got.etag, created.etag);
    const listed = (await registry.list()).responseBody;
    assert.ok(listed.some((d) => d.deviceId === id));

    await assert.rejects(registry.create({ deviceId: id }), (err) => {
      assert.equal(err.constructor.name, 'DeviceAlreadyExistsError');
      return true;
    });

    const updated = (await registry.update({ deviceId: id, status: 'disabled', statusReason: 'test' })).responseBody;
    assert.equal(updated.status, 'disabled');
    assert.notEqual(updated.etag, created.etag);
    assert.equal(updated.authentication.symmetricKey.primaryKey, created.authentication.symmetricKey.primaryKey);

    await registry.delete(id);
    await assert.rejects(registry.get(id), (err) => {
      assert.equal(err.constructor.name, 'DeviceNotFoundError');
      return true;
    });
  });

  it('a device the service created sends telemetry over MQTT', TEST, async () => {
    const id = uniqueId('dev');
    const device = (await registry.create({ deviceId: id })).responseBody;
    const cs = `HostName=${stack.hub_host};DeviceId=${id};SharedAccessKey=${device.authentication.symmetricKey.primaryKey}`;
    const client = Client.fromConnectionString(cs, Mqtt);
    await client.open();
    try {
      for (let n = 0; n < 5; n++) {
        await client.sendEvent(new Message(JSON.stringify({ n })));
      }
      const seen = (await registry.get(id)).responseBody;
      assert.equal(seen.connectionState, 'Connected');
    } finally {
      await client.close();
    }
    await registry.delete(id);
  });

  it('a device sends telemetry over the HTTPS device API and it reads back', TEST, async () => {
    const id = uniqueId('http');
    const device = (await registry.create({ deviceId: id })).responseBody;
    const cs = `HostName=${stack.hub_host};DeviceId=${id};SharedAccessKey=${device.authentication.symmetricKey.primaryKey}`;
    const client = Client.fromConnectionString(cs, Http);
    try {
      for (let n = 0; n < 3; n++) {
        const message = new Message(JSON.stringify({ over: 'https', n }));
        message.messageId = `http-${n}`;
        message.properties.add('transport', 'http');
        await client.sendEvent(message);
      }
    } finally {
      await client.close();  // stops the client's token renewal timer
    }
    // A batch (application/vnd.microsoft.iothub.json): each entry one message.
    const batchClient = Client.fromConnectionString(cs, Http);
    try {
      const batch = [3, 4, 5].map((n) => {
        const message = new Message(JSON.stringify({ over: 'https', n }));
        message.properties.add('transport', 'http-batch');
        return message;
      });
      await batchClient.sendEventBatch(batch);
    } finally {
      await batchClient.close();
    }
    const back = await s.readBack(stack, id);
    assert.equal(back.length, 6);
    back.forEach((m, n) => {
      if (n < 3) assert.equal(m.systemProperties.messageId, `http-${n}`);
      assert.equal(m.properties.transport, n < 3 ? 'http' : 'http-batch');
      assert.deepEqual(JSON.parse(m.body), { over: 'https', n });
    });
    const bad = Client.fromConnectionString(cs.replace(/SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 5).toString('base64')}`), Http);
    try {
      await assert.rejects(bad.sendEvent(new Message('x')), (err) => {
        assert.equal(err.constructor.name, 'UnauthorizedError');
        return true;
      });
    } finally {
      await bad.close();
    }
    await registry.delete(id);
  });

  it('a wrong service key is unauthorized', TEST, async () => {
    const bad = stack.service_connection_string.replace(/SharedAccessKey=[^;]+/,
      `SharedAccessKey=${Buffer.alloc(32, 9).toString('base64')}`);
    await assert.rejects(Registry.fromConnectionString(bad).get('demo-device'), (err) => {
      assert.equal(err.constructor.name, 'UnauthorizedError');
      return true;
    });
  });

  // Issue 12, finding 8: azure-iothub's module calls, and ModuleClient over MQTT with the
  // module's own connection string.
  it('adds, gets, lists, updates and removes modules; a module connects and sends as itself', TEST, async () => {
    const id = uniqueId('mod');
    const device = (await registry.create({ deviceId: id })).responseBody;
    const added = (await registry.addModule({ deviceId: id, moduleId: 'mod1' })).responseBody;
    assert.equal(added.moduleId, 'mod1');
    assert.equal(added.deviceId, id);
    assert.equal(added.authentication.type, 'sas');
    const moduleKey = added.authentication.symmetricKey.primaryKey;
    assert.equal(Buffer.from(moduleKey, 'base64').length, 32);
    assert.notEqual(moduleKey, device.authentication.symmetricKey.primaryKey);
    assert.ok(added.etag);
    await assert.rejects(registry.addModule({ deviceId: id, moduleId: 'mod1' }), (err) => {
      assert.equal(err.constructor.name, 'DeviceAlreadyExistsError');
      return true;
    });
    await assert.rejects(registry.addModule({ deviceId: uniqueId('nodev'), moduleId: 'm' }));

    const got = (await registry.getModule(id, 'mod1')).responseBody;
    assert.equal(got.etag, added.etag);
    await registry.addModule({ deviceId: id, moduleId: 'mod2' });
    const listed = (await registry.getModulesOnDevice(id)).responseBody;
    assert.deepEqual(listed.map((m) => m.moduleId).sort(), ['mod1', 'mod2']);

    // updateModule with the etag (If-Match: "etag"), a stale etag fails, forceUpdate (*) wins.
    const newKey = Buffer.alloc(32, 7).toString('base64');
    const updated = (await registry.updateModule({ ...got, managedBy: 'me',
      authentication: { type: 'sas', symmetricKey: { primaryKey: got.authentication.symmetricKey.primaryKey, secondaryKey: newKey } } })).responseBody;
    assert.equal(updated.managedBy, 'me');
    assert.equal(updated.authentication.symmetricKey.secondaryKey, newKey);
    assert.notEqual(updated.etag, got.etag);
    await assert.rejects(registry.updateModule({ ...got }), (err) => {
      assert.equal(err.constructor.name, 'InvalidEtagError');
      return true;
    });
    const forced = (await registry.updateModule({ ...updated, etag: undefined }, true)).responseBody;
    assert.notEqual(forced.etag, updated.etag);

    const cs = `HostName=${stack.hub_host};DeviceId=${id};ModuleId=mod1;SharedAccessKey=${moduleKey}`;
    const client = ModuleClient.fromConnectionString(cs, Mqtt);
    await client.open();
    try {
      const message = new Message(JSON.stringify({ from: 'module' }));
      message.messageId = 'module-1';
      await client.sendEvent(message);
    } finally {
      await client.close();
    }
    const back = await s.readBack(stack, id);
    assert.equal(back.length, 1);
    assert.equal(back[0].systemProperties['iothub-connection-module-id'], 'mod1');

    // The device's key does not open the module.
    const withDeviceKey = ModuleClient.fromConnectionString(
      cs.replace(moduleKey, device.authentication.symmetricKey.primaryKey), Mqtt);
    await assert.rejects(withDeviceKey.open());
    await withDeviceKey.close().catch(() => {});

    // With a Module object the SDK needs its callback form (its promise form loses `done`).
    const removeWithEtag = (module) => new Promise((resolve, reject) => {
      registry.removeModule(module, (err) => (err ? reject(err) : resolve()));
    });
    await assert.rejects(removeWithEtag(updated), (err) => {
      assert.equal(err.constructor.name, 'InvalidEtagError');  // a stale etag
      return true;
    });
    await removeWithEtag(forced);
    await registry.removeModule(id, 'mod2');  // If-Match: "*"
    await assert.rejects(registry.getModule(id, 'mod1'));
    assert.deepEqual((await registry.getModulesOnDevice(id)).responseBody, []);
    await registry.delete(id);
  });
});
