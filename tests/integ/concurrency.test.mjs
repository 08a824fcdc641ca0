// Races: conditional writes, duplicate ids, idempotency keys, the list/log seam,
// and a long-poll follower that must see every event exactly once, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, show, expectStatus, health, head, create, allChanges, allDocs, pool, sleep, RawConn, rawRequest } from './lib/harness.mjs';

test('concurrent If-Match updates of one version: exactly one wins', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'race', { id: 'doc', n: 0 });
  const h0 = await head(s);
  const rs = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      req(`${s.url}/api/race/doc`, {
        method: i % 2 ? 'PATCH' : 'PUT',
        body: { n: i + 1 },
        headers: { 'If-Match': '"1"' },
      }),
    ),
  );
  const ok = rs.filter((r) => r.status === 200);
  const pre = rs.filter((r) => r.status === 412);
  assert.equal(ok.length, 1, `exactly one 200: ${rs.map((r) => r.status).join(',')}`);
  assert.equal(pre.length, 19, `the rest 412: ${rs.map((r) => r.status).join(',')}`);
  const g = await req(`${s.url}/api/race/doc`);
  assert.equal(g.json.version, 2);
  assert.equal(g.json.n, ok[0].json.n, 'the stored document is the winner’s');
  assert.equal(await head(s), h0 + 1, 'one event');
});

test('concurrent POSTs of one client id: exactly one 201, the rest 409', T, async (t) => {
  const s = await startHerald({ t });
  const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => req(`${s.url}/api/race`, { method: 'POST', body: { id: 'same', i } })));
  const statuses = rs.map((r) => r.status);
  assert.equal(statuses.filter((x) => x === 201).length, 1, statuses.join(','));
  assert.equal(statuses.filter((x) => x === 409).length, 19, statuses.join(','));
  assert.equal(await head(s), 1);
  const winner = rs.find((r) => r.status === 201).json;
  assert.deepEqual((await req(`${s.url}/api/race/same`)).json, winner);
});

test('concurrent PUT-creates with If-None-Match: * — exactly one 201', T, async (t) => {
  const s = await startHerald({ t });
  const rs = await Promise.all(
    Array.from({ length: 20 }, (_, i) => req(`${s.url}/api/race/once`, { method: 'PUT', body: { i }, headers: { 'If-None-Match': '*' } })),
  );
  const statuses = rs.map((r) => r.status);
  assert.equal(statuses.filter((x) => x === 201).length, 1, statuses.join(','));
  assert.equal(statuses.filter((x) => x === 412).length, 19, statuses.join(','));
  assert.equal(await head(s), 1);
});

test('concurrent retries with one Idempotency-Key create one document', T, async (t) => {
  const s = await startHerald({ t });
  const body = { order: 42 };
  const rs = await Promise.all(
    Array.from({ length: 10 }, () => req(`${s.url}/api/pay`, { method: 'POST', body, headers: { 'Idempotency-Key': 'once-only' } })),
  );
  const ok = rs.filter((r) => r.status >= 200 && r.status < 300);
  assert.ok(ok.length >= 1, rs.map(show).join('\n'));
  for (const r of rs) assert.ok(r.status === 201 || r.status === 409, `a concurrent retry is a replay (201) or a conflict (409): ${show(r)}`);
  assert.equal(new Set(ok.map((r) => r.json.id)).size, 1, 'every success names the same document');
  assert.equal((await allDocs(s, 'pay')).length, 1, 'one document');
  assert.equal(await head(s), 1, 'one event');
  // after the dust settles, a retry is a replay
  const again = await req(`${s.url}/api/pay`, { method: 'POST', body, headers: { 'Idempotency-Key': 'once-only' } });
  expectStatus(again, 201);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.json.id, ok[0].json.id);
});

test('list head is an exact seam under concurrent writes: list + since=head = everything, once', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  for (let i = 0; i < 20; i++) await create(s, 'seam', { i });
  let stop = false;
  let n = 1000;
  const writers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const r = await req(`${s.url}/api/seam`, { method: 'POST', body: { i: n++ } });
      expectStatus(r, 201);
    }
  });
  const snaps = [];
  for (let k = 0; k < 5; k++) {
    await sleep(30);
    const l = await req(`${s.url}/api/seam?limit=1000`);
    expectStatus(l, 200);
    assert.equal(l.json.next, null, 'one page holds the whole collection');
    snaps.push(l.json);
  }
  stop = true;
  await Promise.all(writers);
  const all = await allDocs(s, 'seam');
  const { events } = await allChanges(s);
  for (const snap of snaps) {
    const inList = new Set(snap.items.map((d) => d.id));
    const after = events.filter((e) => e.seq > snap.head).map((e) => e.id);
    const before = events.filter((e) => e.seq <= snap.head).map((e) => e.id);
    assert.equal(inList.size, before.length, `snapshot at head ${snap.head} has ${inList.size} items but ${before.length} events ≤ head`);
    for (const id of before) assert.ok(inList.has(id), `${id} created at or before head ${snap.head} is missing from the list`);
    for (const id of after) assert.ok(!inList.has(id), `${id} is in the list and also after head ${snap.head} (doubled)`);
    assert.equal(inList.size + after.length, all.length, 'list + later events = all documents');
  }
});

test('a long-poll follower sees every event exactly once, in order, during concurrent writes', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 300;
  const seen = [];
  let done = false;
  const follower = (async () => {
    let since = 0;
    for (let i = 0; i < 2000 && !done; i++) {
      const r = await req(`${s.url}/api/_changes?since=${since}&wait=2&limit=37`, { timeoutMs: 5000 });
      expectStatus(r, 200, 'follower');
      assert.equal(r.json.reset, false);
      for (const e of r.json.events) seen.push(e.seq);
      since = r.json.next;
      if (since >= N && seen.length >= N) return;
    }
  })();
  const results = await pool(Array.from({ length: N }, (_, i) => i), 30, (i) =>
    req(`${s.url}/api/${['a', 'b', 'c'][i % 3]}`, { method: 'POST', body: { i } }).then((r) => {
      expectStatus(r, 201);
      return r;
    }),
  );
  for (const r of results) assert.ok(r.ok, r.error?.message);
  await Promise.race([follower, sleep(15_000)]);
  done = true;
  await follower;
  assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i + 1), 'follower saw 1..N exactly once, in order');
  assert.equal((await health(s)).head, N);
});

test('long-poll clients that hang up before the answer do not disturb the server', T, async (t) => {
  const s = await startHerald({ t });
  const conns = [];
  for (let i = 0; i < 30; i++) {
    const c = await RawConn.open(s.port);
    c.write(rawRequest('GET', `/api/${i % 2 ? 'x/' : ''}_changes?since=0&wait=30`));
    conns.push(c);
  }
  await sleep(200);
  for (const c of conns.slice(0, 20)) c.destroy();
  await sleep(100);
  const w = await create(s, 'x', { a: 1 });
  // the ten still connected are answered with the event
  const rs = await Promise.all(conns.slice(20).map((c) => c.waitResponses(1, 3000)));
  for (const r of rs) {
    assert.equal(r.complete.length, 1, 'a connected long-poll is answered');
    assert.equal(r.complete[0].status, 200);
    assert.deepEqual(r.complete[0].json.events.map((e) => e.id), [w.id]);
  }
  for (const c of conns) c.destroy();
  await sleep(100);
  s.checkAlive();
  expectStatus(await req(`${s.url}/healthz`), 200);
  await create(s, 'x', { a: 2 });
  expectStatus(await req(`${s.url}/api/_changes?since=0`), 200);
});

test('wait=60 is accepted (the upper bound) and woken by a write', T, async (t) => {
  const s = await startHerald({ t });
  const poll = req(`${s.url}/api/_changes?since=0&wait=60`, { timeoutMs: 10_000 });
  await sleep(200);
  const w = await create(s, 'x', {});
  const r = await poll;
  expectStatus(r, 200);
  assert.deepEqual(r.json.events.map((e) => e.id), [w.id]);
});
