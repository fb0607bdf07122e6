'use strict';
// Three machines on one host, for the cluster store's partition test: each node (etcd N,
// Patroni N and its PostgreSQL) runs in a network namespace of its own (`ip netns add`), with
// one address on a veth pair whose other end is a port of a bridge in this process's namespace,
// where the hub, the vault and the test run. Cutting a node is taking its bridge port down: its
// processes then reach no one and no one reaches them, as a machine whose cable was pulled,
// while each keeps running and its own loopback.
//
// Only inside a private network namespace (tests/compat/in_private_netns.sh): the bridge and
// the host-side veth ends are made where this process runs, so on the host's network they would
// change the host. The addresses are link-local (169.254/16): routed nowhere, and they exist only
// inside this private namespace and the nodes'. Every command is bounded in time.

const { execFileSync } = require('node:child_process');

const SUBNET = '169.254.77';
const BRIDGE = 'cofbr';
const IP_TIMEOUT_MS = 10_000;
// Unique on the host (named namespaces are host-wide); in_private_netns.sh sets it, and deletes
// what a killed test left under it.
const PREFIX = process.env.COFFRE_NETNS_PREFIX || `coffre-${process.pid}`;

function ip(...args) {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS, stdio: 'pipe' });
}

// Why this process may not build the network, or null: it must be root, with `ip` at hand, in a
// network namespace that has no interface but loopback: a fresh one of its own (`unshare --net`),
// never the host's, whose real interfaces this would sit beside.
function whyNoPrivateNetwork() {
  if (process.getuid() !== 0) return 'needs root (network namespaces, a bridge)';
  let links;
  try {
    links = ip('-o', 'link', 'show').split('\n').filter(Boolean).map((l) => l.split(': ')[1]);
  } catch (err) {
    return `no usable ip (iproute2): ${err.message}`;
  }
  if (links.length !== 1 || links[0] !== 'lo') {
    return `not in a private network namespace (interfaces: ${links.join(', ')}): run it ` +
      'through tests/compat/in_private_netns.sh (ctest does), so that nothing touches the host network';
  }
  return null;
}

// Makes `count` node namespaces (PREFIX-nodeN), each with its address, and
// the bridge joining them to this namespace (which gets SUBNET.254). Returns the network; its
// remove() undoes it, whatever part was made.
function makeNodeNetwork(count) {
  const net = {
    names: Array.from({ length: count }, (_, i) => `${PREFIX}-node${i}`),
    hosts: Array.from({ length: count }, (_, i) => `${SUBNET}.${i + 1}`),
    port: (i) => `cofv${i}`,  // the bridge-side end of node i's veth pair
    made: [],
    cut(i) { ip('link', 'set', net.port(i), 'down'); },
    heal(i) { ip('link', 'set', net.port(i), 'up'); },
    // Kills what still runs in a node namespace (a test that failed before its stack stopped),
    // by pid, then deletes the namespaces (each takes its veth pair along) and the bridge.
    remove() {
      for (const name of net.made) {
        let pids = '';
        try { pids = ip('netns', 'pids', name); } catch { /* gone */ }
        for (const pid of pids.split('\n').map(Number).filter((n) => n > 0)) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        }
        try { ip('netns', 'delete', name); } catch { /* gone */ }
      }
      net.made = [];
      try { ip('link', 'delete', BRIDGE); } catch { /* never made */ }
    },
  };
  try {
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    ip('addr', 'add', `${SUBNET}.254/24`, 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');
    for (let i = 0; i < count; i++) {
      ip('netns', 'add', net.names[i]);
      net.made.push(net.names[i]);
      ip('link', 'add', net.port(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.names[i]);
      ip('link', 'set', net.port(i), 'master', BRIDGE, 'up');
      ip('-n', net.names[i], 'link', 'set', 'lo', 'up');
      ip('-n', net.names[i], 'addr', 'add', `${net.hosts[i]}/24`, 'dev', 'eth0');
      ip('-n', net.names[i], 'link', 'set', 'eth0', 'up');
    }
  } catch (err) {
    net.remove();
    throw err;
  }
  return net;
}

module.exports = { whyNoPrivateNetwork, makeNodeNetwork };
