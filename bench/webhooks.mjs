#!/usr/bin/env node
// Webhook delivery benchmark (issue 4): N webhooks to R local receivers,
// E events; reports deliveries/s and the delay from commit to receipt.
//
//   node bench/webhooks.mjs [--bin build/herald] [--hooks 100] [--receivers 10]
//        [--events 10000] [--fanout 10] [--rate 0] [--concurrency 32]
//
// Layout: the webhooks are split over `hooks/fanout` collections, `fanout`
// webhooks per collection, spread round-robin over the receivers; events
// are custom events (POST /api/_events) written round-robin over those
// collections, so each event is delivered `fanout` times and the run makes
// events*fanout deliveries. --fanout 100 makes every webhook take every event.
//
// --rate 0 writes as fast as `concurrency` parallel requests allow (the
// throughput run); --rate N paces the writes at N events/s (the latency run:
// receivers healthy, the dispatcher not saturated).
//
// Delay = receipt time at the receiver (Date.now()) minus the event's "ts"
// (set by the writer thread as it commits the batch), both on this host's
// clock, in ms. Receivers are separate Node processes (node:http, answering
// 204 at once); herald runs with its default settings on 127.0.0.1.
import { spawn, fork } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ receiver
if (process.argv[2] === '--receiver') {
  const delays = [];
  let count = 0;
  let first = 0;
  let last = 0;
  const server = http.createServer((rq, rs) => {
    const chunks = [];
    rq.on('data', (c) => chunks.push(c));
    rq.on('end', () => {
      const now = Date.now();
      rs.statusCode = 204;
      rs.end();
      count++;
      if (!first) first = now;
      last = now;
      try {
        const ev = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        delays.push(now - Date.parse(ev.ts));
      } catch {}
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (m) => {
    if (m === 'count') process.send({ count });
    if (m === 'reset') {
      delays.length = 0;
      count = first = last = 0;
      process.send({ count });
    }
    if (m === 'stats') process.send({ count, first, last, delays });
    if (m === 'exit') process.exit(0);
  });
} else {
  await main();
}

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

function pct(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const bin = path.resolve(arg('bin', process.env.HERALD_BIN || path.join(here, '../build/herald')));
  const nHooks = Number(arg('hooks', 100));
  const nRecv = Number(arg('receivers', 10));
  const nEvents = Number(arg('events', 10000));
  const fanout = Math.min(Number(arg('fanout', 10)), nHooks);
  const rate = Number(arg('rate', 0));
  const conc = Number(arg('concurrency', 32));
  const nColl = Math.max(1, Math.floor(nHooks / fanout));
  const expected = nEvents * fanout;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'herald-bench-hooks-'));
  const children = [];
  const cleanup = () => {
    for (const c of children) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);

  // receivers
  const recv = [];
  for (let i = 0; i < nRecv; i++) {
    const c = fork(fileURLToPath(import.meta.url), ['--receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(c);
    const port = await new Promise((res) => c.once('message', (m) => res(m.port)));
    recv.push({ c, port });
  }
  const ask = (r, what) => new Promise((res) => {
    r.c.once('message', res);
    r.c.send(what);
  });

  // herald
  const h = spawn(bin, ['--listen', '127.0.0.1:0', '--db', path.join(dir, 'herald.db'), '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(h);
  const url = await new Promise((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error('herald did not start')), 10_000);
    h.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]);
      }
    });
  });
  // node:http with keep-alive: one write per request (global fetch sends
  // head and body apart and runs into Nagle + delayed ACK on loopback).
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(conc, 8) });
  const post = (p, body) =>
    new Promise((res, rej) => {
      const buf = Buffer.from(JSON.stringify(body));
      const rq = http.request(url + p, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': buf.length } }, (rs) => {
        const chunks = [];
        rs.on('data', (c) => chunks.push(c));
        rs.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (rs.statusCode >= 300) rej(new Error(`POST ${p}: ${rs.statusCode} ${text}`));
          else res(JSON.parse(text));
        });
      });
      rq.on('error', rej);
      rq.end(buf);
    });

  // webhooks: fanout per collection, round-robin over receivers
  for (let i = 0; i < nHooks; i++) {
    const coll = `c${i % nColl}`;
    await post('/api/_webhooks', { url: `http://127.0.0.1:${recv[i % nRecv].port}/hook/${i}`, collections: [coll] });
  }

  // warm-up: one event per collection, so every webhook has its connection
  for (let c = 0; c < nColl; c++) await post('/api/_events', { collection: `c${c}`, type: 'warmup', data: null });
  const warm = nColl * fanout;
  for (let i = 0; i < 200; i++) {
    const counts = await Promise.all(recv.map((r) => ask(r, 'count')));
    if (counts.reduce((a, b) => a + b.count, 0) >= warm) break;
    await sleep(50);
  }
  // the warm-up does not count
  for (const r of recv) await ask(r, 'reset');

  // write the events
  const t0 = Date.now();
  let next = 0;
  const data = { text: 'x'.repeat(100) };
  async function writer() {
    while (next < nEvents) {
      const i = next++;
      if (rate > 0) {
        const due = t0 + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
      await post('/api/_events', { collection: `c${i % nColl}`, type: 'bench', data });
    }
  }
  await Promise.all(Array.from({ length: rate > 0 ? Math.max(conc, 8) : conc }, writer));
  const tWritten = Date.now();

  // wait for every delivery
  let got = 0;
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const counts = await Promise.all(recv.map((r) => ask(r, 'count')));
    got = counts.reduce((a, b) => a + b.count, 0);
    if (got >= expected) break;
    await sleep(100);
  }
  const stats = await Promise.all(recv.map((r) => ask(r, 'stats')));
  let delays = [];
  let first = Infinity;
  let last = 0;
  let count = 0;
  for (const s of stats) {
    count += s.count;
    delays = delays.concat(s.delays);
    if (s.first) first = Math.min(first, s.first);
    last = Math.max(last, s.last);
  }
  delays.sort((a, b) => a - b);
  const secs = (last - t0) / 1000;
  const result = {
    hooks: nHooks,
    receivers: nRecv,
    events: nEvents,
    fanout,
    rate: rate || 'max',
    deliveries: count,
    expected,
    write_s: +((tWritten - t0) / 1000).toFixed(2),
    events_per_s: Math.round(nEvents / ((tWritten - t0) / 1000)),
    total_s: +secs.toFixed(2),
    deliveries_per_s: Math.round(count / secs),
    delay_ms: { p50: pct(delays, 50), p90: pct(delays, 90), p99: pct(delays, 99), max: delays.at(-1) },
  };
  console.log(JSON.stringify(result, null, 2));

  h.kill('SIGTERM');
  await new Promise((res) => h.once('exit', res));
  for (const r of recv) r.c.send('exit');
  process.exit(count >= expected ? 0 : 1);
}
