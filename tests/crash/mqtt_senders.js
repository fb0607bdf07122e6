// Devices sending numbered telemetry over MQTT (or AMQP) with the Azure device SDK, for
// crash_harness.py, which drives this process through stdin and reads what it prints:
//   "start CONNECTION_STRING DEVICE FIRST [amqp|twin]"  DEVICE sends FIRST, FIRST+1, ... one at
//                                            a time, over AMQP if asked (the SDK dials 5671); with
//                                            "twin", over MQTT as reported-property patches
//                                            {r<N % 4>: N} instead of telemetry
//   "pause"                                  every device stops once its send in flight ends
// It prints "acked DEVICE N" when message N's PUBACK came back (or patch N's 204), and "paused"
// once every device has stopped and closed. The SDK's own retries are off: a message whose send
// fails is not sent again (it may or may not be stored), the device reconnects and goes on with
// the next number.
// usage: node mqtt_senders.js CA_FILE   (NODE_PATH: tests/compat/node_modules)
"use strict";
const fs = require("fs");
const readline = require("readline");
const { Client, Message } = require("azure-iot-device");
const { Mqtt } = require("azure-iot-device-mqtt");
const { Amqp } = require("azure-iot-device-amqp");
const { NoRetry } = require("azure-iot-common");

const ca = fs.readFileSync(process.argv[2], "utf8");
const running = new Map(); // device -> { stop, done }
const TWIN_KEYS = 4;         // as state_workloads.py reads them
const TWIN_TIMEOUT_MS = 3000;  // a patch the hub is slow to answer is given up

// The SDK does not fail a twin request when the connection drops (it waits for an answer that
// will not come): `lost` rejects once the client says it disconnected, or after `ms`.
function answered(promise, lost, ms) {
  let timer;
  return Promise.race([promise, lost, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

async function run(cs, device, first, state, Transport, patchTwin) {
  let client = null;
  let twin = null;
  let lost = null;
  let n = first;
  while (!state.stop) {
    try {
      if (client === null) {
        client = Client.fromConnectionString(cs, Transport);
        client.setRetryPolicy(new NoRetry());
        client.on("error", () => {});
        lost = new Promise((_, reject) => client.on("disconnect",
          () => reject(new Error("disconnected"))));
        lost.catch(() => {});
        await client.setOptions({ ca });
        await client.open();
        if (patchTwin) twin = await answered(client.getTwin(), lost, TWIN_TIMEOUT_MS);
      }
      const number = n++;
      if (patchTwin) {
        // Given up after the timeout: never sent again; a late answer is not an acknowledgement.
        await answered(new Promise((resolve, reject) => twin.properties.reported.update(
          { [`r${number % TWIN_KEYS}`]: number }, (err) => (err ? reject(err) : resolve()))),
        lost, TWIN_TIMEOUT_MS);
      } else {
        await client.sendEvent(new Message(JSON.stringify({ device, n: number })));
      }
      console.log(`acked ${device} ${number}`);
    } catch (e) {
      if (client !== null) {
        await client.close().catch(() => {});
        client = null;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (client !== null) await client.close().catch(() => {});
  console.log(`next ${device} ${n}`);
}

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const [command, ...args] = line.split(" ");
  if (command === "start") {
    const [cs, device, first, transport] = args;
    const state = { stop: false };
    state.done = run(cs, device, Number(first), state, transport === "amqp" ? Amqp : Mqtt,
      transport === "twin");
    running.set(device, state);
  } else if (command === "pause") {
    for (const state of running.values()) state.stop = true;
    await Promise.all([...running.values()].map((s) => s.done));
    running.clear();
    console.log("paused");
  }
});
