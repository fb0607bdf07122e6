'use strict';
// An unmodified Azure IoT device SDK (MQTT over TLS) sends COUNT messages and exits 0 once each
// was acknowledged:  node send_device.js CONNECTION_STRING CA_FILE COUNT
const fs = require('node:fs');
const { Client, Message } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');

async function main() {
  const [connectionString, caFile, count] = process.argv.slice(2);
  const client = Client.fromConnectionString(connectionString, Mqtt);
  await client.setOptions({ ca: fs.readFileSync(caFile, 'utf8') });
  await client.open();
  for (let i = 0; i < Number(count); i++) {
    await client.sendEvent(new Message(JSON.stringify({ packaged: i })));
  }
  await client.close();
}

const deadline = setTimeout(() => { console.error('send_device: no answer in 60 s'); process.exit(1); }, 60000);
main().then(() => { clearTimeout(deadline); process.exit(0); },
  (err) => { console.error(`send_device: ${err.stack || err}`); process.exit(1); });
