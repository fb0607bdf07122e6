'use strict';
// The hub's registry quota as azure-iothub's Registry sees it. run_on_default_ports.sh starts the
// stack with a tiny quota passed through `coffre up --hub-arg` (3 operations at once, then 2 a
// second, for the whole hub). A burst of Registry calls gets the SDK's ThrottlingError (429
// ThrottlingException with Retry-After); once the client waits as told, it succeeds again.

const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');

const { Registry } = require('azure-iothub');
const { runningStack } = require('./lib/stack.js');

const TEST = { timeout: 60_000 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('coffre-hub registry throttling driven by azure-iothub', () => {
  let stack;
  let registry;

  before(() => {
    stack = runningStack();
    registry = Registry.fromConnectionString(stack.service_connection_string);
  });

  it('throttles a burst of registry calls, then recovers after Retry-After', TEST, async () => {
    const burst = await Promise.allSettled(Array.from({ length: 12 }, () => registry.get(stack.device_id)));
    const ok = burst.filter((r) => r.status === 'fulfilled');
    const throttled = burst.filter((r) => r.status === 'rejected' && r.reason.constructor.name === 'ThrottlingError');
    const other = burst.filter((r) => r.status === 'rejected' && r.reason.constructor.name !== 'ThrottlingError');
    console.log(`burst of 12: ${ok.length} served, ${throttled.length} throttled`);
    assert.deepEqual(other.map((r) => String(r.reason)), []);
    assert.ok(ok.length >= 1 && ok.length <= 8, `${ok.length} served`);
    assert.ok(throttled.length >= 4, `${throttled.length} throttled`);

    const err = throttled[0].reason;
    assert.equal(err.response.statusCode, 429);
    assert.equal(err.response.headers['iothub-errorcode'], 'ThrottlingException');
    assert.match(JSON.parse(err.responseBody).Message, /^ErrorCode:ThrottlingException;/);
    const retryAfter = Number(err.response.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After: ${retryAfter}`);

    // Backing off as told, the same client gets in again: reads and writes.
    await sleep(retryAfter * 1000 + 200);
    const got = (await registry.get(stack.device_id)).responseBody;
    assert.equal(got.deviceId, stack.device_id);
    const id = `throttle-${Date.now().toString(36)}`;
    await sleep(1000);
    assert.equal((await registry.create({ deviceId: id })).responseBody.deviceId, id);
    await sleep(1000);
    await registry.delete(id);
  });
});
