'use strict';
// Assertions about how @azure/keyvault-keys surfaces the vault's answers (RestError), and a
// bound on the SDK's pollers, shared by the vault compatibility tests.

const assert = require('node:assert/strict');

const POLL_TIMEOUT_MS = 30_000;

// The error a call must fail with (the test fails if it succeeds).
async function failureOf(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail, it succeeded');
}

// RestError as the SDK surfaces the vault's {"error":{"code","message","innererror"}}.
function assertRestError(err, status, code, innerCode) {
  const seen = `got ${err.statusCode} ${err.code} (${err.message})`;
  assert.equal(err.statusCode, status, seen);
  if (code !== undefined) assert.equal(err.code, code, seen);
  if (innerCode !== undefined) assert.equal(err.details?.error?.innerError?.code, innerCode, seen);
}

async function expectRestError(promise, status, code, innerCode) {
  const err = await failureOf(promise);
  assertRestError(err, status, code, innerCode);
  return err;
}

// The SDK's pollers loop until the vault answers as expected; bound them.
async function untilDone(poller, ms = POLL_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      poller.stopPolling();
      reject(new Error(`poller not done after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([poller.pollUntilDone(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

module.exports = { failureOf, assertRestError, expectRestError, untilDone };
