'use strict';
// Helpers for the IoT Hub compatibility tests, on any stack (its own ports) or on the one
// run_on_default_ports.sh started (the SDKs that hard-code 443/8883): device clients of the unmodified device SDK over any
// transport, registry calls that back off on the hub's registry quota as a real client would,
// and the owner-only REST routes that stand in for the service SDK's AMQP C2D send and feedback
// receiver until the hub speaks AMQP.

const { after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Registry, Client: ServiceClient } = require('azure-iothub');
const { Client, ModuleClient } = require('azure-iot-device');
const { NoRetry } = require('azure-iot-common');
const s = require('./stack.js');

const API = 'api-version=2021-04-12';

function uniqueId(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${crypto.randomInt(1e6)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `predicate` every 20 ms until it holds, or fails after `ms`.
async function waitFor(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

// A registry call that waits as told when the hub's registry quota throttles it (429 with
// Retry-After), at most a few times.
async function unthrottled(call) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (err.constructor.name !== 'ThrottlingError' || attempt >= 5) throw err;
      await sleep(Number(err.response?.headers?.['retry-after'] ?? 1) * 1000);
    }
  }
}

function connectionString(stack, deviceId, key, moduleId) {
  return `HostName=${stack.hub_host};DeviceId=${deviceId};` +
    (moduleId ? `ModuleId=${moduleId};` : '') + `SharedAccessKey=${key}`;
}

// Opens the unmodified device SDK (or ModuleClient with `moduleId`) over `Transport` on the
// SDK's own port, retries off so a refusal shows as an error.
async function openClient(stack, identity, Transport, { moduleId } = {}) {
  const cs = connectionString(stack, identity.deviceId, identity.authentication.symmetricKey.primaryKey,
    moduleId);
  const client = moduleId ? ModuleClient.fromConnectionString(cs, Transport)
    : Client.fromConnectionString(cs, Transport);
  client.setRetryPolicy(new NoRetry());
  await client.open();
  return client;
}

// Called inside a describe(): the stack run_on_default_ports.sh started, azure-iothub's Registry
// and service Client for it, and open() for device clients, all closed after the suite.
function useRunningStack() {
  const stack = s.runningStack();
  const clients = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  });
  return {
    stack,
    registry: Registry.fromConnectionString(stack.service_connection_string),
    service: ServiceClient.fromConnectionString(stack.service_connection_string),
    open: async (identity, Transport, options) => {
      const client = await openClient(stack, identity, Transport, options);
      clients.push(client);
      return client;
    },
  };
}

// The device SDK's reported-properties update (it takes a callback), as a promise.
function report(twin, patch) {
  return new Promise((resolve, reject) => twin.properties.reported.update(patch,
    (err) => (err ? reject(err) : resolve())));
}

// Adds `listener` for the twin's desired-property events and resolves once the device's
// subscription is in place. The SDK subscribes in the background when the first listener is
// added; a patch the hub applies before that subscription is not delivered (nor on Azure), so a
// test that patches right away races it. A second enable waits for the same subscription.
function onDesired(twin, listener) {
  twin.on('properties.desired', listener);
  return new Promise((resolve, reject) => twin.enableTwinDesiredPropertiesUpdates(
    (err) => (err ? reject(err) : resolve())));
}

// The owner's REST view of the hub for what the service SDK sends over AMQP (C2D send,
// feedback) or hides (raw status codes).
function service(stack) {
  const url = `https://localhost:${stack.https_port ?? 443}`;
  return (method, path, body, headers = {}) => s.rawRequest({
    url, method, path: `${path}${path.includes('?') ? '&' : '?'}${API}`, caFile: stack.ca_file, body,
    headers: { authorization: s.serviceToken(stack.service_connection_string), ...headers },
  });
}

// Creates a device with hub-generated keys through the registry REST route; its JSON.
async function createDevice(stack, id) {
  const res = await service(stack)('PUT', `/devices/${encodeURIComponent(id)}`, { deviceId: id });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// Enqueues a C2D message through the owner-only send route; resolves with the raw response.
function sendC2d(stack, deviceId, body, headers = {}) {
  return service(stack)('POST', `/devices/${encodeURIComponent(deviceId)}/messages/devicebound`, body,
    { 'content-type': 'text/plain', ...headers });
}

// Reads and acknowledges every pending feedback record (as the AMQP feedback receiver would).
async function drainFeedback(stack) {
  const records = [];
  for (;;) {
    const batch = await service(stack)('GET', '/messages/serviceBound/feedback');
    if (batch.status === 204) return records;
    assert.equal(batch.status, 200, batch.text);
    records.push(...batch.json);
    const ack = await service(stack)('DELETE',
      `/messages/serviceBound/feedback/${encodeURIComponent(batch.headers.etag)}`);
    assert.equal(ack.status, 204, ack.text);
  }
}


// A self-signed device certificate made by the openssl CLI (node cannot issue certificates).
function selfSignedCertificate(dir, deviceId) {
  const key = path.join(dir, 'device.key.pem');
  const cert = path.join(dir, 'device.cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${deviceId}`], { stdio: 'pipe' });
  const pem = fs.readFileSync(cert, 'utf8');
  const thumbprint = new crypto.X509Certificate(pem).fingerprint256.replace(/:/g, '');
  return { cert: pem, key: fs.readFileSync(key, 'utf8'), thumbprint };
}

module.exports = {
  selfSignedCertificate,
  API, uniqueId, sleep, waitFor, unthrottled, connectionString, openClient, useRunningStack, report,
  onDesired,
  service, createDevice, sendC2d, drainFeedback,
};
