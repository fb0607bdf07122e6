'use strict';
// Issue 15 (b): the unmodified azure-iothub service Client over AMQP (port 5671) and AMQP over
// WebSocket (443): Client.send puts C2D messages into the devices' queues, getFeedbackReceiver
// reads what became of them, and the hub's refusals reach the SDK as its typed errors. Runs on
// the stack run_on_default_ports.sh started (the SDK's ports are fixed).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');

const { Client: ServiceClient, Amqp: ServiceAmqp, AmqpWs: ServiceAmqpWs } = require('azure-iothub');
const { Message } = require('azure-iot-common');
const { Mqtt } = require('azure-iot-device-mqtt');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const h = require('./lib/iothub.js');

const TEST = { timeout: 60_000 };

// Resolves with the next C2D message the device client receives. The listener stays: the device
// SDK detaches its C2D link when the last 'message' listener goes.
function listen(client) {
  if (!client.inbox) {
    client.inbox = { messages: [], waiters: [] };
    client.on('message', (m) => {
      const w = client.inbox.waiters.shift();
      if (w) w(m); else client.inbox.messages.push(m);
    });
  }
}

function nextMessage(client) {
  listen(client);
  if (client.inbox.messages.length > 0) return Promise.resolve(client.inbox.messages.shift());
  return new Promise((resolve) => client.inbox.waiters.push(resolve));
}

// Collects feedback records from the SDK's feedback receiver until `want` is satisfied.
function feedbackFor(receiver, messageId) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no feedback for ${messageId}`)), 30_000);
    const onMessage = (msg) => {
      const records = JSON.parse(msg.data.toString());
      assert.equal(msg.contentType, 'application/vnd.microsoft.iothub.feedback.json');
      const mine = records.find((r) => r.originalMessageId === messageId);
      if (mine) {
        clearTimeout(timer);
        receiver.removeListener('message', onMessage);
        resolve(mine);
      }
    };
    receiver.on('message', onMessage);
  });
}

async function serviceClient(stack, Transport) {
  const client = ServiceClient.fromConnectionString(stack.service_connection_string, Transport);
  await client.open();
  return client;
}

for (const [name, Transport] of [['AMQPS', ServiceAmqp], ['AMQP-WS', ServiceAmqpWs]]) {
  describe(`azure-iothub Client over ${name}`, () => {
    const { stack, open } = h.useRunningStack();

    it('send delivers C2D to an MQTT device and the feedback receiver gets the completion', TEST, async () => {
      const id = h.uniqueId('c2d-mqtt');
      const identity = await h.createDevice(stack, id);
      const device = await open(identity, Mqtt);
      const service = await serviceClient(stack, Transport);
      try {
        const { result: feedback } = await service.getFeedbackReceiver();
        const arriving = nextMessage(device);
        const msg = new Message(JSON.stringify({ cmd: 'reboot' }));
        msg.messageId = `mid-${id}`;
        msg.correlationId = 'b5a5c4b6-36a4-4a0e-8a3f-0c6b0d8d1e2f';  // uuid-shaped: sent as AMQP uuid
        msg.ack = 'full';
        msg.properties.add('color', 'blue');
        await service.send(id, msg);
        const got = await arriving;
        assert.equal(got.data.toString(), JSON.stringify({ cmd: 'reboot' }));
        assert.equal(got.messageId, `mid-${id}`);
        assert.equal(got.correlationId, 'b5a5c4b6-36a4-4a0e-8a3f-0c6b0d8d1e2f');
        assert.equal(got.properties.getValue('color'), 'blue');
        const seen = feedbackFor(feedback, `mid-${id}`);
        await device.complete(got);
        const record = await seen;
        assert.equal(record.statusCode, 'Success');
        assert.equal(record.deviceId, id);
        // A uuid message id is stored and reported as canonical lower-case text.
        const uuid = '0F8FAD5B-D9CB-469F-A165-70867728950E'.toLowerCase();
        const arriving2 = nextMessage(device);
        const msg2 = new Message('two');
        msg2.messageId = uuid;
        msg2.ack = 'positive';
        await service.send(id, msg2);
        const got2 = await arriving2;
        assert.equal(got2.messageId, uuid);
        const seen2 = feedbackFor(feedback, uuid);
        await device.complete(got2);
        assert.equal((await seen2).statusCode, 'Success');
      } finally {
        await service.close();
      }
    });

    it('send delivers C2D to an AMQP device, which completes one and rejects another', TEST, async () => {
      const id = h.uniqueId('c2d-amqp');
      const identity = await h.createDevice(stack, id);
      const device = await open(identity, name === 'AMQPS' ? Amqp : AmqpWs);
      listen(device);  // the SDK attaches its C2D link for the first 'message' listener
      const service = await serviceClient(stack, Transport);
      try {
        const { result: feedback } = await service.getFeedbackReceiver();
        const arriving = nextMessage(device);
        const msg = new Message('hello amqp device');
        msg.messageId = `one-${id}`;
        msg.ack = 'full';
        msg.properties.add('k', 'v');
        await service.send(id, msg);
        const got = await arriving;
        assert.equal(got.data.toString(), 'hello amqp device');
        assert.equal(got.messageId, `one-${id}`);
        assert.equal(got.properties.getValue('k'), 'v');
        const done = feedbackFor(feedback, `one-${id}`);
        await device.complete(got);
        assert.equal((await done).statusCode, 'Success');

        const arriving2 = nextMessage(device);
        const msg2 = new Message('reject me');
        msg2.messageId = `two-${id}`;
        msg2.ack = 'negative';
        await service.send(id, msg2);
        const got2 = await arriving2;
        const rejected = feedbackFor(feedback, `two-${id}`);
        await device.reject(got2);
        assert.equal((await rejected).statusCode, 'Rejected');
      } finally {
        await service.close();
      }
    });

    it('refusals: an unknown device, a message over 64 KiB', TEST, async () => {
      const service = await serviceClient(stack, Transport);
      try {
        await assert.rejects(service.send(h.uniqueId('nobody'), new Message('x')), (err) => {
          assert.equal(err.constructor.name, 'DeviceNotFoundError', err.message);
          return true;
        });
        const id = h.uniqueId('big');
        await h.createDevice(stack, id);
        await assert.rejects(service.send(id, new Message(Buffer.alloc(65 * 1024, 0x61))), (err) => {
          assert.equal(err.constructor.name, 'MessageTooLargeError', err.message);
          return true;
        });
        // The client goes on working after the refusals.
        await service.send(id, new Message('small'));
      } finally {
        await service.close();
      }
    });
  });
}
