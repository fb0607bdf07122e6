'use strict';
// The soak's twin-patching devices (tests/soak/soak.py): each, until the deadline, connects over
// MQTT with the unmodified Azure device SDK, reads its twin, patches its reported properties,
// disconnects, and waits 0.5 to 3 s. Errors (the customer key disabled, say) are counted and the
// device tries again. Prints one JSON line at the end.
//   node twin_patchers.js CA_FILE DEVICES_FILE SECONDS   (DEVICES_FILE: "id connection-string" lines)

const fs = require('node:fs');
const { Client } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { NoRetry } = require('azure-iot-common');

const [caFile, devicesFile, seconds] = process.argv.slice(2);
const ca = fs.readFileSync(caFile, 'utf8');
const deadline = Date.now() + Number(seconds) * 1000;
const devices = fs.readFileSync(devicesFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const figures = { patches: 0, errors: 0 };

async function patchOnce(cs, n) {
  const client = Client.fromConnectionString(cs, Mqtt);
  client.setRetryPolicy(new NoRetry());
  try {
    await client.setOptions({ ca });
    await client.open();
    const twin = await client.getTwin();
    await new Promise((resolve, reject) => twin.properties.reported.update(
      { soak: { n, at: new Date().toISOString() } }, (err) => (err ? reject(err) : resolve())));
    figures.patches++;
  } finally {
    await client.close().catch(() => {});
  }
}

async function device([, cs]) {
  let n = 0;
  while (Date.now() < deadline) {
    try {
      await patchOnce(cs, n++);
    } catch {
      figures.errors++;
    }
    await sleep(500 + Math.random() * 2500);
  }
}

Promise.all(devices.map(device)).then(() => {
  console.log(JSON.stringify(figures));
  process.exit(0);
});
