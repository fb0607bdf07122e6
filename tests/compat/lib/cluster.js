'use strict';
// Reading a `coffre up --cluster` stack's store for the failover tests: Patroni's view of the
// cluster, who leads, SQL on one node, and the check that every acknowledged message is stored
// once. Each node is where connection.json's `cluster` says (its `host`, 127.0.0.1 by default).
// Every request is bounded in time.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { execFileSync } = require('node:child_process');

const HTTP_TIMEOUT_MS = 2000;
const SQL_TIMEOUT_MS = 10_000;

function hostOf(member) { return member.host || '127.0.0.1'; }

function getJson(host, port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout: HTTP_TIMEOUT_MS }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

// GET /cluster from the first of the nodes at `indexes` (default: all) that answers, or null.
async function clusterView(stack, indexes = [0, 1, 2]) {
  for (const i of indexes) {
    const member = stack.cluster.postgres[i];
    const view = await getJson(hostOf(member), member.patroni_port, '/cluster').catch(() => null);
    if (view) return view;
  }
  return null;
}

// The leader's name, its index in connection.json and the pid of its postmaster (from its data
// directory).
async function primary(stack) {
  for (const member of stack.cluster.postgres) {
    const view = await getJson(hostOf(member), member.patroni_port, '/cluster').catch(() => null);
    const leader = view && view.members.find((m) => m.role === 'leader');
    if (!leader) continue;
    const index = stack.cluster.postgres.findIndex((m) => m.name === leader.name);
    const pidFile = path.join(stack.dir, 'cluster', `pg-${index}`, 'data', 'postmaster.pid');
    return { name: leader.name, index, timeline: leader.timeline,
             pid: Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]) };
  }
  throw new Error('no member reports a leader');
}

// One SQL statement on node `index`'s PostgreSQL (primary or standby) as the superuser, its
// rows as text (psql -A -t: one line per row, fields separated by |).
function sql(stack, index, statement, database = 'coffre') {
  const member = stack.cluster.postgres[index];
  const secrets = JSON.parse(fs.readFileSync(path.join(stack.dir, 'cluster', 'secrets.json'), 'utf8'));
  return execFileSync('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', hostOf(member),
    '-p', String(member.port), '-U', 'postgres', '-d', database, '-c', statement], {
    encoding: 'utf8', timeout: SQL_TIMEOUT_MS, stdio: 'pipe',
    env: { ...process.env, PGPASSWORD: secrets.superuser, PGCONNECT_TIMEOUT: '2' },
  }).trim();
}

// Every acknowledged number under `prefix` stored, none twice.
function expectStoredOnce(messages, acked, prefix) {
  const counts = new Map();
  for (const m of messages) {
    const id = m.systemProperties.messageId;
    if (id && id.startsWith(`${prefix}-`)) counts.set(id, (counts.get(id) || 0) + 1);
  }
  const lost = acked.filter((n) => !counts.has(`${prefix}-${n}`));
  assert.deepEqual(lost, [], 'acknowledged and gone');
  const twice = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
  assert.deepEqual(twice, [], 'stored more than once');
}

// Waits (at most `limitMs`) until the node named `name` is back as a standby of another
// leader, on the leader's timeline and streaming, asking the nodes at `indexes`; returns the
// leader as Patroni describes it.
async function awaitRejoined(stack, name, indexes, limitMs) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const view = await clusterView(stack, indexes);
    const leader = view && view.members.find((m) => m.role === 'leader');
    const back = view && view.members.find((m) => m.name === name);
    // Patroni 3.0 says "running" for a replica that replays; lag is a number once it streams.
    if (leader && back && leader.name !== name && back.role !== 'leader' &&
        back.state === 'running' && back.timeline === leader.timeline &&
        typeof back.lag === 'number') return leader;
    assert.ok(Date.now() < deadline, `the old primary did not rejoin: ${JSON.stringify(view)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

module.exports = { getJson, clusterView, primary, sql, expectStoredOnce, awaitRejoined };
