'use strict';
// Rotation policies with the unmodified @azure/keyvault-keys SDK: get (the default) / update /
// get, Azure's validation surfacing as SDK errors, rotateKey honouring expiryTime, and a
// rotation done by the vault's scheduler on a test clock (coffre-vault --test-clock), without
// anyone calling rotate. Needs COFFRE_BIN_DIR (see lib/stack.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const s = require('./lib/stack');

const TEST = { timeout: 120_000 };
const DAY = 86400;
// The test vault's scheduler runs every 200 ms of real time: a due rotation shows within a
// second or so.
const SCHEDULED_ROTATION_MS = 15_000;
const POLL_MS = 100;
const SCHEDULER_PERIOD_MS = 200;

function keyName(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

// The RestError a call must be refused with.
async function refusal(promise, statusCode, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected a ${statusCode} ${code}, the call succeeded`);
  const seen = `got ${err.statusCode} ${err.code}: ${err.message}`;
  assert.equal(err.statusCode, statusCode, seen);
  assert.equal(err.code, code, seen);
  return err;
}

const seconds = (date) => Math.round(date.getTime() / 1000);

async function versionsOf(client, name) {
  const out = [];
  for await (const p of client.listPropertiesOfKeyVersions(name)) out.push(p);
  return out;
}

const NOTIFY_30D = { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' };

describe('rotation policies driven by @azure/keyvault-keys', () => {
  let stack; // `coffre up`: its CA and certificate serve the test vault too
  let vault; // a standalone coffre-vault with --test-clock
  let kc; // its owner's KeyClient

  before(
    async () => {
      stack = await s.startStack();
      vault = await s.startVault(stack, { testClock: true, schedulerPeriodMs: SCHEDULER_PERIOD_MS });
      kc = s.keyClient(vault.url, vault.token, vault.caFile);
    },
    { timeout: 180_000 },
  );

  after(
    async () => {
      if (vault) await s.stopVault(vault);
      if (stack) await s.stopStack(stack);
    },
    { timeout: 90_000 },
  );

  it('a key without a policy answers the default: Notify 30 days before expiry', TEST, async () => {
    const name = keyName('default');
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    const policy = await kc.getKeyRotationPolicy(name);
    assert.equal(policy.id, `${vault.url}/keys/${name}/rotationpolicy`);
    assert.deepEqual(policy.lifetimeActions, [NOTIFY_30D]);
    assert.equal(policy.expiresIn, undefined);
    assert.equal(policy.createdOn, undefined);
    assert.equal(policy.updatedOn, undefined);
    await refusal(kc.getKeyRotationPolicy(keyName('missing')), 404, 'KeyNotFound');
  });

  it('update then get round-trips; a policy without Notify gets the default one', TEST, async () => {
    const name = keyName('roundtrip');
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    const wanted = {
      lifetimeActions: [
        { action: 'Rotate', timeAfterCreate: 'P90D' },
        { action: 'Notify', timeBeforeExpiry: 'P10D' },
      ],
      expiresIn: 'P2Y',
    };
    const set = await kc.updateKeyRotationPolicy(name, wanted);
    assert.equal(set.id, `${vault.url}/keys/${name}/rotationpolicy`);
    assert.equal(set.expiresIn, 'P2Y');
    assert.deepEqual(set.lifetimeActions, [
      { action: 'Rotate', timeAfterCreate: 'P90D', timeBeforeExpiry: undefined },
      { action: 'Notify', timeAfterCreate: undefined, timeBeforeExpiry: 'P10D' },
    ]);
    assert.ok(set.createdOn instanceof Date && set.updatedOn instanceof Date);
    assert.deepEqual(await kc.getKeyRotationPolicy(name), set);

    // PUT replaces the whole policy; created stays, Notify comes back as the default.
    const replaced = await kc.updateKeyRotationPolicy(name, {
      lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P30D' }],
      expiresIn: 'P90D',
    });
    assert.deepEqual(replaced.lifetimeActions, [
      { action: 'Rotate', timeAfterCreate: undefined, timeBeforeExpiry: 'P30D' },
      NOTIFY_30D,
    ]);
    assert.equal(replaced.expiresIn, 'P90D');
    assert.equal(replaced.createdOn.getTime(), set.createdOn.getTime());
    assert.ok(replaced.updatedOn >= set.updatedOn);

    // What the SDK's own README does: get, then update with what it got.
    const again = await kc.updateKeyRotationPolicy(name, await kc.getKeyRotationPolicy(name));
    assert.deepEqual(again.lifetimeActions, replaced.lifetimeActions);
    assert.equal(again.expiresIn, 'P90D');
  });

  it("Azure's validation surfaces as 400 BadParameter with a clear message", TEST, async () => {
    const name = keyName('invalid');
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    const bad = [
      [{ lifetimeActions: [], expiresIn: 'P27D' }, /minimum is 28 days/],
      [{ lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P6D' }] }, /minimum is 7 days/],
      [{ lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P30D' }] }, /needs attributes\.expiryTime/],
      [{ lifetimeActions: [{ action: 'Rotate', timeBeforeExpiry: 'P25D' }], expiresIn: 'P30D' }, /less than 7 days/],
      [{ lifetimeActions: [{ action: 'Notify', timeAfterCreate: 'P30D' }] }, /timeBeforeExpiry trigger only/],
      [
        {
          lifetimeActions: [
            { action: 'Rotate', timeAfterCreate: 'P30D' },
            { action: 'Rotate', timeAfterCreate: 'P60D' },
          ],
        },
        /at most one Rotate/,
      ],
      [{ lifetimeActions: [{ action: 'Rotate', timeAfterCreate: '90 days' }] }, /'90 days' is not a valid ISO 8601 duration/],
      [{ lifetimeActions: [], expiresIn: 'P1.5Y' }, /fractions are not supported/],
    ];
    for (const [policy, message] of bad) {
      const err = await refusal(kc.updateKeyRotationPolicy(name, policy), 400, 'BadParameter');
      assert.match(err.message, message, JSON.stringify(policy));
    }
    assert.deepEqual((await kc.getKeyRotationPolicy(name)).lifetimeActions, [NOTIFY_30D], 'unchanged');
    await refusal(kc.updateKeyRotationPolicy(keyName('missing'), { lifetimeActions: [] }), 404, 'KeyNotFound');
  });

  it('getrotationpolicy and setrotationpolicy are permissions of their own', TEST, async () => {
    const name = keyName('perm');
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    const reader = await s.setPrincipal(vault, keyName('reader'), ['get', 'getrotationpolicy']);
    const rc = s.keyClient(vault.url, reader.token, vault.caFile);
    assert.deepEqual((await rc.getKeyRotationPolicy(name)).lifetimeActions, [NOTIFY_30D]);
    const err = await refusal(rc.updateKeyRotationPolicy(name, { lifetimeActions: [] }), 403, 'Forbidden');
    assert.equal(err.details?.error?.innerError?.code, 'AccessDenied');
    const getter = await s.setPrincipal(vault, keyName('getter'), ['get']);
    await refusal(s.keyClient(vault.url, getter.token, vault.caFile).getKeyRotationPolicy(name), 403, 'Forbidden');
  });

  it("rotateKey gives the new version the policy's expiryTime, never the current one", TEST, async () => {
    const name = keyName('expiry');
    const first = await kc.createKey(name, 'RSA', { keySize: 2048 });
    await kc.updateKeyRotationPolicy(name, { lifetimeActions: [], expiresIn: 'P28D' });
    const rotated = await kc.rotateKey(name);
    assert.notEqual(rotated.properties.version, first.properties.version);
    assert.equal(seconds(rotated.properties.expiresOn) - seconds(rotated.properties.createdOn), 28 * DAY);
    const old = await kc.getKey(name, { version: first.properties.version });
    assert.equal(old.properties.expiresOn, undefined);
  });

  it('the scheduler rotates by timeAfterCreate on the test clock, within seconds', TEST, async () => {
    const name = keyName('scheduled');
    const first = await kc.createKey(name, 'RSA', { keySize: 2048 });
    await kc.updateKeyRotationPolicy(name, {
      lifetimeActions: [{ action: 'Rotate', timeAfterCreate: 'P7D' }],
      expiresIn: 'P28D',
    });
    // A day short of due: nothing happens (five scheduler periods; a rotation there would also
    // fail the createdOn check below).
    await s.advanceClock(vault, 6 * DAY);
    await new Promise((resolve) => setTimeout(resolve, 5 * SCHEDULER_PERIOD_MS));
    assert.equal((await versionsOf(kc, name)).length, 1, 'rotated before its time');

    const clock = await s.advanceClock(vault, DAY);
    const deadline = Date.now() + SCHEDULED_ROTATION_MS;
    let latest = await kc.getKey(name);
    while (latest.properties.version === first.properties.version && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      latest = await kc.getKey(name);
    }
    assert.notEqual(latest.properties.version, first.properties.version, 'no rotation by the policy');
    assert.equal((await versionsOf(kc, name)).length, 2, 'rotated exactly once');
    const created = seconds(latest.properties.createdOn);
    assert.ok(created >= clock.now, `the new version is from the vault's (advanced) time: ${created}`);
    assert.equal(seconds(latest.properties.expiresOn) - created, 28 * DAY);
    assert.equal(latest.keyType, 'RSA');
    assert.equal(Buffer.from(latest.key.n).length, 256);
  });

  it('the policy follows the key through delete and recover; purge removes it', TEST, async () => {
    const name = keyName('lifecycle');
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    await kc.updateKeyRotationPolicy(name, { lifetimeActions: [], expiresIn: 'P1Y' });
    await (await kc.beginDeleteKey(name, { intervalInMs: 50 })).pollUntilDone();
    await refusal(kc.getKeyRotationPolicy(name), 404, 'KeyNotFound');
    await (await kc.beginRecoverDeletedKey(name, { intervalInMs: 50 })).pollUntilDone();
    assert.equal((await kc.getKeyRotationPolicy(name)).expiresIn, 'P1Y');
    await (await kc.beginDeleteKey(name, { intervalInMs: 50 })).pollUntilDone();
    await kc.purgeDeletedKey(name);
    await kc.createKey(name, 'RSA', { keySize: 2048 });
    const fresh = await kc.getKeyRotationPolicy(name);
    assert.equal(fresh.expiresIn, undefined);
    assert.equal(fresh.createdOn, undefined);
  });

  it("the test clock is the owner's, and only on a vault started with --test-clock", TEST, async () => {
    const clockRequest = (target, token, body) =>
      s.rawRequest({ url: target.url, method: 'POST', path: '/coffre/clock', token, caFile: target.caFile, body });
    // Key permissions are not enough: the clock is the owner's (admin) alone.
    const other = await s.setPrincipal(vault, keyName('not-owner'), ['get', 'rotate', 'setrotationpolicy']);
    const denied = await clockRequest(vault, other.token, { advance_seconds: 1 });
    assert.equal(denied.status, 403, denied.text);
    const bad = await clockRequest(vault, vault.token, { advance_seconds: -5 });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, 'BadParameter');
    const onStack = await clockRequest(s.stackVault(stack), stack.vault_token, { advance_seconds: DAY });
    assert.equal(onStack.status, 404, onStack.text);
  });
});
