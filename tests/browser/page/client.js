// The page side of tests/browser/run.mjs: window.tern holds MQTT.js clients by name and offers promise-returning
// steps (connect, subscribe, publish, end, fetchFile) that the runner calls with page.evaluate; every message a
// client receives is kept in window.tern.received[name] for the runner to wait on. Classic scripts, not modules:
// mqtt.min.js defines the global `mqtt`.
'use strict';
(function () {
  const clients = {};
  const received = {};
  const events = [];

  function note(text) {
    events.push(text);
    console.log(text);
    document.getElementById('log').textContent += text + '\n';
  }

  function client_of(name) {
    const client = clients[name];
    if (!client) throw new Error('no client named ' + name);
    return client;
  }

  async function sha256_hex(buffer) {
    const digest = await crypto.subtle.digest('SHA-256', buffer);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // Resolves with the CONNACK's return/reason code; rejects on an error or a close before the CONNACK. No reconnect:
  // a failure must show, not be retried away.
  // protocolVersion 3 is MQTT 3.1 ("MQIsdp", WebSocket subprotocol mqttv3.1), 4 is 3.1.1 and 5 is 5.0.
  function connect(name, url, protocolVersion) {
    return new Promise((resolve, reject) => {
      let connected = false;
      const client = mqtt.connect(url, {
        protocolVersion,
        protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
        clientId: name,
        clean: true,
        keepalive: 30,
        connectTimeout: 10000,
        reconnectPeriod: 0,
      });
      clients[name] = client;
      received[name] = [];
      client.on('connect', (connack) => {
        connected = true;
        note(name + ': connected to ' + url + ' (MQTT protocol version ' + protocolVersion + ')');
        resolve(connack.returnCode ?? connack.reasonCode ?? 0);
      });
      client.on('error', (err) => {
        note(name + ': error: ' + err.message);
        if (!connected) reject(new Error(name + ': ' + err.message));
      });
      client.on('close', () => {
        note(name + ': connection closed');
        if (!connected) reject(new Error(name + ': connection to ' + url + ' closed before CONNACK'));
      });
      client.on('message', (topic, payload, packet) => {
        const text = new TextDecoder().decode(payload);
        note(name + ': received ' + payload.length + ' bytes on ' + topic + ' (QoS ' + packet.qos + ')');
        received[name].push({ topic, text, length: payload.length, qos: packet.qos, retain: packet.retain });
      });
    });
  }

  // Resolves with the granted QoS of each filter (the SUBACK).
  function subscribe(name, topic, qos) {
    return new Promise((resolve, reject) => {
      client_of(name).subscribe(topic, { qos }, (err, granted) => {
        if (err) return reject(new Error(name + ': subscribe ' + topic + ': ' + err.message));
        note(name + ': subscribed to ' + topic + ', granted ' + JSON.stringify(granted.map((g) => g.qos)));
        resolve(granted.map((g) => g.qos));
      });
    });
  }

  // Resolves once the broker acknowledged the message (PUBACK for QoS 1).
  function publish(name, topic, text, qos) {
    return new Promise((resolve, reject) => {
      client_of(name).publish(topic, text, { qos }, (err) => {
        if (err) return reject(new Error(name + ': publish ' + topic + ': ' + err.message));
        note(name + ': published ' + text.length + ' characters on ' + topic + ' (QoS ' + qos + ')');
        resolve(true);
      });
    });
  }

  function end(name) {
    return new Promise((resolve) => client_of(name).end(false, {}, () => resolve(true)));
  }

  // A GET of a file in the broker's http_dir as this page's fetch() sees it.
  async function fetchFile(path) {
    const response = await fetch(path, { cache: 'no-store' });
    const body = await response.arrayBuffer();
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      length: body.byteLength,
      sha256: await sha256_hex(body),
    };
  }

  window.tern = {
    ready: typeof mqtt === 'object' && typeof mqtt.connect === 'function',
    connect,
    subscribe,
    publish,
    end,
    fetchFile,
    received,
    events,
  };
  note(window.tern.ready ? 'page ready (MQTT.js loaded)' : 'MQTT.js did not load: no global mqtt.connect');
})();
