'use strict';
// Device clients for the tests that take the hub away (kill, key revoked, vault gone): the
// unmodified SDK over MQTT/TLS with retries off, so an outage surfaces as an error in the test
// instead of retries that outlive it (`{ retry: true }` keeps the SDK's default policy); and the
// hub's encryption status.

const fs = require('node:fs');
const assert = require('node:assert/strict');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');
const s = require('./stack.js');

async function openDevice(stack, connectionString = stack.device_connection_string,
  { retry = false } = {}) {
  const client = Client.fromConnectionString(connectionString, Mqtt);
  if (!retry) client.setRetryPolicy(new NoRetry());
  await client.setOptions({ ca: fs.readFileSync(stack.ca_file, 'utf8') });
  await client.open();
  return client;
}

// GET /$coffre/encryption of the hub at `stack.https_port`.
async function encryption(stack) {
  const res = await s.rawRequest({ url: `https://localhost:${stack.https_port}`,
    path: '/$coffre/encryption', caFile: stack.ca_file });
  assert.equal(res.status, 200);
  return res.json;
}

// Sends messages {n}, with message id `${prefix}-${n}` (n from `first` on), `lanes` at a time,
// until `stop()` says so or a send fails. `onAck(count, sentAt)` runs after each
// acknowledgement (the number so far, and when that message was sent). Returns the numbers
// acknowledged, the next number, and the first failure (null if none).
async function streamMessages(client, { prefix, lanes, stop, onAck = () => {}, first = 0 }) {
  const acked = [];
  let next = first;
  let failure = null;
  async function lane() {
    while (!failure && !stop()) {
      const n = next++;
      const m = new Message(JSON.stringify({ n }));
      m.messageId = `${prefix}-${n}`;
      const sent = Date.now();
      try {
        await client.sendEvent(m);
      } catch (err) {
        failure = err;
        return;
      }
      acked.push(n);
      onAck(acked.length, sent);
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane));
  return { acked, next, failure };
}

// streamMessages through a fault: once `faultAfter` messages are acknowledged (sends still in
// flight on the other lanes) it calls `fault()`, and `undo()` after `undoAfterMs` whatever
// happens, or at the end. It stops once `afterFault` messages sent after the fault are
// acknowledged, or after `streamLimitMs`. Returns streamMessages' answer with the time of the
// fault, of the first acknowledgement of a message sent after it and of the undo, and how many
// such messages were acknowledged.
async function streamThroughFault(client, { prefix, lanes, faultAfter, afterFault, streamLimitMs,
  undoAfterMs, fault, undo }) {
  let faultAt = 0;
  let resumed = 0;
  let resumedAt = 0;
  let undoneAt = 0;
  let undoTimer = null;
  const undoOnce = () => {
    if (undoneAt) return;
    undoneAt = Date.now();
    undo();
  };
  const started = Date.now();
  let streamed;
  try {
    streamed = await streamMessages(client, {
      prefix,
      lanes,
      stop: () => resumed >= afterFault || Date.now() - started >= streamLimitMs,
      onAck: (count, sent) => {
        if (faultAt && sent >= faultAt) {
          if (!resumedAt) resumedAt = Date.now();
          resumed++;
        }
        if (!faultAt && count >= faultAfter) {
          faultAt = Date.now();
          fault();
          undoTimer = setTimeout(undoOnce, undoAfterMs);
        }
      },
    });
  } finally {
    clearTimeout(undoTimer);
    undoOnce();
  }
  return { ...streamed, faultAt, resumed, resumedAt, undoneAt };
}

module.exports = { openDevice, encryption, streamMessages, streamThroughFault };
