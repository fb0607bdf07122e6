'use strict';
// Helpers for the compatibility tests: start/stop a `coffre up` stack or a standalone
// `coffre-vault`, build @azure/keyvault-keys clients that trust the stack's CA, and send raw
// HTTPS requests for what the SDK refuses to send (or hides).
//
// Everything talks to loopback only, and every wait is bounded.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const https = require('node:https');
const crypto = require('node:crypto');
const { execFile, spawn } = require('node:child_process');

// The SDK's proxy policy reads NO_PROXY when the first client is built, and a proxied request
// ignores `tlsOptions`: loopback must bypass any proxy configured on the machine. This has to
// happen before the SDK is loaded.
function addNoProxy(hosts) {
  const current = [process.env.NO_PROXY, process.env.no_proxy]
    .filter(Boolean)
    .join(',')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const merged = [...new Set([...current, ...hosts])].join(',');
  process.env.NO_PROXY = merged;
  process.env.no_proxy = merged;
}
addNoProxy(['localhost', '127.0.0.1']);

const { KeyClient, CryptographyClient } = require('@azure/keyvault-keys');

// Admin and raw requests use this version; the SDK sends its own default (2025-07-01).
const API_VERSION = '7.5';

const UP_TIMEOUT_MS = 120_000;
const DOWN_TIMEOUT_MS = 60_000;
const VAULT_READY_TIMEOUT_MS = 30_000;
const VAULT_STOP_GRACE_MS = 5_000;
const RAW_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Processes

function binDir() {
  const dir = process.env.COFFRE_BIN_DIR;
  if (!dir) {
    throw new Error(
      'COFFRE_BIN_DIR is not set: point it at the directory holding the `coffre` and ' +
        '`coffre-vault` binaries (ctest sets it).',
    );
  }
  return dir;
}

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// COFFRE_COMPAT_KEEP=1 keeps each test's directory (logs, data) for a post-mortem.
function removeDir(dir) {
  if (!dir) return;
  if (process.env.COFFRE_COMPAT_KEEP) {
    console.log(`# kept ${dir}`);
    return;
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// Runs a binary to completion; rejects (with its output, for diagnosis) unless it exits 0
// within `timeoutMs`.
function run(file, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) {
        const why = err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code ?? err.signal}`;
        reject(
          new Error(`${file} ${args.join(' ')} failed (${why})\nstdout:\n${stdout}\nstderr:\n${stderr}`),
        );
        return;
      }
      resolve({ stdout, stderr });
    });
  });
}

// connection.json fields the tests rely on; a missing one is a `coffre up` bug, say so early.
const CONNECTION_FIELDS = ['ca_file', 'vault_url', 'vault_token', 'key_name', 'hub_principal'];

// `coffre up --ports-from` picks ports that are free when it looks; another process (a test
// beside this one, a client's ephemeral port) can take one before a daemon binds it. That start
// fails with "Address already in use" and is retried from another base, a few times.
const UP_ATTEMPTS = 3;

// `coffre up` with `upArgs` added (e.g. ['--cluster']).
async function startStack(upArgs = []) {
  const bin = binDir();
  const tmp = makeTempDir('coffre-compat-');
  const dir = path.join(tmp, 'stack');
  // PostgreSQL's user must cross to a cluster's DIR (coffre up --cluster makes DIR 0710).
  if (upArgs.includes('--cluster')) fs.chmodSync(tmp, 0o711);
  try {
    for (let attempt = 1; ; attempt++) {
      const base = 20000 + crypto.randomInt(12000);  // below Linux's ephemeral ports (32768 on)
      try {
        await run(path.join(bin, 'coffre'), ['up', '--dir', dir, '--ports-from', String(base), ...upArgs],
          UP_TIMEOUT_MS);
        break;
      } catch (err) {
        if (attempt === UP_ATTEMPTS || !/Address already in use/.test(err.message)) throw err;
        await run(path.join(bin, 'coffre'), ['down', '--dir', dir], DOWN_TIMEOUT_MS).catch(() => {});
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const connection = JSON.parse(fs.readFileSync(path.join(dir, 'connection.json'), 'utf8'));
    const missing = CONNECTION_FIELDS.filter((f) => !connection[f]);
    if (missing.length > 0) {
      throw new Error(`connection.json lacks ${missing.join(', ')}: ${JSON.stringify(connection)}`);
    }
    // A trailing slash would produce `//keys` paths below.
    connection.vault_url = connection.vault_url.replace(/\/+$/, '');
    return { ...connection, dir, tmp };
  } catch (err) {
    // Leave nothing running behind a failed start.
    if (fs.existsSync(dir)) {
      await run(path.join(bin, 'coffre'), ['down', '--dir', dir], DOWN_TIMEOUT_MS).catch(() => {});
    }
    removeDir(tmp);
    throw err;
  }
}

async function stopStack(stack) {
  try {
    await run(path.join(binDir(), 'coffre'), ['down', '--dir', stack.dir], DOWN_TIMEOUT_MS);
  } finally {
    removeDir(stack.tmp);
  }
}

// The owner's view of the stack's vault, in the shape startVault() returns.
function stackVault(stack) {
  return { url: stack.vault_url, token: stack.vault_token, caFile: stack.ca_file };
}

// A free TCP port on 127.0.0.1, below Linux's ephemeral ports (32768 on), as `coffre up
// --ports-from` takes them: a port the kernel picks (listen on 0) comes from the range every
// outgoing connection and every other listen on 0 draws from, and the tests beside this one make
// thousands; one took a port between its check and the daemon's bind, or while a test restarted
// its hub on the same ports. Here only another test's explicit pick can, and it checks too.
async function freePort() {
  for (let attempt = 1; ; attempt++) {
    const port = 20000 + crypto.randomInt(12000);
    const free = await new Promise((resolve, reject) => {
      const server = net.createServer();
      server.unref();
      server.once('error', (err) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
    if (attempt === 50) throw new Error('no free port in 20000-31999 after 50 tries');
  }
}

function hasExited(proc) {
  return proc.exitCode !== null || proc.signalCode !== null;
}

// Resolves true once `proc` has exited, false if it is still running after `timeoutMs`.
function waitForExit(proc, timeoutMs) {
  if (hasExited(proc)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.removeListener('exit', onExit);
      resolve(false);
    }, timeoutMs);
    function onExit() {
      clearTimeout(timer);
      resolve(true);
    }
    proc.once('exit', onExit);
  });
}

// Keeps the last few KiB of a child's output: the pipes must be drained (a full pipe would
// block the vault), and the tail is what explains a failure.
function captureOutput(proc) {
  const out = { text: '' };
  const keep = (chunk) => {
    out.text = (out.text + chunk.toString('utf8')).slice(-16384);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  return out;
}

// Waits for a stdout line containing "listening" (the vault's readiness signal).
function waitForListening(proc, output, timeoutMs) {
  return new Promise((resolve, reject) => {
    let pending = '';
    const cleanup = () => {
      clearTimeout(timer);
      proc.stdout.removeListener('data', onData);
      proc.removeListener('exit', onExit);
      proc.removeListener('error', onError);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`coffre-vault not ready after ${timeoutMs} ms; output:\n${output.text}`));
    }, timeoutMs);
    function onData(chunk) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop();
      if (lines.some((l) => l.includes('listening'))) {
        cleanup();
        resolve();
      }
    }
    function onExit(code, signal) {
      cleanup();
      reject(new Error(`coffre-vault exited (${code ?? signal}) before listening; output:\n${output.text}`));
    }
    // A spawn failure (e.g. a missing binary) arrives as 'error', possibly without 'exit'.
    function onError(err) {
      cleanup();
      reject(new Error(`cannot run coffre-vault: ${err.message}`));
    }
    proc.stdout.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', onError);
  });
}

// A second, standalone vault reusing the stack's TLS certificate (issued for localhost by the
// stack's CA, so stack.ca_file trusts it too).
// `testClock`: start it with --test-clock (the owner may advance its clock, see advanceClock).
// `schedulerPeriodMs`: how often its rotation scheduler runs (the vault's default: 1000).
async function startVault(stack, { purgeProtection = false, retentionDays, testClock = false,
  schedulerPeriodMs } = {}) {
  const tmp = makeTempDir('coffre-vault-');
  const vaultDir = path.join(tmp, 'v');
  fs.mkdirSync(vaultDir, { mode: 0o700 }); // empty: the vault initialises it on first start
  const passphraseFile = path.join(tmp, 'passphrase');
  fs.writeFileSync(passphraseFile, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
  fs.chmodSync(passphraseFile, 0o600); // writeFileSync's mode is subject to the umask
  const tokenFile = path.join(tmp, 'owner-token');
  const port = await freePort();

  const args = [
    '--dir', vaultDir,
    '--listen', `127.0.0.1:${port}`,
    '--tls-cert', path.join(stack.dir, 'tls', 'server.pem'),
    '--tls-key', path.join(stack.dir, 'tls', 'server-key.pem'),
    '--passphrase-file', passphraseFile,
    '--owner-token-file', tokenFile,
  ];
  if (purgeProtection) args.push('--purge-protection');
  if (retentionDays !== undefined) args.push('--retention-days', String(retentionDays));
  if (testClock) args.push('--test-clock');
  if (schedulerPeriodMs !== undefined) args.push('--scheduler-period-ms', String(schedulerPeriodMs));

  const proc = spawn(path.join(binDir(), 'coffre-vault'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // A late 'error' (e.g. a failed kill) must not crash the test process as an unhandled event.
  proc.on('error', () => {});
  const output = captureOutput(proc);
  const vault = { url: `https://localhost:${port}`, token: null, caFile: stack.ca_file, proc, tmp, output };
  try {
    await waitForListening(proc, output, VAULT_READY_TIMEOUT_MS);
    vault.token = fs.readFileSync(tokenFile, 'utf8').trim();
    if (!vault.token) throw new Error(`${tokenFile} is empty`);
    return vault;
  } catch (err) {
    await stopVault(vault);
    throw err;
  }
}

async function stopVault(vault) {
  const { proc } = vault;
  try {
    if (proc.pid !== undefined && !hasExited(proc)) {
      proc.kill('SIGTERM');
      if (!(await waitForExit(proc, VAULT_STOP_GRACE_MS))) {
        proc.kill('SIGKILL');
        await waitForExit(proc, VAULT_STOP_GRACE_MS);
      }
    }
  } finally {
    removeDir(vault.tmp);
  }
}

// ---------------------------------------------------------------------------------------------
// SDK clients

// A TokenCredential without Entra ID: the vault maps the opaque bearer token to a principal.
// The expiry is far enough away that the SDK never refreshes during a test.
function credential(token) {
  return { getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }) };
}

const caCache = new Map();
function readCa(caFile) {
  if (!caCache.has(caFile)) caCache.set(caFile, fs.readFileSync(caFile));
  return caCache.get(caFile);
}

function clientOptions(caFile) {
  return {
    // localhost never ends with ".vault.azure.net" (the challenge resource).
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: [readCa(caFile)] },
    // A retry would hide the status under test and slow failures down.
    retryOptions: { maxRetries: 0 },
  };
}

function keyClient(url, token, caFile) {
  return new KeyClient(url, credential(token), clientOptions(caFile));
}

// `keyIdOrKey`: a versioned or versionless key URL, or a KeyVaultKey returned by the SDK.
function cryptoClient(keyIdOrKey, token, caFile) {
  return new CryptographyClient(keyIdOrKey, credential(token), clientOptions(caFile));
}

// ---------------------------------------------------------------------------------------------
// Raw HTTPS

function toPayload(body) {
  if (body === undefined || body === null) return null;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

// Sends one request on a fresh connection and resolves with {status, headers, json, text}.
// `path` gets ?api-version=7.5 unless it already has a query. Header names are lower case.
function rawRequest({ url, method = 'GET', path: reqPath, token, body, headers = {}, caFile }) {
  const origin = new URL(url);
  const fullPath = reqPath.includes('?') ? reqPath : `${reqPath}?api-version=${API_VERSION}`;
  const payload = toPayload(body);
  const reqHeaders = { accept: 'application/json' };
  if (payload) {
    reqHeaders['content-type'] = 'application/json';
    reqHeaders['content-length'] = String(payload.length);
  }
  if (token) reqHeaders.authorization = `Bearer ${token}`;
  Object.assign(reqHeaders, headers);

  return new Promise((resolve, reject) => {
    let settled = false;
    let response = null;
    const chunks = [];
    const settle = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const result = () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: response.statusCode, headers: response.headers, json, text };
    };

    const req = https.request(
      {
        hostname: origin.hostname,
        port: origin.port || 443,
        method,
        path: fullPath,
        headers: reqHeaders,
        ca: [readCa(caFile)],
        agent: false, // no keep-alive: each raw request stands alone
      },
      (res) => {
        response = res;
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => settle(null, result()));
        res.on('close', () => {
          if (res.complete) settle(null, result());
          else settle(new Error(`${method} ${fullPath}: response cut short (status ${res.statusCode})`));
        });
      },
    );
    // A server may answer early (e.g. 413) and close while the body is still being written:
    // once a response has arrived, that write error is not the outcome.
    req.on('error', (err) => {
      if (!response) settle(err);
    });
    const timer = setTimeout(() => {
      settle(new Error(`${method} ${fullPath}: no complete response within ${RAW_TIMEOUT_MS} ms`));
      req.destroy();
    }, RAW_TIMEOUT_MS);
    req.end(payload ?? undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// Admin API of coffre-vault (ours, not Azure's): principals and their key permissions.
// `vault` is {url, token, caFile} with the token of a principal holding admin (the owner).

function adminRequest(vault, method, reqPath, body) {
  return rawRequest({ url: vault.url, method, path: reqPath, token: vault.token, caFile: vault.caFile, body });
}

function expectStatus(res, status, what) {
  if (res.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.text}`);
  }
  return res;
}

function principalPath(name) {
  return `/coffre/principals/${encodeURIComponent(name)}`;
}

// Creates or replaces a principal's key permissions; the body carries "token" only when the
// principal is created or `rotateToken` is set.
async function setPrincipal(vault, name, keyPermissions, { rotateToken = false } = {}) {
  const query = rotateToken ? `?api-version=${API_VERSION}&rotateToken=true` : '';
  const res = await adminRequest(vault, 'PUT', principalPath(name) + query, {
    permissions: { keys: keyPermissions },
  });
  return expectStatus(res, 200, `PUT ${principalPath(name)}`).json;
}

async function getPrincipal(vault, name) {
  const res = await adminRequest(vault, 'GET', principalPath(name));
  return expectStatus(res, 200, `GET ${principalPath(name)}`).json;
}

async function listPrincipals(vault) {
  const res = await adminRequest(vault, 'GET', '/coffre/principals');
  return expectStatus(res, 200, 'GET /coffre/principals').json.value;
}

async function deletePrincipal(vault, name) {
  const res = await adminRequest(vault, 'DELETE', principalPath(name));
  expectStatus(res, 204, `DELETE ${principalPath(name)}`);
}

// Moves the test clock of a vault started with `testClock` on; resolves with its new state
// {now, offset_seconds}.
async function advanceClock(vault, seconds) {
  const res = await adminRequest(vault, 'POST', '/coffre/clock', { advance_seconds: seconds });
  return expectStatus(res, 200, 'POST /coffre/clock').json;
}

// A service SAS token as azure-iothub makes it (iothub-protocol.md §1.4).
function serviceToken(connectionString) {
  const parts = Object.fromEntries(connectionString.split(';').map((p) => {
    const i = p.indexOf('=');
    return [p.slice(0, i), p.slice(i + 1)];
  }));
  const se = Math.ceil(Date.now() / 1000) + 3600;
  const sig = crypto.createHmac('sha256', Buffer.from(parts.SharedAccessKey, 'base64'))
    .update(`${parts.HostName}\n${se}`).digest('base64');
  return `SharedAccessSignature sr=${parts.HostName}&sig=${encodeURIComponent(sig)}` +
    `&skn=${parts.SharedAccessKeyName}&se=${se}`;
}

// Every message of `deviceId` in the read API, partition by partition.
async function readBack(stack, deviceId) {
  const url = `https://localhost:${stack.https_port}`;
  const auth = { authorization: serviceToken(stack.service_connection_string) };
  const get = (p) => rawRequest({ url, path: p, caFile: stack.ca_file, headers: auth });
  const parts = await get('/telemetry/partitions?x=1');
  if (parts.status !== 200) throw new Error(`GET partitions: ${parts.status} ${parts.text}`);
  const found = [];
  for (const { id } of parts.json.partitions) {
    let from = 0;
    for (;;) {
      const page = await get(`/telemetry/partitions/${id}/messages?from=${from}&max=1000`);
      if (page.status !== 200) throw new Error(`GET messages: ${page.status} ${page.text}`);
      found.push(...page.json.messages.filter((m) => m.deviceId === deviceId));
      if (page.json.messages.length === 0) break;
      from = Number(page.json.nextOffset);
    }
  }
  return found;
}

// The stack that run_on_default_ports.sh started (COFFRE_STACK_DIR): its connection.json.
function runningStack() {
  const dir = process.env.COFFRE_STACK_DIR;
  if (!dir) throw new Error('COFFRE_STACK_DIR must name a running stack (see run_on_default_ports.sh)');
  return JSON.parse(fs.readFileSync(path.join(dir, 'connection.json'), 'utf8'));
}

module.exports = {
  freePort,
  runningStack,
  serviceToken,
  readBack,
  API_VERSION,
  startStack,
  stopStack,
  stackVault,
  startVault,
  stopVault,
  credential,
  keyClient,
  cryptoClient,
  rawRequest,
  setPrincipal,
  getPrincipal,
  listPrincipals,
  deletePrincipal,
  advanceClock,
};
