// Server-Sent Events: GET /api/_stream and GET /api/{c}/_stream, on a raw
// socket (exact bytes) and through the npm `eventsource` client (WHATWG
// processing model), including reconnect with Last-Event-ID across a
// server restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import { T, startHerald, req, expectStatus, expectProblem, create, allChanges, sleep, withTimeout } from './lib/harness.mjs';
import { RawSse, assertSeqs, assertIncreasing, range, waitPruned, freePort, closeAll } from './lib/rt.mjs';

const sources = new Set();
test.afterEach(() => {
  for (const es of sources) es.close();
  sources.clear();
  closeAll();
});

function eventSource(url, names) {
  const es = new EventSource(url);
  sources.add(es);
  const st = { es, events: [], resets: [], opens: 0, errors: [], messages: [] };
  es.addEventListener('open', () => st.opens++);
  es.addEventListener('error', (e) => st.errors.push(e.message ?? String(e)));
  es.addEventListener('message', (e) => st.messages.push(e.data));
  for (const n of names) {
    es.addEventListener(n, (e) => {
      const ev = JSON.parse(e.data);
      st.events.push(ev);
      st.lastEventIds = [...(st.lastEventIds ?? []), e.lastEventId];
    });
  }
  es.addEventListener('reset', (e) => st.resets.push({ data: JSON.parse(e.data), lastEventId: e.lastEventId, at: st.events.length }));
  return st;
}

async function until(pred, label, timeoutMs, describe) {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}; ${describe()}`);
    await sleep(20);
  }
}
const esDescribe = (st) => () =>
  `readyState=${st.es.readyState} opens=${st.opens} events=[${st.events.map((e) => e.seq).join(',')}] resets=${JSON.stringify(st.resets)} errors=${JSON.stringify(st.errors.slice(-5))}`;

/** seq 1..7 (same as ws.test.mjs): a1, a2, b1 created; a1 updated; b1 deleted; custom a.ping; c1 created. */
async function workload(s) {
  await create(s, 'a', { id: 'a1', v: 1 });
  await create(s, 'a', { id: 'a2', v: 1 });
  await create(s, 'b', { id: 'b1', v: 1 });
  expectStatus(await req(`${s.url}/api/a/a1`, { method: 'PATCH', body: { v: 2 } }), 200, 'PATCH a1');
  expectStatus(await req(`${s.url}/api/b/b1`, { method: 'DELETE' }), 204, 'DELETE b1');
  expectStatus(await req(`${s.url}/api/_events`, { method: 'POST', body: { collection: 'a', type: 'ping', data: { x: 1 } } }), 202, 'custom event');
  await create(s, 'c', { id: 'c1' });
  return 7;
}
const NAMES = ['a', 'b', 'c', 'r', 'w'].flatMap((c) => ['created', 'updated', 'deleted', 'ping'].map((t) => `${c}.${t}`));

// ------------------------------------------------------------------ raw stream

test('headers, then retry: 2000 first; --sse-retry changes it', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawSse.open(s.port, '/api/_stream');
  assert.equal(c.status, 200, c.head);
  assert.match(c.headers['content-type'] || '', /^text\/event-stream\b/, `Content-Type: ${c.head}`);
  assert.equal(c.headers['cache-control'], 'no-cache', `Cache-Control: ${c.head}`);
  assert.equal(c.headers['x-accel-buffering'], 'no', `X-Accel-Buffering: ${c.head}`);
  assert.equal(c.headers['content-length'], undefined, 'a stream has no Content-Length');
  await c.until((x) => x.records.length >= 1, 'the retry record', 3000);
  assert.deepEqual(c.records[0].fields, [['retry', '2000']], `first record: ${c.describe()}`);
  const s2 = await startHerald({ t, args: ['--sse-retry', '200ms'] });
  const c2 = await RawSse.open(s2.port, '/api/a/_stream');
  await c2.until((x) => x.records.length >= 1, 'the retry record', 3000);
  assert.deepEqual(c2.records[0].fields, [['retry', '200']], `--sse-retry 200ms: ${c2.describe()}`);
});

test('records: id: <seq>, event: <collection>.<type>, data: <event JSON equal to polling>', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawSse.open(s.port, '/api/_stream');
  await c.until((x) => x.records.length >= 1, 'retry', 3000);
  const n = await workload(s);
  await c.waitEvents(n);
  const polled = (await allChanges(s, { since: 0 })).events;
  const recs = c.records.filter((r) => r.data !== undefined);
  assert.equal(recs.length, n);
  for (let i = 0; i < n; i++) {
    const r = recs[i];
    const e = polled[i];
    assert.deepEqual(r.fields.map(([k]) => k), ['id', 'event', 'data'], `record fields: ${JSON.stringify(r.fields)}`);
    assert.equal(r.id, String(e.seq));
    assert.equal(r.event, `${e.collection}.${e.type}`);
    assert.deepEqual(r.json, e, `data of seq ${e.seq}`);
    assert.ok(!r.data.includes('\n'), 'one data line');
  }
  await sleep(150);
  assert.equal(c.events.length, n, `no extra events: ${c.describe()}`);
});

test('since=0 replays then goes live; since=N; /api/{c}/_stream scopes to the collection', T, async (t) => {
  const s = await startHerald({ t });
  const n = await workload(s);
  const all = await RawSse.open(s.port, '/api/_stream?since=0');
  const mid = await RawSse.open(s.port, '/api/_stream?since=4');
  const coll = await RawSse.open(s.port, '/api/a/_stream?since=0');
  const live = await RawSse.open(s.port, '/api/_stream');
  await all.waitEvents(n);
  await coll.waitEvents(4);
  await live.until((x) => x.records.length >= 1, 'retry', 3000);
  await create(s, 'a', { id: 'new' });
  await create(s, 'b', { id: 'newb' });
  assertSeqs(await all.waitEvents(n + 2), range(1, n + 2), 'since=0');
  assertSeqs(await mid.waitEvents(n - 4 + 2), range(5, n + 2), 'since=4');
  assertSeqs(await coll.waitEvents(5), [1, 2, 4, 6, 8], '/api/a/_stream?since=0');
  assertSeqs(await live.waitEvents(2), [8, 9], 'live only');
  await sleep(150);
  assert.equal(coll.events.length, 5, `collection stream got another collection's event: ${coll.describe()}`);
});

const FILTERS = [
  'collections=a',
  'collections=a,b',
  'types=created',
  'types=updated,deleted',
  'types=ping',
  'id=a1',
  'payload=minimal',
  'payload=full',
  'collections=a&types=created&payload=minimal',
  'collections=zzz',
];

test('filters collections, types, id, payload=minimal: live and replayed, equal to polling', T, async (t) => {
  const s = await startHerald({ t });
  const live = {};
  for (const q of FILTERS) live[q] = await RawSse.open(s.port, `/api/_stream?${q}`);
  for (const q of FILTERS) await live[q].until((x) => x.records.length >= 1, 'retry', 3000);
  await workload(s);
  const replay = {};
  for (const q of FILTERS) replay[q] = await RawSse.open(s.port, `/api/_stream?${q}&since=0`);
  for (const q of FILTERS) {
    const expected = (await allChanges(s, { since: 0, query: q })).events;
    for (const [what, c] of [
      ['live', live[q]],
      ['replay', replay[q]],
    ]) {
      const got = expected.length ? await c.waitEvents(expected.length) : [];
      assert.deepEqual(got, expected, `${what} ${q}: SSE events equal _changes?${q}`);
    }
  }
  await sleep(200);
  for (const q of FILTERS) {
    const expected = (await allChanges(s, { since: 0, query: q })).events.map((e) => e.seq);
    assertSeqs(live[q].events, expected, `live ${q}: no extra events`);
    assertSeqs(replay[q].events, expected, `replay ${q}: no extra events`);
    if (q.includes('minimal')) for (const e of live[q].events) assert.ok(!('data' in e), `minimal: ${JSON.stringify(e)}`);
  }
});

test('Last-Event-ID resumes after that seq and wins over since', T, async (t) => {
  const s = await startHerald({ t });
  const n = await workload(s);
  const a = await RawSse.open(s.port, '/api/_stream?since=1', { headers: { 'Last-Event-ID': '5' } });
  assertSeqs(await a.waitEvents(n - 5), range(6, n), 'Last-Event-ID: 5 with since=1');
  const b = await RawSse.open(s.port, '/api/_stream', { headers: { 'Last-Event-ID': '3' } });
  assertSeqs(await b.waitEvents(n - 3), range(4, n), 'Last-Event-ID: 3 without since');
  const c = await RawSse.open(s.port, '/api/a/_stream?since=6', { headers: { 'Last-Event-ID': '0' } });
  assertSeqs(await c.waitEvents(4), [1, 2, 4, 6], 'Last-Event-ID: 0 on /api/a/_stream');
  await create(s, 'a', {});
  await a.waitEvents(n - 5 + 1);
  await c.waitEvents(5);
  await sleep(150);
  assertSeqs(a.events, range(6, n + 1), 'then live');
});

test('bad filter → 400 problem+json, no stream', T, async (t) => {
  const s = await startHerald({ t });
  for (const q of ['since=-1', 'since=abc', 'since=1.5', 'payload=huge', 'collections=Bad%20Name', 'types=', 'id=%2Fslash', 'collections=a,,b']) {
    const r = await req(`${s.url}/api/_stream?${q}`, { timeoutMs: 3000 });
    expectProblem(r, 400, `GET /api/_stream?${q}`);
  }
  for (const path of ['/api/Bad/_stream', '/api/_x/_stream']) {
    expectProblem(await req(`${s.url}${path}`, { timeoutMs: 3000 }), 400, `GET ${path}`);
  }
  const raw = await RawSse.open(s.port, '/api/_stream?foo=bar');
  assert.equal(raw.status, 200, 'unknown query parameters are ignored');
});

test('heartbeat comments every --heartbeat', { timeout: 15_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--heartbeat', '1s'] });
  const c = await RawSse.open(s.port, '/api/_stream');
  await sleep(3500);
  const hb = c.records.filter((r) => r.comments.length && !r.fields.length);
  assert.ok(hb.length >= 2 && hb.length <= 5, `heartbeats in 3.5 s with --heartbeat 1s: ${hb.length}; ${c.describe()}`);
  assert.equal(c.closed, false);
  await create(s, 'a', {});
  assertSeqs(await c.waitEvents(1), [1], 'events still flow');
});

test('reset: since behind retention → event: reset {oldest, head}, then live', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--retain-events', '5'] });
  for (let i = 0; i < 20; i++) await create(s, 'r', { i });
  const pruned = await waitPruned(s, { minOldest: 3 });
  const oldest = pruned.events[0].seq;
  const c = await RawSse.open(s.port, '/api/_stream?since=1');
  const resetRec = await c.until((x) => x.records.find((r) => r.event === 'reset'), 'event: reset', 5000);
  assert.deepEqual(Object.keys(resetRec.json).sort(), ['head', 'oldest'], `reset data: ${resetRec.data}`);
  assert.equal(resetRec.json.head, 20);
  assert.ok(resetRec.json.oldest >= oldest && resetRec.json.oldest <= 16, `oldest ${resetRec.json.oldest}`);
  const edge = await RawSse.open(s.port, `/api/_stream`, { headers: { 'Last-Event-ID': String(oldest - 1) } });
  assertSeqs(await edge.waitEvents(20 - oldest + 1), range(oldest, 20), `Last-Event-ID ${oldest - 1}: no reset`);
  await create(s, 'r', { i: 'live' });
  assertSeqs(await c.waitEvents(1), [21], 'live after the reset');
  assert.equal(edge.records.filter((r) => r.event === 'reset').length, 0);
  // the same through EventSource, by Last-Event-ID-free URL with since
  const es = eventSource(`${s.url}/api/_stream?since=1`, NAMES);
  await until(() => es.resets.length >= 1, 'EventSource reset', 5000, esDescribe(es));
  assert.equal(es.resets[0].data.head, 21);
  await create(s, 'r', { i: 'live2' });
  await until(() => es.events.length >= 1, 'EventSource event after reset', 5000, esDescribe(es));
  assertSeqs(es.events, [22], 'EventSource after reset: live only');
});

test('reset: since ahead of head → event: reset, then live', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'a', {});
  const c = await RawSse.open(s.port, '/api/_stream?since=1000');
  const rr = await c.until((x) => x.records.find((r) => r.event === 'reset'), 'event: reset', 5000);
  assert.equal(rr.json.head, 1);
  await create(s, 'a', {});
  // after a reset the stream continues live from the head: seq 2 must arrive
  assertSeqs(await c.waitEvents(1, 5000), [2], 'live after a reset from the future');
});

// ------------------------------------------------------------------ EventSource client

test('EventSource: named events, lastEventId, data; ordering across many writes', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t });
  const es = eventSource(`${s.url}/api/_stream`, NAMES);
  await until(() => es.opens >= 1, 'open', 5000, esDescribe(es));
  const n = await workload(s);
  for (let i = 0; i < 200; i++) await create(s, 'w', { i });
  await until(() => es.events.length >= n + 200, `${n + 200} events`, 15_000, esDescribe(es));
  assertIncreasing(es.events, 'EventSource');
  assertSeqs(es.events, range(1, n + 200), 'EventSource');
  assert.deepEqual(es.lastEventIds.slice(0, 3), ['1', '2', '3'], 'lastEventId is the seq');
  assert.deepEqual(es.events.slice(0, n), (await allChanges(s, { since: 0 })).events.slice(0, n));
  assert.equal(es.messages.length, 0, 'no unnamed (message) events');
  assert.equal(es.opens, 1, `no reconnects: ${esDescribe(es)()}`);
});

test('EventSource reconnects after a restart with Last-Event-ID and gets what was written while it was down, once', { timeout: 45_000 }, async (t) => {
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '--sse-retry', '200ms'];
  const s = await startHerald({ t, listen: false, args });
  const es = eventSource(`${s.url}/api/_stream?collections=w`, NAMES);
  await until(() => es.opens >= 1, 'open', 5000, esDescribe(es));
  for (let i = 0; i < 5; i++) await create(s, 'w', { i });
  await until(() => es.events.length >= 5, '5 events', 5000, esDescribe(es));
  // down: stop the server; write 10 events through another herald on the same database
  const st = await s.stop();
  assert.equal(st.killed, false, 'stopped by SIGTERM');
  await until(() => es.es.readyState === 0 && es.errors.length >= 1, 'the client to notice', 5000, esDescribe(es));
  const other = await startHerald({ dbDir: s.dbDir });
  for (let i = 5; i < 15; i++) await create(other, 'w', { i });
  await create(other, 'x', { other: true }); // filtered out
  await other.stop();
  await sleep(500); // the client keeps retrying every 200 ms against a closed port
  // up again on the same port and database: the client comes back by itself
  await s.restart();
  await until(() => es.events.length >= 15, 'the 10 events written while down', 10_000, esDescribe(es));
  for (let i = 15; i < 20; i++) await create(s, 'w', { i });
  await until(() => es.events.length >= 20, '20 events', 10_000, esDescribe(es));
  await sleep(300);
  const wSeqs = (await allChanges(s, { since: 0, query: 'collections=w' })).events.map((e) => e.seq);
  assert.equal(wSeqs.length, 20);
  assertSeqs(es.events, wSeqs, 'every w event exactly once across the restart');
  assert.deepEqual(es.events.map((e) => e.data.i), range(0, 19), 'in write order');
  assert.ok(es.opens >= 2, `reconnected: ${esDescribe(es)()}`);
  assert.equal(es.resets.length, 0, 'no reset');
});
