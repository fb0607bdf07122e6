'use strict';
// Issue 12, findings 6 and 8, through the real protocols against a `coffre up` stack:
// - a service token's sr bounds it (a devB-scoped token cannot read or change devA, list the
//   registry, read telemetry or change encryption); a DeviceConnect policy token (iothubowner)
//   connects a device over MQTT and sends over HTTPS, as Azure accepts it from gateways;
// - module identities: created under /devices/{id}/modules/{mid} with their own keys; a module
//   connects only as itself (azure-iot-device's ModuleClient over MQTT with the module's
//   connection string), the device's key does not open it, an unregistered module is refused,
//   and deleting the device deletes its modules.
// Tokens are made with azure-iot-common's own SharedAccessSignature, as the SDKs make them.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const s = require('./lib/stack.js');
const { Client, ModuleClient, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry, SharedAccessSignature, encodeUriComponentStrict } = require('azure-iot-common');

const TEST = { timeout: 60_000 };
const API = 'api-version=2021-04-12';

function parseConnectionString(cs) {
  return Object.fromEntries(cs.split(';').map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i), p.slice(i + 1)];
  }));
}

// A policy token for `resource` (raw, as the service SDK sends its host; `encode` escapes it
// as the device SDK does).
function policyToken(cs, resource, { encode = false } = {}) {
  const parts = parseConnectionString(cs);
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sr = encode ? encodeUriComponentStrict(resource) : resource;
  return SharedAccessSignature.create(sr, parts.SharedAccessKeyName, parts.SharedAccessKey, se).toString();
}

async function openWithNoRetry(client, stack) {
  client.setRetryPolicy(new NoRetry());
  await client.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
  await client.open();
  return client;
}

describe('identities and SAS scope (issue 12, findings 6 and 8)', () => {
  let stack;
  let owner;
  let host;
  const call = (method, path, token, body, headers = {}) => s.rawRequest({
    url: `https://localhost:${stack.https_port}`, method, path: `${path}?${API}`, body,
    caFile: stack.ca_file, headers: { authorization: token, ...headers } });
  const gateway = () => `GatewayHostName=localhost:${stack.mqtt_port}`;

  before(async () => {
    stack = await s.startStack();
    host = stack.hub_host;
    owner = s.serviceToken(stack.service_connection_string);
    for (const id of ['devA', 'devB']) {
      const res = await call('PUT', `/devices/${id}`, owner, { deviceId: id });
      assert.equal(res.status, 200, res.text);
    }
  }, { timeout: 120_000 });

  after(async () => {
    if (stack) await s.stopStack(stack);
  }, { timeout: 60_000 });

  it('a token scoped to devB reaches devB and nothing else', TEST, async () => {
    for (const token of [policyToken(stack.service_connection_string, `${host}/devices/devB`),
      policyToken(stack.service_connection_string, `${host}/devices/devB`, { encode: true }),
      policyToken(stack.service_connection_string, `${host.toUpperCase()}/devices/devB`)]) {
      assert.equal((await call('GET', '/devices/devB', token)).status, 200, token);
      // The reproduction: reading and changing devA, listing, encryption settings.
      const refused = [
        await call('GET', '/devices/devA', token),
        await call('PUT', '/devices/devA', token, { deviceId: 'devA', status: 'disabled' }, { 'if-match': '*' }),
        await call('DELETE', '/devices/devA', token, undefined, { 'if-match': '*' }),
        await call('PUT', '/devices/devC', token, { deviceId: 'devC' }),
        await call('GET', '/devices', token),
        await call('GET', '/statistics/devices', token),
        await call('GET', '/devices/devA/modules', token),
        await call('GET', '/telemetry/partitions', token),
        await call('PUT', '/$coffre/encryption', token, { keyCheckIntervalMs: 1000 }),
      ];
      for (const res of refused) {
        assert.equal(res.status, 401, res.text);
        assert.match(res.json.Message, /^ErrorCode:IotHubUnauthorizedAccess;/);
      }
      assert.equal((await call('GET', '/devices/devB/modules', token)).status, 200);
    }
    // devA is untouched; a hub-wide token still reaches everything.
    const devA = await call('GET', '/devices/devA', owner);
    assert.equal(devA.status, 200);
    assert.equal(devA.json.status, 'enabled');
    assert.equal((await call('GET', '/devices', owner)).status, 200);
    // sr=host/devices covers every device, not the registry statistics.
    const devices = policyToken(stack.service_connection_string, `${host}/devices`);
    assert.equal((await call('GET', '/devices/devA', devices)).status, 200);
    assert.equal((await call('GET', '/devices', devices)).status, 200);
    assert.equal((await call('GET', '/statistics/devices', devices)).status, 401);
  });

  it('iothubowner (DeviceConnect) connects a device over MQTT and sends over HTTPS', TEST, async () => {
    const key = parseConnectionString(stack.service_connection_string).SharedAccessKey;
    // azure-iot-device signs with SharedAccessKeyName: sr=host/devices/devA, skn=iothubowner.
    const cs = `HostName=${host};DeviceId=devA;SharedAccessKeyName=iothubowner;SharedAccessKey=${key};${gateway()}`;
    const client = await openWithNoRetry(Client.fromConnectionString(cs, Mqtt), stack);
    try {
      const message = new Message('via-gateway');
      message.messageId = 'gw-1';
      assert.equal((await client.sendEvent(message)).constructor.name, 'MessageEnqueued');
    } finally {
      await client.close();
    }
    const https = await call('POST', '/devices/devA/messages/events', owner, 'over-https', { 'iothub-messageid': 'gw-2' });
    assert.equal(https.status, 204, https.text);
    // Scoped to devB, the same policy does not open devA.
    const other = policyToken(stack.service_connection_string, `${host}/devices/devB`, { encode: true });
    assert.equal((await call('POST', '/devices/devA/messages/events', other, 'x')).status, 401);
    const wrong = `HostName=${host};DeviceId=devA;SharedAccessSignature=${other};${gateway()}`;
    await assert.rejects(openWithNoRetry(Client.fromConnectionString(wrong, Mqtt), stack));
    const back = await s.readBack(stack, 'devA');
    assert.deepEqual(back.map((m) => m.systemProperties.messageId), ['gw-1', 'gw-2']);
  });

  it('a module connects only as itself, with its own key', TEST, async () => {
    const devM = await call('PUT', '/devices/devM', owner, { deviceId: 'devM' });
    assert.equal(devM.status, 200, devM.text);
    const deviceKey = devM.json.authentication.symmetricKey.primaryKey;
    // The reproduction: the device's key, as devM/mod1, a module never registered.
    const moduleCs = (key, mid = 'mod1') =>
      `HostName=${host};DeviceId=devM;ModuleId=${mid};SharedAccessKey=${key};${gateway()}`;
    await assert.rejects(openWithNoRetry(ModuleClient.fromConnectionString(moduleCs(deviceKey), Mqtt), stack));

    const created = await call('PUT', '/devices/devM/modules/mod1', owner, { moduleId: 'mod1', deviceId: 'devM' });
    assert.equal(created.status, 200, created.text);
    const moduleKey = created.json.authentication.symmetricKey.primaryKey;
    assert.equal(Buffer.from(moduleKey, 'base64').length, 32);
    assert.notEqual(moduleKey, deviceKey);
    // Registered now, but the device's key still does not open it.
    await assert.rejects(openWithNoRetry(ModuleClient.fromConnectionString(moduleCs(deviceKey), Mqtt), stack));
    await assert.rejects(openWithNoRetry(ModuleClient.fromConnectionString(moduleCs(moduleKey, 'mod2'), Mqtt), stack));

    const client = await openWithNoRetry(ModuleClient.fromConnectionString(moduleCs(moduleKey), Mqtt), stack);
    try {
      const message = new Message('from-module');
      message.messageId = 'mod-1';
      assert.equal((await client.sendEvent(message)).constructor.name, 'MessageEnqueued');
    } finally {
      await client.close();
    }
    const back = (await s.readBack(stack, 'devM')).filter((m) => m.systemProperties.messageId === 'mod-1');
    assert.equal(back.length, 1);
    assert.equal(back[0].systemProperties['iothub-connection-module-id'], 'mod1');

    // Deleting the device deletes its modules: re-created, devM has none, and the old module
    // key opens nothing.
    assert.equal((await call('DELETE', '/devices/devM', owner, undefined, { 'if-match': '*' })).status, 204);
    assert.equal((await call('PUT', '/devices/devM', owner, { deviceId: 'devM' })).status, 200);
    const gone = await call('GET', '/devices/devM/modules/mod1', owner);
    assert.equal(gone.status, 404);
    assert.match(gone.json.Message, /^ErrorCode:ModuleNotFound;/);
    assert.deepEqual((await call('GET', '/devices/devM/modules', owner)).json, []);
    await assert.rejects(openWithNoRetry(ModuleClient.fromConnectionString(moduleCs(moduleKey), Mqtt), stack));
  });

  it('module bodies of the wrong shape are refused, and the hub lives', TEST, async () => {
    for (const body of [{ moduleId: 5 }, { deviceId: null, moduleId: 'other' }, { authentication: 'sas' },
      { authentication: { type: 7 } }, { authentication: { symmetricKey: { primaryKey: 12 } } },
      { authentication: { symmetricKey: [] } }, { managedBy: {} }, [], 'null']) {
      const res = await call('PUT', '/devices/devB/modules/m-bad', owner, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    }
    assert.equal((await call('PUT', '/devices/nodev/modules/m', owner, {})).status, 404);
    assert.equal((await call('GET', '/devices/devB', owner)).status, 200);
  });
});
