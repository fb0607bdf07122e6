'use strict';
// kill -9 of coffre-hub mid-stream, with the unmodified device SDK: a device sends with many
// messages in flight; once a few hundred are acknowledged (PUBACK: the SDK's sendEvent
// resolved), the hub is killed with SIGKILL while sends are still in flight. `coffre up`
// restarts it, a new client sends more, and every message the SDK saw acknowledged, before or
// after the kill, reads back. Unacknowledged ones may or may not be there (at least once).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const s = require('./lib/stack.js');
const { openDevice, streamMessages } = require('./lib/device.js');

const LANES = 16;          // sends in flight at once
const KILL_AFTER = 400;    // acknowledged messages before the kill
const AFTER_RESTART = 200; // acknowledged messages the new client must add

// Numbered messages `kill-N` on LANES lanes (lib/device.js).
function stream(client, first, stop, onAck) {
  return streamMessages(client, { prefix: 'kill', lanes: LANES, first, stop, onAck });
}

describe('coffre-hub killed with SIGKILL mid-stream', () => {
  let stack;
  before(async () => { stack = await s.startStack(); }, { timeout: 120_000 });
  after(async () => { if (stack) await s.stopStack(stack); }, { timeout: 60_000 });

  it('every message the SDK saw acknowledged survives', { timeout: 120_000 }, async () => {
    const pid = () => JSON.parse(fs.readFileSync(path.join(stack.dir, 'connection.json'), 'utf8')).pids.hub;
    const hubPid = pid();
    assert.ok(hubPid > 0);
    const client = await openDevice(stack);
    let killed = false;
    const before = await stream(client, 0, () => killed, (count) => {
      if (count >= KILL_AFTER && !killed) {
        killed = true;
        process.kill(hubPid, 'SIGKILL');  // with sends still in flight on the other lanes
      }
    });
    await client.close().catch(() => {});
    assert.ok(killed && before.acked.length >= KILL_AFTER);

    execFileSync(path.join(process.env.COFFRE_BIN_DIR, 'coffre'), ['up', '--dir', stack.dir],
      { stdio: 'pipe', timeout: 60_000 });
    assert.notEqual(pid(), hubPid, 'coffre up started a new hub');
    const again = await openDevice(stack);
    let count = 0;
    const afterRestart = await stream(again, before.next, () => count >= AFTER_RESTART, (c) => { count = c; });
    await again.close();
    assert.ok(afterRestart.acked.length >= AFTER_RESTART);

    const stored = new Set((await s.readBack(stack, 'demo-device')).map((m) => m.systemProperties.messageId));
    const lost = [...before.acked, ...afterRestart.acked].filter((n) => !stored.has(`kill-${n}`));
    assert.deepEqual(lost, [], 'acknowledged before or after the kill, and gone');
  });
});
