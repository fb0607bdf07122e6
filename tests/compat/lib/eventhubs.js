'use strict';
// Helpers for the Event Hubs-compatible endpoint's tests: trust in the stack's CA for every TLS
// connection of the process (rhea, ws and mqtt.js all call tls.connect; require this module before
// the SDKs), connection strings as maps, and SAS tokens in both signing conventions.

const crypto = require('node:crypto');
const tls = require('node:tls');

let trustedCa = null;
const originalConnect = tls.connect;
tls.connect = function connect(...args) {
  // connect(options, cb) or, as rhea calls it, connect(port, host, options, cb).
  const at = args.findIndex((a) => a && typeof a === 'object');
  if (trustedCa && at >= 0 && !args[at].ca) args[at] = { ...args[at], ca: trustedCa };
  return originalConnect.apply(this, args);
};

// From now on, TLS connections without a CA of their own trust `pem`.
function trustCa(pem) {
  trustedCa = pem;
}

// tls.connect as it was, for raw sockets.
function rawTlsConnect(options, callback) {
  return originalConnect({ ca: trustedCa, ...options }, callback);
}

function parse(cs) {
  return Object.fromEntries(cs.split(';').filter(Boolean).map((kv) => {
    const at = kv.indexOf('=');
    return [kv.slice(0, at), kv.slice(at + 1)];
  }));
}

function token(sr, key, policy, expiry) {
  const sig = crypto.createHmac('sha256', key).update(`${sr}\n${expiry}`).digest('base64');
  return `SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=${expiry}&skn=${policy}`;
}

// As @azure/event-hubs signs: the key's text is the HMAC key.
function ehToken(audience, key, policy, expiry) {
  return token(encodeURIComponent(audience), key, policy, expiry);
}

// As the IoT SDKs sign: the base64-decoded key.
function iotToken(resource, keyB64, policy, expiry) {
  return token(encodeURIComponent(resource), Buffer.from(keyB64, 'base64'), policy, expiry);
}

module.exports = { trustCa, rawTlsConnect, parse, ehToken, iotToken };
