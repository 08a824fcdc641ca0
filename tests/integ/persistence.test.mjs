// Durability: restart on the same database, kill -9 under load, orderly shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, show, expectStatus, health, create, allChanges, allDocs, pool, sleep, withTimeout, RawConn, rawRequest } from './lib/harness.mjs';

test('restart after SIGTERM: documents, events, head and epoch survive', T, async (t) => {
  const s = await startHerald({ t });
  const a = await create(s, 'keep', { id: 'a', v: 1, nested: { x: [1, 2] } });
  const b = await create(s, 'keep', { v: 2 });
  const put = await req(`${s.url}/api/keep/a`, { method: 'PUT', body: { v: 10 } });
  expectStatus(put, 200);
  const patch = await req(`${s.url}/api/keep/${b.id}`, { method: 'PATCH', body: { w: 'x' } });
  expectStatus(patch, 200);
  const gone = await create(s, 'keep', { id: 'gone' });
  expectStatus(await req(`${s.url}/api/keep/gone`, { method: 'DELETE' }), 204);
  const pub = await req(`${s.url}/api/_events`, { method: 'POST', body: { collection: 'keep', type: 'note', data: { y: 1 } } });
  expectStatus(pub, 202);
  const before = await health(s);
  const eventsBefore = (await allChanges(s)).events;
  const apiBefore = (await req(`${s.url}/api`)).json;
  assert.equal(before.head, 7);

  const r = await s.stop();
  assert.equal(r.killed, false, 'exited within 5 s of SIGTERM');
  assert.equal(r.signal, null, `exited by signal ${r.signal}`);
  assert.equal(r.code, 0, `exit code after SIGTERM; stderr: ${s.stderr.slice(-2000)}`);

  await s.restart();
  const after = await health(s);
  assert.equal(after.head, before.head, 'head survives');
  assert.equal(after.epoch, before.epoch, 'epoch survives');
  assert.deepEqual((await req(`${s.url}/api/keep/a`)).json, put.json);
  assert.equal((await req(`${s.url}/api/keep/a`)).headers.get('etag'), '"2"');
  assert.deepEqual((await req(`${s.url}/api/keep/${b.id}`)).json, patch.json);
  expectStatus(await req(`${s.url}/api/keep/gone`), 404, 'deleted stays deleted');
  assert.ok(gone.id);
  assert.deepEqual((await req(`${s.url}/api`)).json, apiBefore, 'GET /api unchanged');
  assert.deepEqual((await allChanges(s)).events, eventsBefore, 'event log unchanged');

  // the sequence continues
  const c = await req(`${s.url}/api/keep`, { method: 'POST', body: { v: 3 } });
  expectStatus(c, 201);
  const ch = await req(`${s.url}/api/_changes?since=${before.head}`);
  assert.deepEqual(ch.json.events.map((e) => [e.seq, e.id]), [[before.head + 1, c.json.id]], 'next write gets head+1');
  // generated ids keep sorting after a restart
  assert.ok(c.json.id > b.id, `new id ${c.json.id} sorts after ${b.id}`);
  // an Idempotency-Key from before the restart is not required to survive; a client id still conflicts
  expectStatus(await req(`${s.url}/api/keep`, { method: 'POST', body: { id: 'a' } }), 409);
});

test('SIGINT also shuts down cleanly (exit 0) and the data survives', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'k', { id: 'x' });
  const h = await health(s);
  process.kill(s.pid, 'SIGINT');
  const r = await withTimeout(s.exitPromise, 5000, 'exit after SIGINT');
  assert.equal(r.code, 0, `exit code ${r.code} signal ${r.signal}; stderr: ${s.stderr.slice(-2000)}`);
  s.stopping = true;
  await s.restart();
  expectStatus(await req(`${s.url}/api/k/x`), 200);
  assert.deepEqual(await health(s), h);
});

test('kill -9 under concurrent writes: every acknowledged write survives; the log matches the documents', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const { epoch } = await health(s);
  const N = 200;
  const acked = new Map(); // id -> body returned with 2xx
  let responses = 0;
  let killed = null;
  const items = Array.from({ length: N }, (_, i) => i);
  const results = await pool(items, 50, async (i) => {
    if (killed) throw new Error('server killed');
    const body = { i, tag: `w${i}`, pad: 'p'.repeat(i % 50) };
    const r = await req(`${s.url}/api/crash`, { method: 'POST', body, timeoutMs: 5000 });
    responses++;
    if (r.status >= 200 && r.status < 300) acked.set(r.json.id, r.json);
    else throw new Error(`unexpected ${show(r)}`);
    if (responses >= 100 && !killed) killed = s.kill9();
    return r.status;
  });
  await killed;
  const failures = results.filter((x) => !x.ok).length;
  t.diagnostic(`acknowledged ${acked.size}, failed or cut off ${failures}`);
  assert.ok(acked.size >= 100, `at least 100 acknowledged before the kill (${acked.size})`);
  for (const x of results) {
    if (!x.ok && !/server killed|failed|fetch|terminated|ECONNRE|socket|closed|aborted|timed out/i.test(x.error.message)) {
      assert.fail(`a write failed for a reason other than the kill: ${x.error.message}`);
    }
  }

  await s.restart();
  const h = await health(s);
  assert.equal(h.epoch, epoch, 'epoch survives kill -9');
  // every acknowledged write is there, unchanged
  for (const [id, body] of acked) {
    const g = await req(`${s.url}/api/crash/${id}`);
    expectStatus(g, 200, `acknowledged document ${id} after kill -9`);
    assert.deepEqual(g.json, body, `document ${id} after kill -9`);
  }
  const docs = await allDocs(s, 'crash');
  assert.ok(docs.length >= acked.size && docs.length <= N, `${docs.length} documents for ${acked.size} acknowledged of ${N}`);
  const byId = new Map(docs.map((d) => [d.id, d]));
  assert.equal(byId.size, docs.length, 'no duplicate documents in the listing');

  // the log: seqs 1..head, no gap; one created event per document, none for a missing document
  const { events } = await allChanges(s, { since: 0 });
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: h.head }, (_, i) => i + 1),
    `event seqs must be 1..${h.head} without gaps`,
  );
  const created = new Map();
  for (const e of events) {
    assert.equal(e.type, 'created', `create-only workload: ${JSON.stringify(e)}`);
    assert.equal(e.collection, 'crash');
    assert.equal(e.version, 1);
    assert.ok(byId.has(e.id), `event ${e.seq} references document ${e.id} that does not exist`);
    assert.ok(!created.has(e.id), `two created events for ${e.id}`);
    created.set(e.id, e);
    assert.deepEqual(e.data, byId.get(e.id), `event ${e.seq} data equals the stored document`);
  }
  for (const d of docs) assert.ok(created.has(d.id), `document ${d.id} has no created event`);
  assert.equal(h.head, docs.length, 'head equals the number of creates that committed');

  // and the server keeps working, continuing the sequence
  const next = await create(s, 'crash', { after: true });
  const ch = await req(`${s.url}/api/_changes?since=${h.head}`);
  assert.deepEqual(ch.json.events.map((e) => [e.seq, e.id]), [[h.head + 1, next.id]]);
});

test('SIGTERM while a long-poll waits: the poll is answered or closed, exit 0 within 5 s', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'x', {});
  const poll = req(`${s.url}/api/_changes?since=1&wait=30`, { timeoutMs: 10_000 }).then(
    (r) => ({ r }),
    (e) => ({ e }),
  );
  await sleep(300);
  const t0 = performance.now();
  const stop = s.stop();
  const res = await withTimeout(poll, 6000, 'long-poll after SIGTERM');
  const tAnswered = performance.now() - t0;
  if (res.r) {
    const r = res.r;
    assert.ok(r.status === 200 || r.status === 503, `long-poll after SIGTERM: ${show(r)}`);
    if (r.status === 200) assert.deepEqual(r.json.events, []);
    else assert.match(r.headers.get('content-type') || '', /^application\/problem\+json/);
  } else {
    assert.ok(!/timed out/i.test(res.e.message), `long-poll was not answered: ${res.e.message}`);
  }
  const x = await stop;
  assert.equal(x.killed, false, 'did not exit within 5 s of SIGTERM');
  assert.equal(x.code, 0, `exit code ${x.code} signal ${x.signal}; stderr: ${s.stderr.slice(-2000)}`);
  assert.ok(tAnswered < 5000, `long-poll answered ${Math.round(tAnswered)} ms after SIGTERM`);
});

test('SIGTERM with writes in flight: every acknowledged write survives, exit 0', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t });
  const acked = new Map();
  let stopP = null;
  const results = await pool(
    Array.from({ length: 100 }, (_, i) => i),
    20,
    async (i) => {
      const r = await req(`${s.url}/api/drain`, { method: 'POST', body: { i }, timeoutMs: 5000 });
      if (r.status === 201) acked.set(r.json.id, r.json);
      else if (r.status !== 503) throw new Error(`unexpected ${show(r)}`);
      if (i === 30 && !stopP) stopP = s.stop();
      return r.status;
    },
  );
  const x = await stopP;
  assert.equal(x.code, 0, `exit code ${x.code} signal ${x.signal}`);
  for (const r of results) if (!r.ok) assert.doesNotMatch(r.error.message, /unexpected/, r.error.message);
  await s.restart();
  for (const [id, body] of acked) {
    const g = await req(`${s.url}/api/drain/${id}`);
    expectStatus(g, 200, `acknowledged ${id}`);
    assert.deepEqual(g.json, body);
  }
  assert.equal((await health(s)).head, (await allDocs(s, 'drain')).length);
});

test('SIGTERM with idle keep-alive connections open: exit 0 within 5 s', T, async (t) => {
  const s = await startHerald({ t });
  const conns = [];
  for (let i = 0; i < 20; i++) {
    const c = await RawConn.open(s.port);
    c.write(rawRequest('GET', '/healthz'));
    conns.push(c);
  }
  const half = await RawConn.open(s.port);
  half.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // an unfinished request head
  conns.push(half);
  try {
    for (const c of conns.slice(0, 20)) assert.equal((await c.waitResponses(1, 3000)).complete.length, 1);
    const t0 = performance.now();
    const r = await s.stop();
    assert.equal(r.killed, false, `did not exit within 5 s of SIGTERM (idle connections open)`);
    assert.equal(r.code, 0, `exit code ${r.code} signal ${r.signal}`);
    assert.ok(performance.now() - t0 < 5000);
    for (const c of conns) assert.ok(await c.waitClose(1000), 'connections are closed by the shutdown');
  } finally {
    for (const c of conns) c.destroy();
  }
});
