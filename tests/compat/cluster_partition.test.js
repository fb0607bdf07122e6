'use strict';
// Cluster mode, the PostgreSQL primary's node cut off by a network partition, with the
// unmodified device SDK streaming: nothing acknowledged is lost, and the old primary's history
// does not diverge. Run through in_private_netns.sh (ctest does): skipped, with the reason,
// where it cannot have a network namespace of its own.
//
// Why namespaces and not firewall rules on one loopback: a partition must cut the old primary's
// PostgreSQL AND its Patroni's path to etcd, and on one loopback every node's clients (Patroni,
// the WAL receiver) run as `postgres` from 127.0.0.1, so no rule tells node 0's connection to
// etcd from node 1's; cgroup matches see only sockets made after a process moved, not the
// connections already open. A namespace per node is a machine of its own: its own address,
// routes and loopback, so taking its link down cuts all of it, open connections included, as a
// pulled cable would (lib/netns.js). Each node's etcd member goes with it, as on a machine of a
// three-machine layout: the cut node keeps a minority, whose etcd cannot renew its leader key.
//
// What happens: the isolated Patroni fails to renew its lock and demotes its PostgreSQL; the
// lock expires (ttl 10 s) on the majority side, where the synchronous standby is promoted; the
// hub's statement on the cut primary hits its 10 s deadline and is retried, with the same batch
// id, on the new primary. The cut lasts until writes have resumed there (at most CUT_LIMIT_MS),
// then the link comes back: the old primary must rejoin as a standby on the new timeline, and
// hold, once it has replayed, exactly the leader's rows.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const s = require('./lib/stack.js');
const { primary, sql, expectStoredOnce, awaitRejoined } = require('./lib/cluster.js');
const { openDevice, streamThroughFault } = require('./lib/device.js');
const { whyNoPrivateNetwork, makeNodeNetwork } = require('./lib/netns.js');

const LANES = 16;             // sends in flight at once
const CUT_AFTER = 300;        // acknowledged messages before the cut
const AFTER_CUT = 300;        // acknowledged messages sent after the cut
const STREAM_LIMIT_MS = 75_000;
const CUT_LIMIT_MS = 50_000;  // the link comes back after this, whatever happened
const REJOIN_LIMIT_MS = 60_000;
const REPLAY_LIMIT_MS = 20_000;

const skip = whyNoPrivateNetwork() || false;  // node's test runner takes null for a skip
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A digest of every record row and every committed batch: equal on two nodes when they hold
// the same history (the rows of the same commits, byte for byte).
const HISTORY_DIGEST = `SELECT
  (SELECT count(*) FROM coffre_records) || ' ' ||
  md5(coalesce((SELECT string_agg(partition || ':' || sequence || ':' || md5(record), ','
                                  ORDER BY partition, sequence) FROM coffre_records), '')) || ' ' ||
  md5(coalesce((SELECT string_agg(batch_id || ':' || first_sequence || ':' || records, ','
                                  ORDER BY batch_id) FROM coffre_batches), ''))`;

describe('cluster mode: the PostgreSQL primary cut off by a network partition', { skip }, () => {
  let net;
  let stack;
  before(async () => {
    net = makeNodeNetwork(3);
    stack = await s.startStack(['--cluster', '--cluster-node-hosts', net.hosts.join(','),
      '--cluster-node-netns', net.names.join(',')]);
  }, { timeout: 180_000 });
  after(async () => {
    if (net) for (let i = 0; i < 3; i++) net.heal(i);  // `coffre down` reaches every node
    try {
      if (stack) await s.stopStack(stack);
    } finally {
      if (net) net.remove();
    }
  }, { timeout: 120_000 });

  it('loses no acknowledged message; the old primary rejoins on the new timeline',
    { timeout: 180_000 }, async () => {
      assert.ok(stack.cluster.postgres.every((m, i) => m.host === net.hosts[i]),
        'each node on its own address');
      const old = await primary(stack);
      const client = await openDevice(stack);
      const streamed = await streamThroughFault(client, {
        prefix: 'partition',
        lanes: LANES,
        faultAfter: CUT_AFTER,
        afterFault: AFTER_CUT,
        streamLimitMs: STREAM_LIMIT_MS,
        undoAfterMs: CUT_LIMIT_MS,
        fault: () => net.cut(old.index),
        undo: () => net.heal(old.index),
      });
      const { acked, failure, faultAt: cutAt, resumed, resumedAt, undoneAt: healedAt } = streamed;
      await client.close().catch(() => {});
      assert.equal(failure, null, `a send failed: ${failure}`);
      assert.ok(cutAt > 0, 'the primary was cut off');
      assert.ok(resumed >= AFTER_CUT, `writes resumed: ${resumed} acknowledged after the cut`);
      assert.ok(resumedAt < healedAt,
        `writes resumed only once the link came back (${healedAt - cutAt} ms after the cut)`);
      console.log(`# primary's node cut off: writes paused ${resumedAt - cutAt} ms ` +
                  `(${acked.length} acknowledged)`);

      // The old primary rejoins: a standby of the new leader, on its timeline, streaming.
      const leader = await awaitRejoined(stack, old.name,
        [0, 1, 2].filter((i) => i !== old.index), REJOIN_LIMIT_MS);
      assert.ok(leader.timeline > old.timeline,
        `a new timeline (${old.timeline} -> ${leader.timeline}): a standby was promoted`);
      console.log(`# ${old.name} rejoined ${Date.now() - healedAt} ms after the link came back, ` +
                  `a standby of ${leader.name} on timeline ${leader.timeline}`);

      // Nothing acknowledged lost, from the hub (the new primary).
      expectStoredOnce(await s.readBack(stack, 'demo-device'), acked, 'partition');

      // No divergent history: once it has replayed the leader's last WAL, the old primary holds
      // exactly the leader's rows, and nothing of its own that the leader lacks.
      const leaderIndex = stack.cluster.postgres.findIndex((m) => m.name === leader.name);
      const lsn = sql(stack, leaderIndex, 'SELECT pg_current_wal_lsn()');
      const replayDeadline = Date.now() + REPLAY_LIMIT_MS;
      while (sql(stack, old.index, `SELECT pg_last_wal_replay_lsn() >= '${lsn}'`) !== 't') {
        assert.ok(Date.now() < replayDeadline, `${old.name} did not replay up to ${lsn}`);
        await sleep(200);
      }
      assert.equal(sql(stack, old.index, 'SELECT pg_is_in_recovery()'), 't', 'a standby');
      assert.equal(sql(stack, old.index, HISTORY_DIGEST), sql(stack, leaderIndex, HISTORY_DIGEST),
        'the old primary holds the leader\'s history, no more, no less');
      const log = fs.readFileSync(
        path.join(stack.dir, 'cluster', `pg-${old.index}`, 'patroni.log'), 'utf8');
      const rewound = /pg_rewind exit code=0/.test(log);
      console.log(`# ${old.name} ${rewound ? 'was rewound (pg_rewind)' : 'rejoined without a rewind'}`);
    });
});
