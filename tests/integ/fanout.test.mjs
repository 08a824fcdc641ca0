// Fan-out: many subscribers across several I/O loops, ordering under
// concurrent writes, and bounded memory for slow consumers (WebSocket closed
// with 1013, SSE stream ended) with lossless resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, sleep } from './lib/harness.mjs';
import { WsClient, RawWs, RawSse, wsUrl, assertSeqs, assertIncreasing, range, writeMany, padded, sampleRss, rssKiB, closeAll } from './lib/rt.mjs';

test.afterEach(() => closeAll());

const MiB = 1024;

// ------------------------------------------------------------------ ordering across loops

test('--threads 4: 40 WebSocket and 10 SSE subscribers see 1,000 concurrent writes in seq order, each once', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--threads', '4'] });
  const N = 1000;
  const ws = [];
  for (let i = 0; i < 40; i++) {
    const c = await WsClient.open(wsUrl(s));
    await c.subscribe('all');
    ws.push(c);
  }
  const sse = [];
  for (let i = 0; i < 10; i++) {
    const c = await RawSse.open(s.port, '/api/_stream');
    await c.until((x) => x.records.length >= 1, 'retry', 3000);
    sse.push(c);
  }
  await writeMany(s, N, (i) => ({ path: `/api/o${i % 5}`, body: { i } }), { concurrency: 16 });
  for (const [i, c] of ws.entries()) {
    const evs = await c.waitSeq('all', N, 20_000);
    assertIncreasing(evs, `ws client ${i}`);
    assertSeqs(evs, range(1, N), `ws client ${i}`);
  }
  for (const [i, c] of sse.entries()) {
    const evs = await c.waitEvents(N, 20_000);
    assertIncreasing(evs, `sse client ${i}`);
    assertSeqs(evs, range(1, N), `sse client ${i}`);
  }
});

// ------------------------------------------------------------------ 1,000 subscribers

test('1,000 concurrent WebSocket subscribers each receive 100 events: no loss, no duplicate, in order', { timeout: 90_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--threads', '2'] });
  const t0 = performance.now();
  const K = 1000;
  const E = 100;
  const clients = [];
  for (let b = 0; b < K / 100; b++) {
    const batch = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const c = await WsClient.open(wsUrl(s), { timeoutMs: 10_000 });
        await c.subscribe('f', { collections: ['fan'] }, 10_000);
        return c;
      }),
    );
    clients.push(...batch);
  }
  const opened = performance.now() - t0;
  const conns = await fetch(`${s.url}/api/_connections`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (conns) assert.ok(conns.count >= K, `/api/_connections count ${conns.count}`);
  await writeMany(s, E, (i) => ({ path: '/api/fan', body: { i } }), { concurrency: 4 });
  const deadline = performance.now() + 30_000;
  for (const [i, c] of clients.entries()) {
    const left = Math.max(1000, deadline - performance.now());
    await c.waitSeq('f', E, left);
  }
  await sleep(200);
  let bad = [];
  for (const [i, c] of clients.entries()) {
    const seqs = c.events('f').map((e) => e.seq);
    if (seqs.length !== E || seqs.some((v, j) => v !== j + 1)) bad.push(`client ${i}: ${seqs.length} events, first bad at ${seqs.findIndex((v, j) => v !== j + 1)}`);
    if (c.closed) bad.push(`client ${i} closed: ${c.describe()}`);
  }
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} of ${K} clients wrong`);
  const total = performance.now() - t0;
  assert.ok(total < 60_000, `took ${total.toFixed(0)} ms (opening ${opened.toFixed(0)} ms)`);
  for (const c of clients) c.terminate();
});

// ------------------------------------------------------------------ slow consumers

/** Writes n ~2 KB documents to coll while sampling the server's RSS; returns {maxKiB, baseKiB}. */
async function floodWithRss(s, coll, n) {
  const base = rssKiB(s.pid);
  const sampler = sampleRss(s.pid, 25);
  await writeMany(s, n, (i) => ({ path: `/api/${coll}`, body: padded(i, 2048) }), { concurrency: 16, timeoutMs: 60_000 });
  await sleep(300);
  const st = sampler.stop();
  return { baseKiB: base, maxKiB: st.max };
}

test('slow WebSocket consumer: closed with 1013 (or dropped), RSS bounded, resume with since gets the rest exactly once', { timeout: 90_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 3000; // ~2 KB each: ~7 MB, far past the 1 MiB cap plus socket buffers
  const slow = await RawWs.connect(s.port);
  assert.equal(slow.status, 101);
  slow.sendJson({ op: 'subscribe', sub: 'slow' });
  await slow.waitMsg((m) => m.op === 'subscribed', 'subscribed');
  // a fast subscriber on the same server is unaffected
  const fast = await WsClient.open(wsUrl(s));
  await fast.subscribe('fast');
  slow.pause();
  const { baseKiB, maxKiB } = await floodWithRss(s, 'big', N);
  s.checkAlive();
  const growth = maxKiB - baseKiB;
  assert.ok(growth < 64 * MiB + 1 * MiB, `server RSS grew by ${(growth / 1024).toFixed(1)} MiB (base ${baseKiB} KiB, max ${maxKiB} KiB) with a paused client`);
  assertSeqs(await fast.waitSeq('fast', N, 20_000), range(1, N), 'the fast subscriber');
  // read again: the queued events, then Close(1013) — or the server already dropped the socket
  slow.resume();
  await slow.until((c) => c.closed || c.closeFrame, 'the slow consumer to be closed', 10_000).catch((e) => {
    throw new Error(`the slow consumer was not closed: ${e.message}`);
  });
  await slow.waitTcpClose(6000);
  const cf = slow.closeFrame;
  if (cf) assert.equal(cf.code, 1013, `close code for a slow consumer: ${slow.describe()}`);
  const got = slow.messages.filter((m) => m.op === 'event').map((m) => m.event.seq);
  const last = got.length ? got[got.length - 1] : 0;
  assert.ok(last < N, `the paused client was not cut off: it got all ${N} events`);
  assertSeqs(got, range(1, last), 'events received before the close: a gap-free prefix');
  t.diagnostic(`slow consumer: ${got.length} events before ${cf ? `Close(${cf.code})` : 'TCP close without a Close frame'}; RSS +${(growth / 1024).toFixed(1)} MiB`);
  // resume from the last seq seen
  const again = await WsClient.open(wsUrl(s));
  await again.subscribe('resume', { since: last });
  const rest = await again.waitSeq('resume', N, 20_000);
  await sleep(200);
  assertSeqs(again.events('resume'), range(last + 1, N), `resume with since=${last}`);
  assert.ok(rest.every((e) => e.data.pad.length === 2048 - 40), 'full documents');
});

test('slow SSE consumer: the stream is ended, RSS bounded, Last-Event-ID resume gets the rest exactly once', { timeout: 90_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 3000;
  const slow = await RawSse.open(s.port, '/api/_stream');
  await slow.until((x) => x.records.length >= 1, 'retry', 3000);
  slow.pause();
  const { baseKiB, maxKiB } = await floodWithRss(s, 'big', N);
  s.checkAlive();
  const growth = maxKiB - baseKiB;
  assert.ok(growth < 64 * MiB + 1 * MiB, `server RSS grew by ${(growth / 1024).toFixed(1)} MiB with a paused SSE client`);
  slow.resume();
  const ended = await slow.waitClosed(12_000);
  assert.ok(ended, `the slow SSE stream was not ended: ${slow.describe()}`);
  const got = slow.records.filter((r) => r.id !== undefined).map((r) => Number(r.id));
  const last = got.length ? got[got.length - 1] : 0;
  assert.ok(last < N, `the paused stream was not cut off: it got all ${N} events`);
  assertSeqs(got, range(1, last), 'events received before the end: a gap-free prefix');
  t.diagnostic(`slow SSE consumer: ${got.length} events before the stream ended; RSS +${(growth / 1024).toFixed(1)} MiB`);
  const again = await RawSse.open(s.port, '/api/_stream', { headers: { 'Last-Event-ID': String(last) } });
  await again.waitEvents(N - last, 20_000);
  await sleep(200);
  assertSeqs(again.events, range(last + 1, N), `resume with Last-Event-ID: ${last}`);
});

test('a slow consumer with --max-outbound 64KiB is cut early; others on the same loop keep receiving', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--max-outbound', '65536', '--threads', '1'] });
  const slow = await RawWs.connect(s.port);
  slow.sendJson({ op: 'subscribe', sub: 'slow' });
  await slow.waitMsg((m) => m.op === 'subscribed', 'subscribed');
  const fast = await WsClient.open(wsUrl(s));
  await fast.subscribe('fast');
  slow.pause();
  await writeMany(s, 3000, (i) => ({ path: '/api/big', body: padded(i, 2048) }), { concurrency: 16 });
  assertSeqs(await fast.waitSeq('fast', 3000, 20_000), range(1, 3000), 'the fast subscriber on the same loop');
  slow.resume();
  await slow.until((c) => c.closed || c.closeFrame, 'the slow consumer to be closed', 10_000);
  await slow.waitTcpClose(6000);
  const cf = slow.closeFrame;
  if (cf) assert.equal(cf.code, 1013, slow.describe());
  const got = slow.messages.filter((m) => m.op === 'event').map((m) => m.event.seq);
  assertSeqs(got, range(1, got.length), 'a gap-free prefix');
  assert.ok(got.length < 3000, `cut off: got ${got.length}`);
});

// ------------------------------------------------------------------ backlogs larger than the cap

test('a replay backlog larger than --max-outbound reaches a reading client in full (WS and SSE): paced, not cut', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 1500; // ~2.3 KB per event: ~3.5 MB to replay, over the 1 MiB cap
  await writeMany(s, N, (i) => ({ path: '/api/big', body: padded(i, 2048) }), { concurrency: 16 });
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('r', { since: 0 });
  await c.waitSeq('r', N, 20_000).catch((e) => {
    throw new Error(`WS replay of ${N} events (since=0) to a client that reads at full speed: ${e.message}`);
  });
  assertSeqs(c.events('r'), range(1, N), 'WS replay since=0');
  const sse = await RawSse.open(s.port, '/api/_stream?since=0');
  await sse.waitEvents(N, 20_000).catch((e) => {
    throw new Error(`SSE replay of ${N} events (since=0) to a client that reads at full speed: ${e.message}`);
  });
  assertSeqs(sse.events, range(1, N), 'SSE replay since=0');
});

/** Subscribes with since, reconnecting after each close, until seq `upTo`; returns {seqs, attempts, closes}. */
async function wsCatchUp(s, since, upTo, { maxAttempts = 5, filter = {} } = {}) {
  const seqs = [];
  const closes = [];
  let last = since;
  for (let a = 1; a <= maxAttempts; a++) {
    const from = last;
    const c = await WsClient.open(wsUrl(s));
    await c.subscribe('c', { ...filter, since: last });
    await c.until((x) => x.closed || (x.events('c').length && x.events('c').at(-1).seq >= upTo), `seq ${upTo} or a close`, 20_000);
    const got = c.events('c').map((e) => e.seq);
    seqs.push(...got);
    if (got.length) last = got.at(-1);
    if (!c.closed) {
      c.terminate();
      return { seqs, attempts: a, closes };
    }
    closes.push(`attempt ${a}: since=${from} got ${got.length} events then close ${c.close?.code}`);
  }
  return { seqs, attempts: maxAttempts, closes, gaveUp: true };
}

async function sseCatchUp(s, since, upTo, { maxAttempts = 5 } = {}) {
  const seqs = [];
  const closes = [];
  let last = since;
  for (let a = 1; a <= maxAttempts; a++) {
    const from = last;
    const c = await RawSse.open(s.port, '/api/_stream', { headers: { 'Last-Event-ID': String(last) } });
    await c.until((x) => x.closed || (x.events.length && x.events.at(-1).seq >= upTo), `seq ${upTo} or the end`, 20_000);
    const got = c.events.map((e) => e.seq);
    seqs.push(...got);
    if (got.length) last = got.at(-1);
    if (!c.closed) {
      c.destroy();
      return { seqs, attempts: a, closes };
    }
    closes.push(`attempt ${a}: Last-Event-ID ${from}, got ${got.length} events then the stream ended`);
  }
  return { seqs, attempts: maxAttempts, closes, gaveUp: true };
}

test('a burst of large events: a fast reader is served, or closed 1013 and able to catch up by resuming (no livelock)', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 24; // ~400 KB each, written concurrently: commit batches well over the 1 MiB cap
  const live = await WsClient.open(wsUrl(s));
  await live.subscribe('c');
  const sse = await RawSse.open(s.port, '/api/_stream');
  await sse.until((x) => x.records.length >= 1, 'retry', 3000);
  await writeMany(s, N, (i) => ({ path: '/api/huge', body: padded(i, 400_000) }), { concurrency: N });
  await live.until((x) => x.closed || x.events('c').length >= N, 'all events or a close', 20_000);
  const liveGot = live.events('c').map((e) => e.seq);
  t.diagnostic(`live fast reader: ${liveGot.length}/${N} events, ${live.closed ? `closed ${live.close?.code}` : 'open'}`);
  let ws = { seqs: liveGot, attempts: 0, closes: [] };
  if (live.closed) {
    assert.equal(live.close.code, 1013, live.describe());
    const more = await wsCatchUp(s, liveGot.at(-1) ?? 0, N);
    ws = { seqs: [...liveGot, ...more.seqs], attempts: more.attempts, closes: more.closes, gaveUp: more.gaveUp };
  }
  assert.ok(!ws.gaveUp, `WS: resuming never catches up (each resume is closed again): ${ws.closes.join('; ')}`);
  assertSeqs(ws.seqs, range(1, N), 'WS: every event exactly once across resumes');
  await sse.until((x) => x.closed || x.events.length >= N, 'all events or the end', 20_000);
  const sseGot = sse.events.map((e) => e.seq);
  t.diagnostic(`live SSE reader: ${sseGot.length}/${N} events, ${sse.closed ? 'ended' : 'open'}`);
  let ss = { seqs: sseGot, closes: [] };
  if (sse.closed) {
    const more = await sseCatchUp(s, sseGot.at(-1) ?? 0, N);
    ss = { seqs: [...sseGot, ...more.seqs], closes: more.closes, gaveUp: more.gaveUp };
  }
  assert.ok(!ss.gaveUp, `SSE: resuming never catches up (each resume is ended again): ${ss.closes.join('; ')}`);
  assertSeqs(ss.seqs, range(1, N), 'SSE: every event exactly once across resumes');
});

test('SIGTERM with paused WebSocket and SSE clients holding queued bytes: herald still exits 0, within ~6 s', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t });
  const w = await RawWs.connect(s.port);
  w.sendJson({ op: 'subscribe', sub: 's' });
  await w.waitMsg((m) => m.op === 'subscribed', 'subscribed');
  const e = await RawSse.open(s.port, '/api/_stream');
  await e.until((x) => x.records.length >= 1, 'retry', 3000);
  w.pause();
  e.pause();
  await writeMany(s, 400, (i) => ({ path: '/api/big', body: padded(i, 2048) }), { concurrency: 16 }); // ~0.9 MB: under the cap
  const t0 = performance.now();
  const r = await s.stop({ graceMs: 15_000 });
  const dt = performance.now() - t0;
  assert.equal(r.killed, false, 'needed SIGKILL');
  assert.equal(r.code, 0, `exit status ${JSON.stringify(r)}; stderr ${s.stderr.slice(-800)}`);
  assert.ok(dt < 7000, `shutdown took ${dt.toFixed(0)} ms with two clients that stopped reading`);
});
