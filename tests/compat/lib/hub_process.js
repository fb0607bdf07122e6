'use strict';
// A coffre-hub started by a test itself (beside the `coffre up` stack), for hubs the stack does
// not make: another key, service-managed. Loopback only, bounded waits.

const path = require('node:path');
const { spawn } = require('node:child_process');
const { freePort } = require('./stack.js');  // below the ephemeral ports

const START_TIMEOUT_MS = 30_000;

// Resolves once the hub listens, or with its exit code if it exits first. `output` keeps
// growing after the start: the returned object reads it live.
function startHub(args) {
  return new Promise((resolve) => {
    const proc = spawn(path.join(process.env.COFFRE_BIN_DIR, 'coffre-hub'), args,
      { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.on('error', () => {});
    let output = '';
    const result = (listening, extra) => ({ proc, get output() { return output; }, listening, ...extra });
    const timer = setTimeout(() => resolve(result(false, { timedOut: true })), START_TIMEOUT_MS);
    const onData = (d) => {
      output += d;
      if (output.includes('coffre-hub listening')) {
        clearTimeout(timer);
        resolve(result(true));
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve(result(false, { code }));
    });
  });
}

function stopHub(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.on('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

module.exports = { freePort, startHub, stopHub };
