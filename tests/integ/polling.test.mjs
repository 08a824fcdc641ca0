// Polling and long-polling: GET /api/_changes and GET /api/{c}/_changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, show, expectStatus, head, create, allChanges, until, sleep, RFC3339_MS } from './lib/harness.mjs';

const EVENT_KEYS = ['seq', 'collection', 'type', 'id', 'version', 'ts', 'data'];

async function changes(s, q, what = q, opts = {}) {
  const r = await req(`${s.url}${q}`, opts);
  expectStatus(r, 200, what);
  return r.json;
}

/** a1, a2 in "a", b1 in "b"; update a1 (PUT), a2 (PATCH); delete b1. Returns the REST bodies. */
async function workload(s) {
  const a1 = await create(s, 'a', { id: 'a1', v: 1 });
  const a2 = await create(s, 'a', { id: 'a2', v: 1 });
  const b1 = await create(s, 'b', { id: 'b1', v: 1 });
  const put = await req(`${s.url}/api/a/a1`, { method: 'PUT', body: { v: 2 } });
  expectStatus(put, 200);
  const patch = await req(`${s.url}/api/a/a2`, { method: 'PATCH', body: { w: 3 } });
  expectStatus(patch, 200);
  expectStatus(await req(`${s.url}/api/b/b1`, { method: 'DELETE' }), 204);
  return { a1, a2, b1, a1v2: put.json, a2v2: patch.json };
}

test('_changes: shape and every CRUD event, in seq order', T, async (t) => {
  const s = await startHerald({ t });
  const w = await workload(s);
  const r = await changes(s, '/api/_changes?since=0');
  assert.deepEqual(Object.keys(r).sort(), ['events', 'head', 'next', 'reset'], `top-level keys: ${JSON.stringify(r)}`);
  assert.equal(r.reset, false);
  assert.equal(r.head, 6);
  assert.equal(r.next, 6);
  const ev = r.events;
  assert.deepEqual(ev.map((e) => e.seq), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(
    ev.map((e) => [e.collection, e.type, e.id]),
    [
      ['a', 'created', 'a1'],
      ['a', 'created', 'a2'],
      ['b', 'created', 'b1'],
      ['a', 'updated', 'a1'],
      ['a', 'updated', 'a2'],
      ['b', 'deleted', 'b1'],
    ],
  );
  for (const e of ev) {
    assert.deepEqual(Object.keys(e), EVENT_KEYS, `event keys in contract order: ${JSON.stringify(e)}`);
    assert.match(e.ts, RFC3339_MS);
    assert.equal(typeof e.version, 'number');
  }
  assert.deepEqual(ev.slice(0, 5).map((e) => e.version), [1, 1, 1, 2, 2]);
  assert.deepEqual(ev[0].data, w.a1, 'created event carries the document as created');
  assert.deepEqual(ev[1].data, w.a2);
  assert.deepEqual(ev[2].data, w.b1);
  assert.deepEqual(ev[3].data, w.a1v2, 'updated event carries the document after the change');
  assert.deepEqual(ev[4].data, w.a2v2);
  assert.equal(ev[5].data, null, 'deleted event has data null');
  // since in the middle
  const mid = await changes(s, '/api/_changes?since=4');
  assert.deepEqual(mid.events.map((e) => e.seq), [5, 6]);
  // since = head: nothing, next = head
  const none = await changes(s, '/api/_changes?since=6');
  assert.deepEqual(none.events, []);
  assert.equal(none.next, 6);
  assert.equal(none.reset, false);
});

test('_changes without since is live only: no past events', T, async (t) => {
  const s = await startHerald({ t });
  await workload(s);
  const r = await changes(s, '/api/_changes');
  assert.deepEqual(r.events, [], JSON.stringify(r));
  assert.equal(r.head, 6);
  assert.equal(r.next, 6, 'next is the head, to be sent as since next time');
});

test('_changes filters: collection path, collections, types, id, and combinations', T, async (t) => {
  const s = await startHerald({ t });
  await workload(s);
  await create(s, 'c', { id: 'c1' });
  const seqs = async (q) => (await changes(s, q)).events.map((e) => e.seq);
  assert.deepEqual(await seqs('/api/a/_changes?since=0'), [1, 2, 4, 5], '/api/a/_changes');
  assert.deepEqual(await seqs('/api/b/_changes?since=0'), [3, 6], '/api/b/_changes');
  assert.deepEqual(await seqs('/api/zzz/_changes?since=0'), [], 'never-written collection');
  assert.deepEqual(await seqs('/api/_changes?since=0&collections=b,c'), [3, 6, 7], 'collections=b,c');
  assert.deepEqual(await seqs('/api/_changes?since=0&collections=b%2Cc'), [3, 6, 7], 'collections=b%2Cc');
  assert.deepEqual(await seqs('/api/_changes?since=0&types=deleted'), [6], 'types=deleted');
  assert.deepEqual(await seqs('/api/_changes?since=0&types=created,deleted'), [1, 2, 3, 6, 7], 'types=created,deleted');
  assert.deepEqual(await seqs('/api/_changes?since=0&id=a2'), [2, 5], 'id=a2');
  assert.deepEqual(await seqs('/api/a/_changes?since=0&types=updated'), [4, 5], 'path + types');
  assert.deepEqual(await seqs('/api/_changes?since=0&collections=a&types=created&id=a1'), [1], 'all three');
  assert.deepEqual(await seqs('/api/_changes?since=0&types=nothing'), [], 'unmatched type');
  const f = await changes(s, '/api/_changes?since=0&types=deleted');
  assert.ok(f.next >= 6 && f.next <= f.head, `filtered next ${f.next} must be ≥ last matching seq and ≤ head ${f.head}`);
  const again = await changes(s, `/api/_changes?since=${f.next}&types=deleted`);
  assert.deepEqual(again.events, [], 'no duplicates when resuming from next');
});

test('_changes payload=minimal omits data; payload=full keeps it', T, async (t) => {
  const s = await startHerald({ t });
  await workload(s);
  const min = await changes(s, '/api/_changes?since=0&payload=minimal');
  assert.equal(min.events.length, 6);
  for (const e of min.events) {
    assert.ok(!('data' in e), `minimal event has data: ${JSON.stringify(e)}`);
    assert.deepEqual(Object.keys(e), EVENT_KEYS.filter((k) => k !== 'data'));
  }
  const full = await changes(s, '/api/a/_changes?since=0&payload=full');
  for (const e of full.events) assert.ok('data' in e);
});

test('_changes paging with limit covers every event exactly once in seq order', T, async (t) => {
  const s = await startHerald({ t });
  for (let i = 0; i < 25; i++) await create(s, i % 2 ? 'odd' : 'even', { i });
  const seen = [];
  let since = 0;
  let pages = 0;
  for (; pages < 20; pages++) {
    const r = await changes(s, `/api/_changes?since=${since}&limit=10`);
    assert.ok(r.events.length <= 10, `page of ${r.events.length}`);
    if (r.events.length === 0) {
      assert.equal(r.next, since, 'an empty page does not move next');
      break;
    }
    assert.equal(r.next, r.events.at(-1).seq, 'next is the last seq on the page');
    seen.push(...r.events.map((e) => e.seq));
    since = r.next;
  }
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => i + 1));
  assert.ok(pages >= 3, 'took several pages');
  // default limit is 100
  for (let i = 0; i < 90; i++) await create(s, 'more', { i });
  const d = await changes(s, '/api/_changes?since=0');
  assert.equal(d.events.length, 100, 'default limit 100');
  assert.equal(d.next, 100);
  assert.equal(d.head, 115);
  // collection-scoped paging
  const odd = [];
  since = 0;
  for (let i = 0; i < 20; i++) {
    const r = await changes(s, `/api/odd/_changes?since=${since}&limit=4`);
    odd.push(...r.events.map((e) => e.seq));
    if (r.events.length === 0 || r.next >= r.head) break;
    assert.ok(r.next > since, 'next advances');
    since = r.next;
  }
  assert.deepEqual(odd, Array.from({ length: 12 }, (_, i) => 2 * i + 2), 'odd collection events, each once');
});

test('_changes since ahead of head → reset', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'x', {});
  const r = await changes(s, '/api/_changes?since=100');
  assert.equal(r.reset, true, JSON.stringify(r));
  assert.deepEqual(r.events ?? [], []);
  assert.equal(r.head, 1);
});

test('_changes behind retention → reset with oldest and head (--retain-events 5)', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--retain-events', '5'] });
  for (let i = 0; i < 20; i++) await create(s, 'r', { i });
  const r = await until(
    async () => {
      const x = await changes(s, '/api/_changes?since=1');
      return x.reset ? x : null;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  );
  assert.ok(r, 'events were not pruned within 10 s of 20 writes with --retain-events 5');
  assert.deepEqual(r.events, []);
  assert.equal(r.head, 20);
  assert.equal(typeof r.oldest, 'number', JSON.stringify(r));
  assert.ok(r.oldest > 2 && r.oldest <= 16, `oldest ${r.oldest}: at least 5 retained, some pruned`);
  // wait until pruning has settled at the configured count
  const settled = await until(
    async () => {
      const x = await changes(s, '/api/_changes?since=0&limit=1000');
      return x.events.length && x.events[0].seq === 16 ? x : null;
    },
    { timeoutMs: 10_000, intervalMs: 200 },
  );
  assert.ok(settled, 'the log should come down to the last 5 events');
  const o = settled.events[0].seq;
  assert.equal(settled.reset, false, 'since=0 reads from the oldest retained');
  assert.deepEqual(settled.events.map((e) => e.seq), [16, 17, 18, 19, 20]);
  // the seam: since=oldest-1 is complete; since=oldest-2 has lost an event
  const edge = await changes(s, `/api/_changes?since=${o - 1}`);
  assert.equal(edge.reset, false, `since=${o - 1}: ${JSON.stringify(edge)}`);
  assert.equal(edge.events[0].seq, o);
  const behind = await changes(s, `/api/_changes?since=${o - 2}`);
  assert.equal(behind.reset, true, `since=${o - 2} lost event ${o - 1}: ${JSON.stringify(behind)}`);
  assert.equal(behind.oldest, o);
  // collection-scoped path resets too
  const scoped = await changes(s, `/api/r/_changes?since=1`);
  assert.equal(scoped.reset, true, JSON.stringify(scoped));
  // documents are not pruned with their events
  assert.equal((await req(`${s.url}/api/r?limit=1000`)).json.items.length, 20);
});

// ------------------------------------------------------------------ long-poll

test('long-poll: wait=10 stays pending and a write wakes it promptly', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'lp', { n: 0 });
  const h = await head(s);
  const t0 = performance.now();
  let tPoll = null;
  const poll = req(`${s.url}/api/_changes?since=${h}&wait=10`, { timeoutMs: 15_000 }).then((r) => {
    tPoll = performance.now();
    return r;
  });
  await sleep(300);
  assert.equal(tPoll, null, 'the long-poll answered before any event');
  const w = await req(`${s.url}/api/lp`, { method: 'POST', body: { n: 1 } });
  const tWrite = performance.now();
  expectStatus(w, 201);
  const r = await poll;
  expectStatus(r, 200, 'long-poll');
  assert.deepEqual(r.json.events.map((e) => [e.seq, e.id]), [[h + 1, w.json.id]], show(r));
  assert.equal(r.json.next, h + 1);
  assert.ok(tPoll - t0 >= 250, `answered after ${Math.round(tPoll - t0)} ms, before the write`);
  assert.ok(tPoll - tWrite < 200, `long-poll answered ${Math.round(tPoll - tWrite)} ms after the write's 201 (must be < 200: woken, not polled)`);
});

test('long-poll: wait=1 with no event returns events [] after about 1 s', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'lp', {});
  const t0 = performance.now();
  const r = await req(`${s.url}/api/_changes?since=1&wait=1`, { timeoutMs: 5000 });
  const ms = performance.now() - t0;
  expectStatus(r, 200);
  assert.deepEqual(r.json.events, []);
  assert.equal(r.json.next, 1);
  assert.equal(r.json.head, 1);
  assert.equal(r.json.reset, false);
  assert.ok(ms >= 850 && ms <= 2500, `returned after ${Math.round(ms)} ms`);
});

test('long-poll returns at once when events are already there', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'lp', {});
  const r = await req(`${s.url}/api/_changes?since=0&wait=10`, { timeoutMs: 15_000 });
  expectStatus(r, 200);
  assert.equal(r.json.events.length, 1);
  assert.ok(r.ms < 1000, `took ${Math.round(r.ms)} ms`);
});

for (const [what, q, other, mine] of [
  ['path /api/a/_changes', '/api/a/_changes?', { coll: 'b', method: 'POST' }, { coll: 'a', method: 'POST' }],
  ['collections=a', '/api/_changes?collections=a&', { coll: 'b', method: 'POST' }, { coll: 'a', method: 'POST' }],
  ['types=deleted', '/api/_changes?types=deleted&', { coll: 'a', method: 'POST' }, { coll: 'a', method: 'DELETE' }],
]) {
  test(`long-poll filtered (${what}) is not answered by an unrelated write`, T, async (t) => {
    const s = await startHerald({ t });
    await create(s, 'a', { id: 'victim' });
    const h = await head(s);
    let tPoll = null;
    const poll = req(`${s.url}${q}since=${h}&wait=10`, { timeoutMs: 15_000 }).then((r) => {
      tPoll = performance.now();
      return r;
    });
    await sleep(300);
    const o = await req(`${s.url}/api/${other.coll}`, { method: other.method, body: { unrelated: true } });
    expectStatus(o, 201, 'unrelated write');
    await sleep(700);
    if (tPoll !== null) assert.fail(`the long-poll answered after an unrelated write: ${show(await poll)}`);
    const m =
      mine.method === 'DELETE'
        ? await req(`${s.url}/api/${mine.coll}/victim`, { method: 'DELETE' })
        : await req(`${s.url}/api/${mine.coll}`, { method: 'POST', body: { related: true } });
    const tWrite = performance.now();
    expectStatus(m, mine.method === 'DELETE' ? 204 : 201, 'related write');
    const r = await poll;
    expectStatus(r, 200);
    assert.equal(r.json.events.length, 1, `only the matching event: ${show(r)}`);
    assert.equal(r.json.events[0].seq, h + 2);
    assert.ok(tPoll - tWrite < 200, `answered ${Math.round(tPoll - tWrite)} ms after the matching write`);
  });
}

test('one write wakes many concurrent long-polls', T, async (t) => {
  const s = await startHerald({ t });
  const h = await head(s);
  const polls = Array.from({ length: 30 }, (_, i) =>
    req(`${s.url}/api/${i % 2 ? '_changes?' : 'many/_changes?'}since=${h}&wait=10`, { timeoutMs: 15_000 }).then((r) => ({
      r,
      t: performance.now(),
    })),
  );
  await sleep(400);
  const w = await req(`${s.url}/api/many`, { method: 'POST', body: { x: 1 } });
  const tWrite = performance.now();
  expectStatus(w, 201);
  const res = await Promise.all(polls);
  for (const { r, t: tp } of res) {
    expectStatus(r, 200);
    assert.deepEqual(r.json.events.map((e) => e.id), [w.json.id]);
    assert.ok(tp - tWrite < 500, `a long-poll answered ${Math.round(tp - tWrite)} ms after the write`);
  }
});

test('a custom event wakes a long-poll filtered on its type', T, async (t) => {
  const s = await startHerald({ t });
  let tPoll = null;
  const poll = req(`${s.url}/api/_changes?since=0&types=ping&wait=10`, { timeoutMs: 15_000 }).then((r) => {
    tPoll = performance.now();
    return r;
  });
  await sleep(300);
  await create(s, 'x', {});
  await sleep(300);
  assert.equal(tPoll, null, 'not answered by a created event');
  const p = await req(`${s.url}/api/_events`, { method: 'POST', body: { collection: 'x', type: 'ping', data: { a: 1 } } });
  const tw = performance.now();
  expectStatus(p, 202);
  const r = await poll;
  assert.deepEqual(r.json.events.map((e) => [e.seq, e.type]), [[2, 'ping']]);
  assert.deepEqual(r.json.events[0].data, { a: 1 });
  assert.ok(tPoll - tw < 200, `answered ${Math.round(tPoll - tw)} ms after the publish`);
});

test('a waiting long-poll is listed in /api/_connections as transport "poll", and leaves it when answered', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'lp', {});
  const poll = req(`${s.url}/api/lp/_changes?since=1&wait=10`, { timeoutMs: 15_000 });
  const listed = await until(async () => {
    const c = await req(`${s.url}/api/_connections`);
    expectStatus(c, 200);
    return c.json.connections.find((x) => x.transport === 'poll');
  });
  assert.equal(listed.lastSeq, 1);
  assert.equal(listed.lag, 0);
  await create(s, 'lp', {});
  const r = await poll;
  expectStatus(r, 200);
  assert.equal(r.json.events.length, 1);
  const after = await req(`${s.url}/api/_connections`);
  assert.equal(after.json.connections.filter((x) => x.transport === 'poll').length, 0, show(after));
});
