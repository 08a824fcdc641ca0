// WebSocket transport, GET /api/_ws, through the npm `ws` client: the
// herald.v1 JSON protocol (welcome, subscribe, event, unsubscribe, ping,
// error, reset), replay then live, filters, several subscriptions per
// connection, close codes seen by a real client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, expectStatus, health, create, allChanges, sleep } from './lib/harness.mjs';
import { WsClient, wsUrl, expectWsError, assertIncreasing, assertSeqs, range, writeMany, waitPruned, closeAll } from './lib/rt.mjs';

const EVENT_KEYS = ['seq', 'collection', 'type', 'id', 'version', 'ts', 'data'];

test.afterEach(() => closeAll());

/** seq 1..7: a1, a2 created; b1 created; a1 updated; b1 deleted; custom a.ping; c1 created. */
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

// ------------------------------------------------------------------ handshake, welcome

test('welcome: head and epoch as in /healthz; herald.v1 echoed only when offered', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'a', {});
  await create(s, 'a', {});
  const h = await health(s);
  const c = await WsClient.open(wsUrl(s), { protocols: 'herald.v1' });
  assert.equal(c.ws.protocol, 'herald.v1', 'subprotocol herald.v1 selected when offered');
  assert.deepEqual(Object.keys(c.welcome), ['op', 'head', 'epoch'], `welcome keys, op first: ${JSON.stringify(c.welcome)}`);
  assert.equal(c.welcome.head, 2, `welcome head: ${JSON.stringify(c.welcome)}`);
  assert.equal(c.welcome.epoch, h.epoch, 'welcome epoch equals /healthz epoch');
  assert.equal(typeof c.welcome.epoch, 'string');
  assert.ok(c.welcome.epoch.length > 0);
  const c2 = await WsClient.open(wsUrl(s), { protocols: ['chat.v9', 'herald.v1'] });
  assert.equal(c2.ws.protocol, 'herald.v1', 'herald.v1 chosen from a list');
  const c3 = await WsClient.open(wsUrl(s));
  assert.equal(c3.ws.protocol, '', 'no subprotocol when none offered');
  assert.equal(c3.welcome.head, 2);
  // the welcome is the first message and only one is sent
  await sleep(100);
  assert.equal(c3.msgs.length, 1, `only the welcome before any request: ${c3.describe()}`);
});

// ------------------------------------------------------------------ subscribe, events

test('subscribe (live): subscribed with head, then each write as an event identical to the polling event', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'a', { id: 'before' });
  const c = await WsClient.open(wsUrl(s));
  const sub = await c.subscribe('s1');
  assert.deepEqual(Object.keys(sub), ['op', 'sub', 'head'], `subscribed keys: ${JSON.stringify(sub)}`);
  assert.equal(sub.head, 1, 'subscribed head');
  const n = await workload(s);
  const evs = await c.waitSeq('s1', 1 + n);
  const polled = (await allChanges(s, { since: 1 })).events;
  assert.deepEqual(evs, polled, 'live WS events equal the polling events (no replay of seq 1 without since)');
  for (const m of c.msgs.filter((x) => x.op === 'event')) {
    assert.deepEqual(Object.keys(m), ['op', 'sub', 'event'], `event message keys: ${JSON.stringify(m)}`);
    // custom events have no id/version; the rest keep the contract order
    const keys = m.event.type === 'ping' ? EVENT_KEYS.filter((k) => k !== 'id' && k !== 'version') : EVENT_KEYS;
    assert.deepEqual(Object.keys(m.event), keys, `event keys in contract order: ${JSON.stringify(m.event)}`);
  }
  assert.equal(evs.find((e) => e.type === 'deleted').data, null);
  await sleep(200);
  assert.equal(c.events('s1').length, n, `no extra events: ${c.describe()}`);
});

test('subscribe with since: retained events replayed first, then live; since=head replays nothing', T, async (t) => {
  const s = await startHerald({ t });
  const n = await workload(s);
  const c = await WsClient.open(wsUrl(s));
  const s0 = await c.subscribe('from0', { since: 0 });
  assert.equal(s0.head, n);
  const s3 = await c.subscribe('from3', { since: 3 });
  assert.equal(s3.head, n);
  await c.subscribe('fromHead', { since: n });
  await c.waitSeq('from0', n);
  await c.waitSeq('from3', n);
  await create(s, 'a', { id: 'live' });
  const all = await c.waitSeq('from0', n + 1);
  assertSeqs(all, range(1, n + 1), 'since=0');
  assertSeqs(await c.waitSeq('from3', n + 1), range(4, n + 1), 'since=3');
  assertSeqs(await c.waitSeq('fromHead', n + 1), [n + 1], 'since=head');
  assert.deepEqual(all.slice(0, n), (await allChanges(s, { since: 0 })).events.slice(0, n), 'replayed events equal the polling events');
  assert.equal(all[n].id, 'live');
  // the subscribed ack comes before the sub's first event
  const i0 = c.msgs.findIndex((m) => m.op === 'subscribed' && m.sub === 'from0');
  const i1 = c.msgs.findIndex((m) => m.op === 'event' && m.sub === 'from0');
  assert.ok(i0 >= 0 && i0 < i1, `subscribed before the first event: ${i0} < ${i1}`);
});

test('unsubscribe: unsubscribed, no more events; unknown sub → unknown_sub; the id can be reused', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('s1');
  await c.subscribe('keep');
  await create(s, 'a', {});
  await c.waitSeq('s1', 1);
  c.send({ op: 'unsubscribe', sub: 's1' });
  const u = await c.nextOp('unsubscribed');
  assert.deepEqual(u, { op: 'unsubscribed', sub: 's1' });
  await create(s, 'a', {});
  await c.waitSeq('keep', 2);
  await sleep(150);
  assertSeqs(c.events('s1'), [1], 'no events after unsubscribe');
  // unknown / already removed sub
  c.send({ op: 'unsubscribe', sub: 's1' });
  const e = await c.nextOp('error');
  expectWsError(e, 'unknown_sub', 'unsubscribe twice');
  assert.equal(e.sub, 's1', `error names the sub: ${JSON.stringify(e)}`);
  c.send({ op: 'unsubscribe', sub: 'never' });
  expectWsError(await c.nextOp('error'), 'unknown_sub', 'unsubscribe never subscribed');
  // the same id subscribes again
  await c.subscribe('s1');
  await create(s, 'a', {});
  await c.waitSeq('s1', 3);
  assertSeqs(c.events('s1'), [1, 3], 's1 after re-subscribe');
  assertSeqs(c.events('keep'), [1, 2, 3], 'the other subscription is untouched');
});

test('ping with ref → pong with the same ref (any JSON value); without ref → pong', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  for (const ref of ['r1', 42, { a: [1, 'x'] }, null, 'é€😀']) {
    c.send({ op: 'ping', ref });
    const p = await c.nextOp('pong');
    assert.deepEqual(p, { op: 'pong', ref }, `pong for ref ${JSON.stringify(ref)}`);
  }
  c.send({ op: 'ping' });
  const p = await c.nextOp('pong');
  assert.equal(p.op, 'pong');
  assert.equal(p.ref, undefined, `pong without ref: ${JSON.stringify(p)}`);
});

// ------------------------------------------------------------------ errors

test('malformed requests get error ops with the right code, and the connection stays usable', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  const cases = [
    ['not json', 'hello', 'bad_request'],
    ['truncated json', '{"op":"ping"', 'bad_request'],
    ['an array', '[1,2]', 'bad_request'],
    ['a string', '"subscribe"', 'bad_request'],
    ['a number', '5', 'bad_request'],
    ['no op', '{"sub":"s1"}', 'bad_request'],
    ['op not a string', '{"op":5}', 'bad_request'],
    ['subscribe without sub', '{"op":"subscribe"}', 'bad_request'],
    ['sub not a string', '{"op":"subscribe","sub":5}', 'bad_request'],
    ['empty sub', '{"op":"subscribe","sub":""}', 'bad_request'],
    ['sub too long', JSON.stringify({ op: 'subscribe', sub: 'x'.repeat(65) }), 'bad_request'],
    ['sub with a space', '{"op":"subscribe","sub":"a b"}', 'bad_request'],
    ['unsubscribe without sub', '{"op":"unsubscribe"}', 'bad_request'],
    ['unsubscribe with a numeric sub', '{"op":"unsubscribe","sub":7}', 'bad_request'],
    ['duplicate keys', '{"op":"ping","op":"subscribe"}', 'bad_request'],
    ['unknown op', '{"op":"publish","sub":"s1"}', 'unknown_op'],
    ['unknown op, case', '{"op":"Subscribe","sub":"s1"}', 'unknown_op'],
    ['collections not an array', '{"op":"subscribe","sub":"f1","collections":"a"}', 'bad_filter'],
    ['collections of numbers', '{"op":"subscribe","sub":"f2","collections":[1]}', 'bad_filter'],
    ['bad collection name', '{"op":"subscribe","sub":"f3","collections":["Bad Name"]}', 'bad_filter'],
    ['types not an array', '{"op":"subscribe","sub":"f4","types":"created"}', 'bad_filter'],
    ['id not a string', '{"op":"subscribe","sub":"f5","id":5}', 'bad_filter'],
    ['payload unknown', '{"op":"subscribe","sub":"f6","payload":"huge"}', 'bad_filter'],
    ['since negative', '{"op":"subscribe","sub":"f7","since":-1}', 'bad_filter'],
    ['since a string', '{"op":"subscribe","sub":"f8","since":"5"}', 'bad_filter'],
    ['since fractional', '{"op":"subscribe","sub":"f9","since":1.5}', 'bad_filter'],
    ['unknown field', '{"op":"subscribe","sub":"f10","foo":1}', 'bad_filter'],
  ];
  for (const [what, text, code] of cases) {
    c.send(text);
    const m = await c.next((x) => x.op === 'error' || x.op === 'subscribed' || x.op === 'pong', `reply to ${what}`);
    expectWsError(m, code, `${what} (${text.slice(0, 80)})`);
    if (code === 'bad_filter') {
      const sub = JSON.parse(text).sub;
      assert.equal(m.sub, sub, `${what}: a bad_filter error names its sub: ${JSON.stringify(m)}`);
    }
  }
  // nothing was subscribed by the bad requests: the ids are free
  await c.subscribe('f1', { collections: ['a'] });
  await c.subscribe('s1');
  // duplicate sub
  c.send({ op: 'subscribe', sub: 's1' });
  const d = await c.nextOp('error');
  expectWsError(d, 'duplicate_sub', 'duplicate sub');
  assert.equal(d.sub, 's1');
  // the connection still works
  c.send({ op: 'ping', ref: 'still-here' });
  assert.deepEqual(await c.nextOp('pong'), { op: 'pong', ref: 'still-here' });
  await create(s, 'a', {});
  assertSeqs(await c.waitSeq('s1', 1), [1], 's1 delivers once despite the duplicate subscribe');
  await sleep(150);
  assertSeqs(c.events('s1'), [1], 'the rejected duplicate did not add a second delivery');
  assert.equal(c.closed, false, `connection closed by malformed requests: ${c.describe()}`);
});

test('too_many_subscriptions at --max-subscriptions; unsubscribing frees a slot', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-subscriptions', '3'] });
  const c = await WsClient.open(wsUrl(s));
  for (const id of ['a', 'b', 'c']) await c.subscribe(id);
  c.send({ op: 'subscribe', sub: 'd' });
  const e = await c.nextOp('error');
  expectWsError(e, 'too_many_subscriptions', '4th subscription with a limit of 3');
  assert.equal(e.sub, 'd');
  c.send({ op: 'unsubscribe', sub: 'b' });
  await c.nextOp('unsubscribed', 'b');
  await c.subscribe('d');
  // the limit is per connection
  const c2 = await WsClient.open(wsUrl(s));
  for (const id of ['a', 'b', 'c']) await c2.subscribe(id);
});

test('default subscription limit is 64 per connection', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  for (let i = 0; i < 64; i++) c.send({ op: 'subscribe', sub: `s${i}` });
  c.send({ op: 'subscribe', sub: 's64' });
  await c.until(() => c.msgs.filter((m) => m.op === 'subscribed' || m.op === 'error').length >= 65, '65 replies', 10_000);
  const replies = c.msgs.filter((m) => m.op === 'subscribed' || m.op === 'error');
  assert.equal(replies.filter((m) => m.op === 'subscribed').length, 64, 'the first 64 are accepted');
  const last = replies[64];
  expectWsError(last, 'too_many_subscriptions', 'the 65th');
  assert.equal(last.sub, 's64');
});

// ------------------------------------------------------------------ filters

const FILTERS = [
  ['all', {}, ''],
  ['colA', { collections: ['a'] }, 'collections=a'],
  ['colAB', { collections: ['a', 'b'] }, 'collections=a,b'],
  ['created', { types: ['created'] }, 'types=created'],
  ['updDel', { types: ['updated', 'deleted'] }, 'types=updated,deleted'],
  ['custom', { types: ['ping'] }, 'types=ping'],
  ['idA1', { id: 'a1' }, 'id=a1'],
  ['minimal', { payload: 'minimal' }, 'payload=minimal'],
  ['full', { payload: 'full' }, 'payload=full'],
  ['combo', { collections: ['a'], types: ['created'], payload: 'minimal' }, 'collections=a&types=created&payload=minimal'],
  ['noMatch', { collections: ['zzz'] }, 'collections=zzz'],
];

async function checkFilters(s, c, prefix) {
  for (const [name, , query] of FILTERS) {
    const expected = (await allChanges(s, { since: 0, query })).events;
    const got = expected.length ? await c.waitEvents(prefix + name, expected.length) : [];
    assert.deepEqual(got, expected, `${prefix}${name} (${query || 'no filter'}): WS events equal _changes?${query}`);
  }
  await sleep(200);
  for (const [name, , query] of FILTERS) {
    const expected = (await allChanges(s, { since: 0, query })).events;
    assertSeqs(c.events(prefix + name), expected.map((e) => e.seq), `${prefix}${name}: no extra events`);
    if (query.includes('minimal')) {
      for (const e of c.events(prefix + name)) assert.ok(!('data' in e), `payload=minimal leaves data out: ${JSON.stringify(e)}`);
    }
  }
}

test('filters collections, types, id and payload=minimal: live and replayed, equal to polling', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  for (const [name, f] of FILTERS) await c.subscribe('live-' + name, f);
  await workload(s);
  await checkFilters(s, c, 'live-');
  // the same filters replayed from since=0 on another connection
  const r = await WsClient.open(wsUrl(s));
  for (const [name, f] of FILTERS) await r.subscribe('replay-' + name, { ...f, since: 0 });
  await checkFilters(s, r, 'replay-');
  const minimal = c.events('live-minimal');
  assert.deepEqual(Object.keys(minimal[0]), ['seq', 'collection', 'type', 'id', 'version', 'ts'], 'minimal event keys');
});

// ------------------------------------------------------------------ several subscriptions

test('several subscriptions on one connection: an event matching two is delivered once per sub, each with its sub', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('x', { collections: ['a'] });
  await c.subscribe('y', { types: ['created'] });
  await c.subscribe('z', { collections: ['b'] });
  await create(s, 'a', { id: 'one' }); // x, y
  await create(s, 'b', { id: 'two' }); // y, z
  expectStatus(await req(`${s.url}/api/a/one`, { method: 'PATCH', body: { k: 1 } }), 200); // x
  await c.waitSeq('x', 3);
  await c.waitSeq('y', 2);
  await c.waitSeq('z', 2);
  await sleep(200);
  assertSeqs(c.events('x'), [1, 3], 'sub x');
  assertSeqs(c.events('y'), [1, 2], 'sub y');
  assertSeqs(c.events('z'), [2], 'sub z');
  const forSeq1 = c.msgs.filter((m) => m.op === 'event' && m.event.seq === 1);
  assert.deepEqual(forSeq1.map((m) => m.sub).sort(), ['x', 'y'], 'seq 1 once for x and once for y');
  assert.deepEqual(forSeq1[0].event, forSeq1[1].event, 'the same event body for both');
});

// ------------------------------------------------------------------ replay then live under load

test('replay then live while 300 writes commit: every seq exactly once, strictly increasing', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const PRE = 1200; // more than two replay pages
  await writeMany(s, PRE, (i) => ({ path: '/api/pre', body: { i } }), { concurrency: 16 });
  const W = 300;
  const total = PRE + W;
  let done = 0;
  const writer = writeMany(
    s,
    W,
    (i) => {
      done++;
      return { path: '/api/live', body: { i } };
    },
    { concurrency: 4 },
  );
  // subscribe at staggered moments while the writer runs: each replay races the commits
  const subs = [];
  const starts = [0, 10, 500, 1100];
  for (let k = 0; k < starts.length; k++) {
    while (done < (k + 1) * 40 && done < W) await sleep(2);
    const c = await WsClient.open(wsUrl(s));
    c.send({ op: 'subscribe', sub: 'r', since: starts[k] });
    // a second sub on the same connection with a collection filter
    c.send({ op: 'subscribe', sub: 'liveOnly', collections: ['live'], since: starts[k] });
    subs.push({ c, since: starts[k], atWrite: done });
  }
  await writer;
  for (const { c, since, atWrite } of subs) {
    const evs = await c.waitSeq('r', total, 30_000);
    await sleep(100);
    const all = c.events('r');
    assertIncreasing(all, `since=${since} (subscribed after ~${atWrite} writes)`);
    assertSeqs(all, range(since + 1, total), `since=${since} (subscribed after ~${atWrite} writes)`);
    const live = c.events('liveOnly');
    assertSeqs(live, range(Math.max(since, PRE) + 1, total), `liveOnly since=${since}`);
    assert.ok(evs.every((e) => e.data && typeof e.data.i === 'number'), 'every event has its data');
  }
});

// ------------------------------------------------------------------ reset

test('reset: since behind retention → reset {sub, oldest, head}, then live events', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--retain-events', '5'] });
  for (let i = 0; i < 20; i++) await create(s, 'r', { i });
  const pruned = await waitPruned(s, { minOldest: 3 });
  const oldest = pruned.events[0].seq;
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('behind', { since: 1 });
  await c.subscribe('edge', { since: oldest - 1 });
  const r = await c.findOp('reset', 'behind');
  assert.deepEqual(Object.keys(r), ['op', 'sub', 'oldest', 'head'], `reset keys: ${JSON.stringify(r)}`);
  assert.equal(r.head, 20, JSON.stringify(r));
  assert.ok(r.oldest >= oldest && r.oldest <= 16, `reset oldest ${r.oldest} (first retained was ${oldest})`);
  // since = oldest-1 loses nothing: no reset, the retained events
  const edge = await c.waitSeq('edge', 20);
  assertSeqs(edge, range(oldest, 20), `since=${oldest - 1}`);
  await create(s, 'r', { i: 'live' });
  assertSeqs(await c.waitSeq('behind', 21), [21], 'after reset: live events only');
  await c.waitSeq('edge', 21);
  assert.equal(c.msgs.filter((m) => m.op === 'reset').length, 1, `one reset only: ${c.describe()}`);
  const ri = c.msgs.indexOf(r);
  const ei = c.msgs.findIndex((m) => m.op === 'event' && m.sub === 'behind');
  assert.ok(ri < ei, 'reset comes before the live events');
});

test('reset: since ahead of head → reset, then live', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'a', {});
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('future', { since: 1000 });
  const r = await c.findOp('reset', 'future');
  assert.equal(r.head, 1, JSON.stringify(r));
  await create(s, 'a', {});
  assertSeqs(await c.waitSeq('future', 2), [2], 'live after a reset from the future');
});

// ------------------------------------------------------------------ close codes (real client)

test('a client Close is echoed with the same code', T, async (t) => {
  const s = await startHerald({ t });
  for (const [code, reason] of [
    [1000, 'bye'],
    [4000, 'app-specific'],
    [1001, ''],
  ]) {
    const c = await WsClient.open(wsUrl(s));
    await c.subscribe('s');
    c.ws.close(code, reason);
    const cl = await c.waitClose(5000);
    assert.equal(cl.code, code, `echoed close code for ${code}: ${c.describe()}`);
  }
  // the server still serves
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('s');
  await create(s, 'a', {});
  await c.waitSeq('s', 1);
});

test('binary message → close 1003; message over --ws-max-message → 1009 (ws client)', T, async (t) => {
  const s = await startHerald({ t, args: ['--ws-max-message', '1000'] });
  const b = await WsClient.open(wsUrl(s));
  b.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  assert.equal((await b.waitClose()).code, 1003, `binary: ${b.describe()}`);
  const big = await WsClient.open(wsUrl(s));
  big.send({ op: 'ping', ref: 'x'.repeat(1200) });
  assert.equal((await big.waitClose()).code, 1009, `1200-byte message with limit 1000: ${big.describe()}`);
  const ok = await WsClient.open(wsUrl(s));
  ok.send({ op: 'ping', ref: 'y'.repeat(900) });
  assert.equal((await ok.nextOp('pong')).ref.length, 900, 'a message under the limit is served');
});

test('default message limit is 65536 bytes', T, async (t) => {
  const s = await startHerald({ t });
  const ok = await WsClient.open(wsUrl(s));
  const pad = 65536 - JSON.stringify({ op: 'ping', ref: '' }).length;
  ok.send({ op: 'ping', ref: 'z'.repeat(pad) });
  const p = await ok.nextOp('pong');
  assert.equal(p.ref.length, pad, 'exactly 65536 bytes is accepted');
  ok.send({ op: 'ping', ref: 'z'.repeat(pad + 1) });
  assert.equal((await ok.waitClose()).code, 1009, `65537 bytes: ${ok.describe()}`);
});

test('SIGTERM: subscribed clients get close 1001 and the server exits cleanly', T, async (t) => {
  const s = await startHerald({ t });
  const cs = [];
  for (let i = 0; i < 3; i++) {
    const c = await WsClient.open(wsUrl(s));
    await c.subscribe('s');
    cs.push(c);
  }
  const stopped = s.stop({ graceMs: 8000 });
  for (const c of cs) {
    const cl = await c.waitClose(8000);
    assert.equal(cl.code, 1001, `close on SIGTERM: ${c.describe()}`);
  }
  const r = await stopped;
  assert.equal(r.killed, false, 'exited on SIGTERM without SIGKILL');
  assert.equal(r.code, 0, `exit code after SIGTERM: ${JSON.stringify(r)} stderr=${s.stderr.slice(-1000)}`);
});

test('protocol pings every --ws-ping; a client that answers stays connected and subscribed', { timeout: 20_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--ws-ping', '1s'] });
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('s');
  await sleep(3600);
  assert.ok(c.pings >= 2 && c.pings <= 5, `pings in 3.6 s with --ws-ping 1s: ${c.pings}`);
  assert.equal(c.closed, false, `closed although it answered pings: ${c.describe()}`);
  await create(s, 'a', {});
  await c.waitSeq('s', 1);
});

test('sub ids: 64 characters of [A-Za-z0-9_.:-] are accepted and echoed in every event', T, async (t) => {
  const s = await startHerald({ t });
  const c = await WsClient.open(wsUrl(s));
  const long = 'Az09_.:-'.repeat(8);
  assert.equal(long.length, 64);
  await c.subscribe(long);
  await c.subscribe('x');
  await create(s, 'a', { id: 'one' });
  const [e] = await c.waitEvents(long, 1);
  assert.equal(e.id, 'one');
  const m = c.msgs.find((x) => x.op === 'event' && x.sub === long);
  assert.deepEqual(Object.keys(m), ['op', 'sub', 'event']);
  c.send({ op: 'unsubscribe', sub: long });
  assert.deepEqual(await c.nextOp('unsubscribed'), { op: 'unsubscribed', sub: long });
});

test('unsubscribe or disconnect in the middle of a replay: no events after unsubscribed, server unharmed', { timeout: 60_000 }, async (t) => {
  const s = await startHerald({ t });
  const N = 3000;
  await writeMany(s, N, (i) => ({ path: '/api/p', body: { i } }), { concurrency: 16 });
  for (let round = 0; round < 5; round++) {
    const c = await WsClient.open(wsUrl(s));
    c.send({ op: 'subscribe', sub: 'r', since: 0 });
    c.send({ op: 'unsubscribe', sub: 'r' });
    c.send({ op: 'subscribe', sub: 'r', since: N - 10 });
    const u = await c.nextOp('unsubscribed', 'r');
    const at = c.msgs.indexOf(u);
    await c.until(() => c.msgs.filter((m) => m.op === 'subscribed').length === 2, 'second subscribed');
    const again = c.msgs.findIndex((m, i) => i > at && m.op === 'subscribed');
    const between = c.msgs.slice(at + 1, again).filter((m) => m.op === 'event');
    assert.equal(between.length, 0, `events for the old subscription after unsubscribed: ${between.length}`);
    const evs = await c.waitSeq('r', N, 10_000);
    const after = c.msgs.slice(again + 1).filter((m) => m.op === 'event').map((m) => m.event.seq);
    assertSeqs(after, range(N - 9, N), `round ${round}: the new subscription gets since=${N - 10} only`);
    assert.ok(evs.length >= 10);
    // a connection dropped mid-replay
    const d = await WsClient.open(wsUrl(s));
    d.send({ op: 'subscribe', sub: 'r', since: 0 });
    await sleep(round * 5);
    d.terminate();
  }
  s.checkAlive();
  const c = await WsClient.open(wsUrl(s));
  await c.subscribe('z', { since: 0 });
  assertSeqs(await c.waitSeq('z', N, 20_000), range(1, N), 'a full replay afterwards');
});
