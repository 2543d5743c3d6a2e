// Tern's real-browser test: Debian's chromium, headless and driven by playwright-core, loads page/index.html from
// the broker's own http_dir and uses MQTT.js (the npm package's browser bundle) over ws:// and wss:// with MQTT
// 3.1, 3.1.1 and 5.0; mosquitto_pub / mosquitto_sub on the broker's TCP listener check that messages go both ways,
// a short one and one of 100 kB (a WebSocket frame with a 64-bit length, or several frames) each way.
//
//   node run.mjs --broker PATH [--work-dir DIR] [--broker-kind tern|mosquitto] [--no-tls]
//                [--chromium PATH] [--timeout SECONDS]
//
// The broker listens on 127.0.0.1, port 0 (Tern logs "listening on 127.0.0.1:PORT" with " (WebSocket)" or
// " (WebSocket, TLS)" after it; those lines give the ports): MQTT over TCP, websockets with http_dir, websockets
// with certfile/keyfile (made by tests/unit/tls/make_test_certs.sh), and, Tern only, websockets with
// websockets_compression (permessage-deflate, which chromium offers). chromium's DevTools protocol shows each
// upgrade's answer: its subprotocol and extensions are checked. --broker-kind mosquitto (or
// TERN_TEST_BROKER=mosquitto) runs the same checks against Debian's mosquitto, which needs fixed ports (free ones
// are picked) and sends no Content-Type (shown, not checked). Everything lives in a fresh directory under the work
// dir, kept on failure (broker.log, browser.log) and removed on success. Exit 0 only when every check passed; every
// wait has a deadline, and --timeout (90 s) bounds the whole run, after which the broker and the browser are
// stopped and the test fails.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const step_timeout_ms = 15000;

// ---------------------------------------------------------------------------------------------------------------
// Arguments, failures, clean-up

function parse_args(argv) {
  const opts = {
    broker: null,
    workDir: os.tmpdir(),
    kind: process.env.TERN_TEST_BROKER === 'mosquitto' ? 'mosquitto' : 'tern',
    tls: true,
    chromium: process.env.TERN_CHROMIUM || '/usr/bin/chromium',
    timeout: 90,
  };
  for (let i = 0; i < argv.length; ++i) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail_usage(arg + ' needs a value');
      return argv[++i];
    };
    if (arg === '--broker') opts.broker = value();
    else if (arg === '--work-dir') opts.workDir = value();
    else if (arg === '--broker-kind') opts.kind = value();
    else if (arg === '--no-tls') opts.tls = false;
    else if (arg === '--chromium') opts.chromium = value();
    else if (arg === '--timeout') opts.timeout = Number(value());
    else fail_usage('unknown argument ' + arg);
  }
  if (opts.kind === 'mosquitto' && !opts.broker) opts.broker = '/usr/sbin/mosquitto';
  if (!opts.broker) fail_usage('--broker PATH is required');
  if (opts.kind !== 'tern' && opts.kind !== 'mosquitto') fail_usage('--broker-kind is tern or mosquitto');
  if (!(opts.timeout > 0)) fail_usage('--timeout takes a number of seconds');
  return opts;
}

function fail_usage(message) {
  console.log('run.mjs: ' + message);
  console.log('usage: node run.mjs --broker PATH [--work-dir DIR] [--broker-kind tern|mosquitto] [--no-tls] ' +
                '[--chromium PATH] [--timeout SECONDS]');
  process.exit(2);
}

class CheckFailed extends Error {}

const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1).padStart(5) + ' s';
let passed = 0;
function check(condition, what, detail = '') {
  if (!condition) throw new CheckFailed(what + (detail ? ': ' + detail : ''));
  ++passed;
  console.log('ok   ' + elapsed() + '  ' + what);
}

// Rejects after ms with a message naming what was awaited.
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(what + ': no answer within ' + ms / 1000 + ' s')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// process.exit() can cut off what is still queued for a pipe (ctest reads one).
async function flush_and_exit(code) {
  await new Promise((resolve) => process.stdout.write('', resolve));
  process.exit(code);
}

const children = new Set();  // broker, mosquitto_sub/pub: killed by cleanup()
let browser_context = null;
let cleaning = null;

// Once, however many failures ask for it (the overall deadline and the step it interrupted).
function cleanup() {
  cleaning ??= stop_everything();
  return cleaning;
}

async function stop_everything() {
  if (browser_context) {
    // Playwright kills the browser when node exits, should close() hang.
    await within(10000, 'closing the browser', browser_context.close()).catch((e) => console.log(e.message));
  }
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill('SIGTERM');
    const exited = await within(5000, 'stopping ' + child.spawnfile, new Promise((r) => child.once('exit', r)))
      .then(() => true, () => false);
    if (!exited) child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Prerequisites: each missing one is a failure that says how to get it (scripts/install-deps.sh test installs
// chromium, node and npm, and runs npm ci here).

async function load_playwright() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 18) throw new CheckFailed('node ' + process.versions.node + ' is too old: playwright-core needs 18+');
  if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core')) ||
      !fs.existsSync(path.join(here, 'node_modules', 'mqtt', 'dist', 'mqtt.min.js'))) {
    throw new CheckFailed('tests/browser/node_modules is missing or incomplete: run `npm ci` in tests/browser ' +
                          '(scripts/install-deps.sh test does)');
  }
  return (await import('playwright-core')).chromium;
}

function require_tools(opts) {
  if (!fs.existsSync(opts.broker)) throw new CheckFailed('no broker at ' + opts.broker);
  const missing = [];
  if (!fs.existsSync(opts.chromium)) missing.push(opts.chromium + " (Debian's chromium)");
  for (const tool of ['mosquitto_pub', 'mosquitto_sub', 'openssl']) {
    if (spawnSync('sh', ['-c', 'command -v ' + tool], { stdio: 'ignore' }).status !== 0) missing.push(tool);
  }
  if (missing.length) {
    throw new CheckFailed('missing: ' + missing.join(', ') + ' (scripts/install-deps.sh test installs them)');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The broker

function free_port() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function can_connect(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

// The listeners, in config order. kind is how Tern's log names each ("listening on 127.0.0.1:PORT" followed by
// nothing, " (WebSocket)" or " (WebSocket, TLS)"); Tern announces its listeners in config order, so two of a kind
// are told apart by their order.
function listeners_for(opts, http_dir, certs) {
  const list = [{ name: 'tcp', kind: 'tcp', lines: [] },
                { name: 'ws', kind: 'ws', lines: ['protocol websockets', 'http_dir ' + http_dir] }];
  if (certs) {
    list.push({ name: 'wss', kind: 'wss', lines: ['protocol websockets', 'certfile ' + path.join(certs, 'server.crt'),
                                                  'keyfile ' + path.join(certs, 'server.key')] });
  }
  // Tern's own directive (mosquitto 2.0 has no such setting): permessage-deflate, which chromium offers.
  if (opts.kind === 'tern') {
    list.push({ name: 'wsz', kind: 'ws', lines: ['protocol websockets', 'websockets_compression true'] });
  }
  return list;
}

// Returns { ports: { NAME: PORT }, log_path } once the broker listens on every listener.
async function start_broker(opts, dir, listeners) {
  const config_path = path.join(dir, 'broker.conf');
  const log_path = path.join(dir, 'broker.log');
  const mosquitto = opts.kind === 'mosquitto';
  const fixed = {};
  for (const l of listeners) fixed[l.name] = mosquitto ? await free_port() : 0;
  const lines = ['log_dest stderr', 'log_type all', 'allow_anonymous true'];
  // Started as root, mosquitto would switch to its own user, which cannot read this run's private directory.
  if (mosquitto) lines.push('user ' + os.userInfo().username);
  for (const l of listeners) lines.push('', 'listener ' + fixed[l.name] + ' 127.0.0.1', ...l.lines);
  fs.writeFileSync(config_path, lines.join('\n') + '\n');

  const log_fd = fs.openSync(log_path, 'a');
  const broker = spawn(opts.broker, ['-c', config_path], { stdio: ['ignore', log_fd, log_fd] });
  fs.closeSync(log_fd);
  children.add(broker);
  let spawn_error = null;
  broker.once('error', (e) => { spawn_error = e; });
  const deadline = Date.now() + step_timeout_ms;
  for (;;) {
    if (spawn_error) throw new CheckFailed('cannot start ' + opts.broker + ': ' + spawn_error.message);
    if (broker.exitCode !== null || broker.signalCode !== null) {
      throw new CheckFailed('the broker exited during start-up (' + (broker.exitCode ?? broker.signalCode) +
                            '); log:\n' + fs.readFileSync(log_path, 'utf8'));
    }
    let ports = null;
    if (mosquitto) {
      const up = await Promise.all(listeners.map((l) => can_connect(fixed[l.name])));
      if (up.every(Boolean)) ports = fixed;
    } else {
      ports = ports_from_log(fs.readFileSync(log_path, 'utf8'), listeners);
    }
    if (ports) {
      console.log('broker ' + opts.broker + ' (pid ' + broker.pid + '): ' +
                  listeners.map((l) => l.name + ' ' + ports[l.name]).join(', '));
      return { ports, log_path };
    }
    if (Date.now() > deadline) {
      throw new CheckFailed('the broker did not listen on ' + listeners.map((l) => l.name).join(', ') +
                            ' within ' + step_timeout_ms / 1000 + ' s; log:\n' + fs.readFileSync(log_path, 'utf8'));
    }
    await sleep(50);
  }
}

// The ports of Tern's "listening on" lines, matched to the listeners by kind and order; null until all are there.
function ports_from_log(text, listeners) {
  const by_kind = { tcp: [], ws: [], wss: [], other: [] };
  for (const m of text.matchAll(/listening on 127\.0\.0\.1:(\d+)(?: \(([^)]*)\))?/g)) {
    const suffix = (m[2] || '').toLowerCase();
    const kind = suffix.includes('websocket') ? (suffix.includes('tls') ? 'wss' : 'ws') : suffix ? 'other' : 'tcp';
    by_kind[kind].push(Number(m[1]));
  }
  const ports = {};
  for (const l of listeners) {
    const port = by_kind[l.kind].shift();
    if (port === undefined) return null;
    ports[l.name] = port;
  }
  return ports;
}

// ---------------------------------------------------------------------------------------------------------------
// The TCP side: mosquitto_pub and mosquitto_sub

function run_tool(tool, args, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new CheckFailed(tool + ' took over ' + ms / 1000 + ' s: ' + out));
    }, ms);
    child.once('error', (e) => { clearTimeout(timer); reject(new CheckFailed(tool + ': ' + e.message)); });
    child.once('exit', (code) => { clearTimeout(timer); children.delete(child); resolve({ code, out }); });
  });
}

// mosquitto_sub -d: resolves once it has had its SUBACK; .done resolves with every message line and PUBLISH QoS seen.
async function start_sub(port, version, filter, count) {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-q', '1', '-d', '-v', '-t', filter,
                '-C', String(count), '-W', String(step_timeout_ms / 1000)];
  // stdbuf: mosquitto_sub's debug lines (the SUBACK waited for here) are not flushed by it into a pipe.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let on_data = () => {};
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { out += d; on_data(); });
  child.stderr.on('data', (d) => { out += d; on_data(); });
  const done = new Promise((resolve) => child.once('exit', (code) => {
    children.delete(child);
    resolve({ code, out });
  }));
  await within(step_timeout_ms, 'mosquitto_sub ' + filter + ' subscribing', new Promise((resolve, reject) => {
    on_data = () => { if (/Subscribed \(mid/.test(out)) resolve(); };
    on_data();
    done.then(({ code }) => reject(new CheckFailed('mosquitto_sub exited (' + code + ') before its SUBACK: ' + out)));
  }));
  return { done };
}

// ---------------------------------------------------------------------------------------------------------------
// The checks

// A payload above 65535 bytes: a WebSocket frame with a 64-bit length, split over many TCP segments. Printable
// ASCII in a pattern that shows a dropped or reordered piece.
function big_payload(seed) {
  let s = '';
  for (let i = 0; s.length < 100000; ++i) s += seed + ':' + i.toString(36) + ';';
  return s;
}

const digest = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);

// The served files as the page sees them. Content types are checked against Tern only: mosquitto 2.0 sends none
// (the browser sniffs), and is shown.
async function check_http(page, base_url, http_dir, strict_types) {
  const type_is = (what, type, wanted) => {
    if (strict_types) check(type !== null && wanted.test(type), 'http_dir: ' + what + ' is served as ' + wanted, type);
    else console.log('info Content-Type of ' + what + ': ' + (type || '(none)'));
  };
  const response = await within(step_timeout_ms, 'loading ' + base_url + '/index.html',
                                page.goto(base_url + '/index.html', { timeout: step_timeout_ms }));
  check(response && response.status() === 200, 'http_dir: GET /index.html answers 200',
        response ? 'status ' + response.status() : 'no response');
  type_is('index.html', response.headers()['content-type'] || null, /^text\/html/);
  await within(step_timeout_ms, 'the page running its scripts (mqtt.min.js, client.js)',
               page.waitForFunction(() => window.tern !== undefined, null, { timeout: step_timeout_ms }));
  check(await page.evaluate(() => window.tern.ready), 'http_dir: the page ran mqtt.min.js and client.js');

  for (const [file, wanted] of [['mqtt.min.js', /^(text|application)\/javascript/], ['probe/data.bin', /./]]) {
    const bytes = fs.readFileSync(path.join(http_dir, file));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const got = await within(step_timeout_ms, 'fetching ' + file, page.evaluate((p) => window.tern.fetchFile(p), file));
    check(got.status === 200 && got.length === bytes.length && got.sha256 === sha256,
          'http_dir: ' + file + ' arrives intact (' + bytes.length + ' bytes)', JSON.stringify(got));
    type_is(file, got.contentType, wanted);
  }
  const missing = await within(step_timeout_ms, 'fetching a missing file',
                               page.evaluate((p) => window.tern.fetchFile(p), 'no-such-file.txt'));
  check(missing.status === 404, 'http_dir: a missing file answers 404', 'status ' + missing.status);
}

// The WebSocket handshakes chromium made, as its DevTools protocol reports them: { url, status, headers }.
const handshakes = new Map();

async function watch_handshakes(context, page) {
  const cdp = await context.newCDPSession(page);
  cdp.on('Network.webSocketCreated', (e) => handshakes.set(e.requestId, { url: e.url, used: false }));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const h = handshakes.get(e.requestId);
    if (!h) return;
    h.status = e.response.status;
    h.headers = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
  });
  await cdp.send('Network.enable');
}

// The newest answered handshake to url not looked at yet.
async function handshake_to(url) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const h = [...handshakes.values()].reverse().find((x) => !x.used && x.headers && x.url.startsWith(url));
    if (h) {
      h.used = true;
      return h;
    }
    if (Date.now() > deadline) throw new CheckFailed('chromium reported no WebSocket handshake with ' + url);
    await sleep(20);
  }
}

const version_names = { 3: '3.1', 4: '3.1.1', 5: '5.0' };
const tool_versions = { 3: 'mqttv31', 4: 'mqttv311', 5: 'mqttv5' };

// One browser client on transport.url: messages from mosquitto_pub reach it, and its own reach mosquitto_sub.
// transport.deflate: whether permessage-deflate must be agreed (true), must not be (false) or is only shown (null).
async function check_mqtt(page, dir, tcp_port, transport, version, run_id) {
  const { url } = transport;
  const name = 'browser-' + transport.name + '-v' + version + '-' + run_id;  // MQTT 3.1: 23 characters at most
  const label = transport.label + ' MQTT ' + version_names[version];
  const base = 'tern-browser/' + run_id + '/' + transport.name + '-v' + version;
  const tool_version = tool_versions[version];
  const evaluate = (what, fn, arg) => within(step_timeout_ms, label + ': ' + what, page.evaluate(fn, arg));

  const code = await evaluate('CONNECT', ([n, u, v]) => window.tern.connect(n, u, v), [name, url, version]);
  check(code === 0, label + ': the browser connects to ' + url, 'CONNACK code ' + code);
  const handshake = await handshake_to(url);
  const subprotocol = handshake.headers['sec-websocket-protocol'];
  const wanted_subprotocol = version === 3 ? 'mqttv3.1' : 'mqtt';
  check(handshake.status === 101 && subprotocol === wanted_subprotocol,
        label + ': the upgrade answers 101 with subprotocol ' + wanted_subprotocol,
        handshake.status + ', Sec-WebSocket-Protocol: ' + subprotocol);
  const extensions = handshake.headers['sec-websocket-extensions'] || '';
  if (transport.deflate === null) {
    console.log('info ' + label + ': Sec-WebSocket-Extensions: ' + (extensions || '(none)'));
  } else {
    check(extensions.includes('permessage-deflate') === transport.deflate,
          label + (transport.deflate ? ': permessage-deflate is agreed' : ': no extension is agreed'),
          'Sec-WebSocket-Extensions: ' + (extensions || '(none)'));
  }
  const granted = JSON.stringify(await evaluate('SUBSCRIBE', ([n, t]) => window.tern.subscribe(n, t, 1),
                                                [name, base + '/to-browser/#']));
  check(granted === '[1]', label + ': the browser subscribes at QoS 1', 'granted ' + granted);

  // TCP -> browser
  const small_in = 'from mosquitto_pub to chromium, ' + label + ' ✓ ' + run_id;
  const big_in = big_payload('in-' + transport + version);
  const big_file = path.join(dir, name + '.txt');
  fs.writeFileSync(big_file, big_in);
  const pubs = [['-m', small_in, '-t', base + '/to-browser/small'], ['-f', big_file, '-t', base + '/to-browser/big']];
  for (const args of pubs) {
    const { code: rc, out } = await run_tool('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tcp_port), '-V',
                                             tool_version, '-q', '1', ...args], step_timeout_ms);
    check(rc === 0, label + ': mosquitto_pub on TCP publishes ' + args[3], 'exit ' + rc + ': ' + out);
  }
  fs.rmSync(big_file, { force: true });
  await within(step_timeout_ms, label + ': both messages reaching the browser',
               page.waitForFunction((n) => window.tern.received[n].length >= 2, name, { timeout: step_timeout_ms }))
    .catch(async (e) => {
      const topics = await page.evaluate((n) => window.tern.received[n].map((m) => m.topic), name);
      throw new CheckFailed(e.message + '; the browser has: ' + JSON.stringify(topics));
    });
  const inbox = await page.evaluate((n) => window.tern.received[n], name);
  const small = inbox.find((m) => m.topic === base + '/to-browser/small');
  const big = inbox.find((m) => m.topic === base + '/to-browser/big');
  check(small && small.text === small_in && small.qos === 1, label + ': the browser receives the message (QoS 1)',
        JSON.stringify(small));
  check(big && big.length === big_in.length && big.text === big_in && big.qos === 1,
        label + ': the browser receives a ' + big_in.length + '-byte message intact',
        big ? 'got ' + big.length + ' bytes, sha256 ' + digest(big.text) + ' for ' + digest(big_in) : 'none');

  // browser -> TCP
  const sub = await start_sub(tcp_port, tool_version, base + '/from-browser/#', 2);
  const small_out = 'from chromium to mosquitto_sub, ' + label + ' ✓ ' + run_id;
  const big_out = big_payload('out-' + transport + version);
  for (const [topic, text] of [[base + '/from-browser/small', small_out], [base + '/from-browser/big', big_out]]) {
    await evaluate('PUBLISH ' + topic, ([n, t, x]) => window.tern.publish(n, t, x, 1), [name, topic, text]);
    check(true, label + ': the browser publishes ' + topic + ' at QoS 1 and gets its PUBACK');
  }
  const { code: sub_code, out } = await within(step_timeout_ms + 5000, label + ': mosquitto_sub', sub.done);
  const lines = out.split('\n');
  const body = (topic) => {
    const line = lines.find((l) => l.startsWith(topic + ' '));
    return line === undefined ? undefined : line.slice(topic.length + 1);
  };
  // -d shows each PUBLISH as "Client ... received PUBLISH (d0, q1, r0, m1, 'TOPIC', ... (N bytes))".
  const qos_of = (topic) => {
    const line = lines.find((l) => l.includes('received PUBLISH (') && l.includes("'" + topic + "'"));
    return line === undefined ? undefined : (line.match(/\(d\d, q(\d)/) || [])[1];
  };
  check(sub_code === 0, label + ': mosquitto_sub on TCP gets both messages', 'exit ' + sub_code + ':\n' +
        out.slice(0, 3000));
  const small_topic = base + '/from-browser/small';
  check(body(small_topic) === small_out && qos_of(small_topic) === '1',
        label + ': mosquitto_sub receives the browser\'s message (QoS 1)',
        'got ' + JSON.stringify(body(small_topic)) + ' at QoS ' + qos_of(small_topic));
  const got_big = body(base + '/from-browser/big');
  check(got_big === big_out,
        label + ': mosquitto_sub receives the browser\'s ' + big_out.length + '-byte message intact',
        got_big === undefined ? 'none' : 'got ' + got_big.length + ' bytes, sha256 ' + digest(got_big));

  await evaluate('DISCONNECT', (n) => window.tern.end(n), name);
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const opts = parse_args(process.argv.slice(2));
  let run_dir = null;
  let page_log = [];
  let broker = null;
  let failed = false;  // the first failure is the one reported; what it interrupts then fails too, quietly
  const overall = setTimeout(async () => {
    failed = true;
    console.log('FAIL the whole run took over ' + opts.timeout + ' s');
    await report_failure();
    await flush_and_exit(1);
  }, opts.timeout * 1000);

  let reporting = null;
  const report_failure = () => (reporting ??= show_failure());
  async function show_failure() {
    await cleanup();
    if (run_dir) {
      fs.writeFileSync(path.join(run_dir, 'browser.log'), page_log.join('\n') + '\n');
      if (page_log.length) {
        console.log('---- browser (console, page errors, failed requests, WebSockets) ----');
        console.log(page_log.slice(-200).join('\n'));
      }
      if (broker) {
        const text = fs.readFileSync(broker.log_path, 'utf8');
        console.log('---- broker log (' + broker.log_path + ') ----\n' + text.slice(-20000) + '---- end ----');
      }
      console.log('kept ' + run_dir);
    }
  }

  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, async () => {
      failed = true;
      console.log('FAIL stopped by ' + signal);
      await report_failure();
      await flush_and_exit(1);
    });
  }

  try {
    const chromium = await load_playwright();
    require_tools(opts);
    fs.mkdirSync(opts.workDir, { recursive: true });
    run_dir = fs.mkdtempSync(path.join(path.resolve(opts.workDir), 'browser-'));
    const run_id = path.basename(run_dir).slice('browser-'.length);

    // The served folder: the page, the MQTT.js bundle and a binary probe file.
    const http_dir = path.join(run_dir, 'http');
    fs.mkdirSync(path.join(http_dir, 'probe'), { recursive: true });
    for (const file of fs.readdirSync(path.join(here, 'page'))) {
      fs.copyFileSync(path.join(here, 'page', file), path.join(http_dir, file));
    }
    fs.copyFileSync(path.join(here, 'node_modules/mqtt/dist/mqtt.min.js'), path.join(http_dir, 'mqtt.min.js'));
    fs.writeFileSync(path.join(http_dir, 'probe', 'data.bin'), randomBytes(70000));

    let certs = null;
    if (opts.tls) {
      certs = path.join(run_dir, 'certs');
      const made = spawnSync('sh', [path.join(here, '../unit/tls/make_test_certs.sh'), certs],
                             { encoding: 'utf8', timeout: step_timeout_ms });
      if (made.status !== 0) throw new CheckFailed('make_test_certs.sh failed: ' + made.stderr + (made.error || ''));
    }

    broker = await start_broker(opts, run_dir, listeners_for(opts, http_dir, certs));
    const { ports } = broker;

    browser_context = await within(30000, 'launching ' + opts.chromium, chromium.launchPersistentContext(
      path.join(run_dir, 'chromium-profile'), {
        executablePath: opts.chromium,
        headless: true,
        ignoreHTTPSErrors: true,  // the test CA is not in chromium's store
        timeout: 30000,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync',
               '--ignore-certificate-errors'],
      }));
    const page = browser_context.pages()[0] || await browser_context.newPage();
    const stamp = () => ((Date.now() - started) / 1000).toFixed(3) + ' s ';
    page.on('console', (m) => page_log.push(stamp() + 'console.' + m.type() + ': ' + m.text()));
    page.on('pageerror', (e) => page_log.push(stamp() + 'page error: ' + e.message));
    page.on('requestfailed', (r) => page_log.push(stamp() + 'request failed: ' + r.url() + ': ' +
                                                  (r.failure() ? r.failure().errorText : '?')));
    page.on('response', (r) => page_log.push(stamp() + 'HTTP ' + r.status() + ' ' + r.url()));
    page.on('websocket', (ws) => {
      page_log.push(stamp() + 'WebSocket opened: ' + ws.url());
      ws.on('socketerror', (e) => page_log.push(stamp() + 'WebSocket error: ' + ws.url() + ': ' + e));
      ws.on('close', () => page_log.push(stamp() + 'WebSocket closed: ' + ws.url()));
    });

    await watch_handshakes(browser_context, page);

    const tern = opts.kind === 'tern';
    await check_http(page, 'http://127.0.0.1:' + ports.ws, http_dir, tern);
    const transports = [{ name: 'ws', label: 'ws', url: 'ws://127.0.0.1:' + ports.ws, deflate: tern ? false : null }];
    if (certs) {
      transports.push({ name: 'wss', label: 'wss', url: 'wss://127.0.0.1:' + ports.wss, deflate: tern ? false : null });
    }
    if (ports.wsz) {
      transports.push({ name: 'wsz', label: 'ws (permessage-deflate)', url: 'ws://127.0.0.1:' + ports.wsz,
                        deflate: true });
    }
    for (const transport of transports) {
      for (const version of [3, 4, 5]) await check_mqtt(page, run_dir, ports.tcp, transport, version, run_id);
    }
    clearTimeout(overall);
    await cleanup();
    fs.rmSync(run_dir, { recursive: true, force: true });
    console.log('PASS ' + passed + ' checks against ' + opts.kind + (certs ? '' : ' (without wss: --no-tls)') +
                ' in ' + ((Date.now() - started) / 1000).toFixed(1) + ' s');
    return 0;
  } catch (e) {
    clearTimeout(overall);
    if (failed) {
      await report_failure();
      return 1;
    }
    failed = true;
    console.log('FAIL ' + (e instanceof CheckFailed ? e.message : (e && e.stack) || e));
    await report_failure();
    return 1;
  }
}

await flush_and_exit(await main());
