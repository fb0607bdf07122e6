'use strict';
// Key backup and restore driven by the unmodified @azure/keyvault-keys SDK (backupKey,
// restoreKeyBackup) against coffre-vault. A standalone vault without purge protection runs the
// backup -> delete -> purge -> restore cycle; a second `coffre up` stack, whose vault has
// another passphrase and so another master key, must refuse the first stack's backups.
// Needs COFFRE_BIN_DIR (see lib/stack.js).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const s = require('./lib/stack');
const { expectRestError, untilDone } = require('./lib/sdk_checks');

const TEST = { timeout: 120_000 };
const POLL = { intervalInMs: 50 };

function uniqueName(prefix) {
  return `${prefix}-${crypto.randomBytes(4).toString('hex')}`;
}

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

// What a restore must bring back of each version.
function versionView(p) {
  return {
    version: p.version,
    enabled: p.enabled,
    createdOn: p.createdOn?.getTime(),
    updatedOn: p.updatedOn?.getTime(),
    expiresOn: p.expiresOn?.getTime(),
    tags: p.tags ?? {},
  };
}

async function versionsOf(kc, name) {
  const props = await collect(kc.listPropertiesOfKeyVersions(name));
  return props.map(versionView).sort((a, b) => a.version.localeCompare(b.version));
}

describe('key backup and restore with @azure/keyvault-keys', () => {
  let stack; // `coffre up` (purge protection on)
  let vault; // standalone vault without purge protection
  let vc; // its owner's KeyClient
  let other; // a second `coffre up`, other passphrase, other ports

  before(
    async () => {
      stack = await s.startStack();
      vault = await s.startVault(stack, { purgeProtection: false, retentionDays: 7 });
      vc = s.keyClient(vault.url, vault.token, vault.caFile);
    },
    { timeout: 180_000 },
  );

  after(
    async () => {
      if (vault) await s.stopVault(vault);
      if (other) await s.stopStack(other);
      if (stack) await s.stopStack(stack);
    },
    { timeout: 150_000 },
  );

  it('restores a rotated key after a purge: same versions, attributes, and old wraps unwrap', TEST, async () => {
    const name = uniqueName('bk');
    const first = await vc.createRsaKey(name, { keySize: 2048, tags: { team: 'ops' } });
    const dek = crypto.randomBytes(32);
    const wrapped = await s.cryptoClient(first, vault.token, vault.caFile).wrapKey('RSA-OAEP-256', dek);
    assert.equal(wrapped.keyID, first.id);
    const latest = await vc.rotateKey(name);
    const expiresOn = new Date((Math.floor(Date.now() / 1000) + 86_400) * 1000);
    await vc.updateKeyProperties(name, latest.properties.version, { expiresOn, tags: { stage: '2' } });
    const before = await versionsOf(vc, name);
    assert.equal(before.length, 2);

    const blob = await vc.backupKey(name);
    assert.ok(blob instanceof Uint8Array && blob.length > 0, 'backupKey returns bytes');
    assert.equal(Buffer.from(blob).indexOf(Buffer.from(first.key.n)), -1, 'the blob is sealed');

    await untilDone(await vc.beginDeleteKey(name, POLL));
    await vc.purgeDeletedKey(name);
    await expectRestError(vc.getDeletedKey(name), 404, 'KeyNotFound');
    await expectRestError(vc.getKey(name), 404, 'KeyNotFound');

    const restored = await vc.restoreKeyBackup(blob);
    assert.equal(restored.name, name);
    assert.equal(restored.id, latest.id);
    assert.deepEqual(Buffer.from(restored.key.n), Buffer.from(latest.key.n));
    assert.deepEqual(await versionsOf(vc, name), before);
    assert.equal((await vc.getKey(name)).properties.version, latest.properties.version);

    // A value wrapped before the backup unwraps after the restore; the latest wraps anew.
    const cc = s.cryptoClient(first.id, vault.token, vault.caFile);
    const unwrapped = await cc.unwrapKey('RSA-OAEP-256', wrapped.result);
    assert.deepEqual(Buffer.from(unwrapped.result), dek);
    const again = await s.cryptoClient(restored, vault.token, vault.caFile).wrapKey('RSA-OAEP-256', dek);
    assert.equal(again.keyID, latest.id);
    const back = await s.cryptoClient(latest.id, vault.token, vault.caFile).unwrapKey('RSA-OAEP-256', again.result);
    assert.deepEqual(Buffer.from(back.result), dek);
  });

  it('refuses a live name (409 Conflict) and a deleted one (409 ObjectIsDeletedButRecoverable)', TEST, async () => {
    const name = uniqueName('bkc');
    const key = await vc.createOctKey(name, { hsm: true, keySize: 256 });
    const blob = await vc.backupKey(name);
    await expectRestError(vc.restoreKeyBackup(blob), 409, 'Conflict');
    await untilDone(await vc.beginDeleteKey(name, POLL));
    await expectRestError(vc.restoreKeyBackup(blob), 409, 'Conflict', 'ObjectIsDeletedButRecoverable');
    await untilDone(await vc.beginRecoverDeletedKey(name, POLL));
    assert.equal((await vc.getKey(name)).id, key.id);
  });

  it('refuses damaged blobs with 400 BadParameter, and callers without the permission with 403', TEST, async () => {
    const name = uniqueName('bkd');
    await vc.createOctKey(name, { hsm: true, keySize: 256 });
    const blob = Buffer.from(await vc.backupKey(name));
    await untilDone(await vc.beginDeleteKey(name, POLL));
    await vc.purgeDeletedKey(name);
    const flipped = Buffer.from(blob);
    flipped[flipped.length - 20] ^= 0x01;
    for (const bad of [flipped, blob.subarray(0, blob.length - 1), blob.subarray(0, 10), Buffer.from('junk')]) {
      await expectRestError(vc.restoreKeyBackup(bad), 400, 'BadParameter');
    }
    await expectRestError(vc.getKey(name), 404, 'KeyNotFound');

    const reader = await s.setPrincipal(s.stackVault(stack), uniqueName('reader'), ['get', 'list']);
    const rc = s.keyClient(stack.vault_url, reader.token, stack.ca_file);
    await expectRestError(rc.backupKey(stack.key_name), 403, 'Forbidden', 'AccessDenied');
    await expectRestError(rc.restoreKeyBackup(blob), 403, 'Forbidden', 'AccessDenied');
  });

  it('a vault with another master key (a second coffre up) refuses the backup', { timeout: 240_000 }, async () => {
    const kc = s.keyClient(stack.vault_url, stack.vault_token, stack.ca_file);
    const name = uniqueName('bkx');
    await kc.createRsaKey(name, { keySize: 2048 });
    const blob = await kc.backupKey(name);

    other = await s.startStack();
    assert.notEqual(other.vault_url, stack.vault_url);
    const oc = s.keyClient(other.vault_url, other.vault_token, other.ca_file);
    const err = await expectRestError(oc.restoreKeyBackup(blob), 400, 'BadParameter');
    assert.match(err.message, /different key vault/);
    await expectRestError(oc.getKey(name), 404, 'KeyNotFound');
    // The standalone vault (its own passphrase too) refuses it as well.
    await expectRestError(vc.restoreKeyBackup(blob), 400, 'BadParameter');
  });
});
