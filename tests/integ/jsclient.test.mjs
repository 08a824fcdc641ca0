// The JS client (clients/js/herald.js) against the real server: REST helpers
// and error objects, the backoff schedule (injected random source and clock),
// resume across a server restart on every transport, duplicate drop, reset,
// fallback WebSocket → SSE → long-poll, live query.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import WebSocket from 'ws';
import { T, startHerald, req, create, sleep, withTimeout, until } from './lib/harness.mjs';
import createClientDefault, { createClient, HeraldError, etag } from '../../clients/js/herald.js';

const TRANSPORTS = ['websocket', 'sse', 'poll'];
const FAST = { initial: 50, factor: 2, max: 400, stableAfter: 10_000 };

/** A port nothing listens on (bound, read, closed). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** herald on a fixed port, so restart() comes back where clients reconnect. */
async function startFixed(t, args = []) {
  const port = await freePort();
  return startHerald({ t, listen: false, args: ['--listen', `127.0.0.1:${port}`, ...args] });
}

/** Events, statuses, resets and errors of one subscription, with bounded waits. */
function collector() {
  const c = {
    events: [],
    statuses: [],
    resets: [],
    errors: [],
    waiters: new Set(),
    poke() {
      for (const w of [...c.waiters]) w();
    },
    onEvent(ev, meta) {
      c.events.push({ ...ev, _transport: meta?.transport });
      c.poke();
    },
    opts: {
      onStatus(status, detail) {
        c.statuses.push({ status, ...detail });
        c.poke();
      },
      onReset(info) {
        c.resets.push(info);
        c.poke();
      },
      onError(e) {
        c.errors.push(e);
        c.poke();
      },
    },
    get seqs() {
      return c.events.map((e) => e.seq);
    },
    get last() {
      return c.statuses.at(-1);
    },
    until(pred, ms, label) {
      return new Promise((resolve, reject) => {
        const check = () => {
          let ok = false;
          try {
            ok = pred(c);
          } catch (e) {
            finish();
            return reject(e);
          }
          if (ok) {
            finish();
            resolve(ok);
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `timed out after ${ms} ms waiting for ${label}\n  seqs=${JSON.stringify(c.seqs)}\n  statuses=${JSON.stringify(
                c.statuses.map((s) => [s.status, s.transport, s.delay]),
              )}\n  resets=${JSON.stringify(c.resets)}\n  errors=${c.errors.map(String)}`,
            ),
          );
        }, ms);
        const finish = () => {
          clearTimeout(timer);
          c.waiters.delete(check);
        };
        c.waiters.add(check);
        check();
      });
    },
  };
  c.onEvent = c.onEvent.bind(c);
  return c;
}

/** A clock whose timers run only when the test says so. */
function fakeClock(start = 1_000_000) {
  let now = start;
  let nextId = 1;
  const timers = new Map();
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { id, fn, ms });
      return id;
    },
    clearTimeout: (id) => timers.delete(id),
    advance(ms) {
      now += ms;
    },
    /** Runs the newest pending timer set for exactly `ms`. */
    fireLatest(ms) {
      const list = [...timers.values()].filter((x) => x.ms === ms);
      assert.ok(list.length, `no pending timer of ${ms} ms; pending: ${JSON.stringify([...timers.values()].map((x) => x.ms))}`);
      const x = list.at(-1);
      timers.delete(x.id);
      x.fn();
    },
  };
}

function assertContiguous(seqs, from, to, what) {
  const want = [];
  for (let s = from; s <= to; s++) want.push(s);
  assert.deepEqual(seqs, want, `${what}: every seq once, in order`);
}

/** A WebSocket class that never connects (as when a proxy refuses the upgrade). */
class RefusedWebSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    setTimeout(() => {
      this.readyState = 3;
      this.onerror?.({ type: 'error' });
      this.onclose?.({ type: 'close', code: 1006, reason: '' });
    }, 5);
  }
  send() {
    throw new Error('not open');
  }
  close() {}
}

/** An EventSource class that errors before opening. */
class RefusedEventSource {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    RefusedEventSource.urls.push(url);
    setTimeout(() => {
      this.readyState = 2;
      this.onerror?.({ type: 'error' });
    }, 5);
  }
  addEventListener() {}
  close() {
    this.readyState = 2;
  }
}
RefusedEventSource.urls = [];

/** fetch that answers 404 for the SSE endpoint (a server or proxy without SSE). */
const fetchWithoutSse = (input, init) => {
  const u = String(input);
  if (/\/_stream(\?|$)/.test(new URL(u).pathname + '?')) {
    return Promise.resolve(
      new Response(JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'no SSE here' }), {
        status: 404,
        headers: { 'content-type': 'application/problem+json' },
      }),
    );
  }
  return fetch(input, init);
};

// ------------------------------------------------------------------ REST

test('module shape: named and default createClient, HeraldError, etag()', T, () => {
  assert.equal(createClientDefault, createClient);
  assert.equal(typeof HeraldError, 'function');
  assert.equal(etag(3), '"3"');
  assert.equal(etag({ version: 7 }), '"7"');
  assert.equal(etag('"9"'), '"9"');
  assert.equal(etag('4'), '"4"');
  assert.equal(etag('*'), '*');
  assert.throws(() => createClient('http://127.0.0.1:1', { transports: ['carrier-pigeon'] }), TypeError);
});

test('REST helpers: create, get, list, replace, patch, remove with If-Match', T, async (t) => {
  const s = await startHerald({ t });
  const herald = createClient(s.url);
  const orders = herald.collection('orders');

  const a = await orders.create({ item: 'tea', qty: 1 });
  assert.equal(typeof a.id, 'string');
  assert.equal(a.version, 1);
  assert.equal(a.item, 'tea');
  const b = await orders.create({ item: 'cake', qty: 2 }, { id: 'cake-1' });
  assert.equal(b.id, 'cake-1');

  const got = await orders.get('cake-1');
  assert.equal(got.item, 'cake');
  assert.equal(await orders.get('cake-1', { ifNoneMatch: got.version }), null, '304 → null');

  const page = await orders.list({ limit: 1 });
  assert.equal(page.items.length, 1);
  assert.notEqual(page.next, null);
  assert.equal(page.head, 2);
  const rest = await orders.list({ limit: 10, after: page.next });
  assert.equal(rest.items.length, 1);
  const filtered = await orders.list({ filter: { item: 'cake' } });
  assert.deepEqual(filtered.items.map((d) => d.id), ['cake-1']);
  const all = await orders.listAll({ limit: 1 });
  assert.equal(all.items.length, 2);

  const r = await orders.replace('cake-1', { item: 'cake', qty: 3 }, { ifMatch: 1 });
  assert.equal(r.version, 2);
  assert.equal(r.qty, 3);
  const p = await orders.patch('cake-1', { qty: null, note: 'x' }, { ifMatch: r });
  assert.equal(p.version, 3);
  assert.equal('qty' in p, false, 'merge patch removes null members');
  assert.equal(p.note, 'x');

  // a stale If-Match is a 412, thrown as a HeraldError carrying the problem fields
  const stale = await orders.replace('cake-1', { item: 'old' }, { ifMatch: 1 }).catch((e) => e);
  assert.ok(stale instanceof HeraldError, String(stale));
  assert.ok(stale instanceof Error);
  assert.equal(stale.name, 'HeraldError');
  assert.equal(stale.status, 412);
  assert.equal(stale.isConflict, true);
  assert.equal(stale.type, 'about:blank');
  assert.equal(typeof stale.title, 'string');
  assert.equal(typeof stale.detail, 'string');
  assert.deepEqual(Object.keys({ ...stale }).sort(), ['detail', 'status', 'title', 'type']);

  const staleDelete = await orders.remove('cake-1', { ifMatch: 2 }).catch((e) => e);
  assert.equal(staleDelete.status, 412);
  assert.equal(await orders.remove('cake-1', { ifMatch: 3 }), undefined);
  const gone = await orders.get('cake-1').catch((e) => e);
  assert.equal(gone.status, 404);
  assert.match(gone.message, /Not Found/);

  // PUT with If-None-Match: * creates only
  const created = await orders.replace('fresh', { v: 1 }, { ifNoneMatch: '*' });
  assert.equal(created.version, 1);
  const again = await orders.replace('fresh', { v: 2 }, { ifNoneMatch: '*' }).catch((e) => e);
  assert.equal(again.status, 412);

  // 409 on a duplicate id; idempotent retry returns the first response
  const dup = await orders.create({ x: 1 }, { id: 'fresh' }).catch((e) => e);
  assert.equal(dup.status, 409);
  const k1 = await orders.create({ n: 1 }, { idempotencyKey: 'key-1' });
  const k2 = await orders.create({ n: 1 }, { idempotencyKey: 'key-1' });
  assert.equal(k2.id, k1.id);

  // malformed input is a 400 problem
  const bad = await herald.collection('Bad!').create({ x: 1 }).catch((e) => e);
  assert.ok(bad instanceof HeraldError);
  assert.ok(bad.status === 400 || bad.status === 404, String(bad));

  // meta helpers
  const cols = await herald.collections();
  assert.deepEqual(cols.collections.find((c) => c.name === 'orders')?.count, 3);
  const hz = await herald.health();
  assert.equal(hz.status, 'ok');
  const pub = await herald.publish('orders', 'shipped', { id: a.id });
  assert.equal(typeof pub.seq, 'number');
  const ch = await herald.changes({ since: pub.seq - 1, types: ['shipped'] });
  assert.deepEqual(ch.events.map((e) => e.type), ['shipped']);
  const cch = await orders.changes({ since: 0, limit: 1 });
  assert.equal(cch.events.length, 1);
});

test('a network failure is a HeraldError with status 0', T, async () => {
  const port = await freePort();
  const herald = createClient(`http://127.0.0.1:${port}`);
  const e = await herald.collection('x').get('y').catch((err) => err);
  assert.ok(e instanceof HeraldError, String(e));
  assert.equal(e.status, 0);
  assert.ok(e.cause, 'keeps the underlying error as cause');
});

// ------------------------------------------------------------------ backoff

test('backoff: full jitter, 500 ms first, doubling, 30 s cap (injected random and clock)', T, async () => {
  const port = await freePort(); // nothing listens: every attempt fails
  const clock = fakeClock();
  const herald = createClient(`http://127.0.0.1:${port}`, { WebSocket, clock, random: () => 0.5 });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    const delays = [];
    for (let i = 0; i < 9; i++) {
      const n = c.statuses.filter((x) => x.status === 'reconnecting').length;
      await c.until((cc) => cc.statuses.filter((x) => x.status === 'reconnecting').length > n, 5000, `retry ${i + 1}`);
      const st = c.last;
      assert.equal(st.status, 'reconnecting');
      assert.equal(st.attempt, i + 1);
      delays.push(st.delay);
      clock.fireLatest(st.delay);
    }
    // random() = 0.5 of the cap: 500·2^n ms, capped at 30 s
    assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.equal(c.statuses[0].status, 'connecting');
    assert.ok(c.statuses.every((x) => x.status === 'connecting' || x.status === 'reconnecting'));
    assert.ok(c.errors.length === 0);
  } finally {
    stop();
  }
  assert.equal(c.last.status, 'closed');
});

test('backoff is configurable; random() scales the whole window', T, async () => {
  const port = await freePort();
  const clock = fakeClock();
  const herald = createClient(`http://127.0.0.1:${port}`, {
    clock,
    random: () => 0.999,
    backoff: { initial: 100, factor: 3, max: 1000 },
    transports: ['poll'],
  });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    const delays = [];
    for (let i = 0; i < 5; i++) {
      await c.until((cc) => cc.statuses.filter((x) => x.status === 'reconnecting').length > i, 5000, `retry ${i + 1}`);
      delays.push(c.last.delay);
      clock.fireLatest(c.last.delay);
    }
    assert.deepEqual(delays, [99, 299, 899, 999, 999]);
  } finally {
    stop();
  }
  const zero = createClient('http://127.0.0.1:1', { random: () => 0 });
  assert.equal(zero.backoffDelay(5), 0, 'full jitter may retry at once');
  const one = createClient('http://127.0.0.1:1', { random: () => 0.999999 });
  assert.equal(one.backoffDelay(0), 499);
  assert.equal(one.backoffDelay(20), 29999);
});

test('backoff resets only after a stable connection', T, async (t) => {
  const s = await startFixed(t);
  const clock = fakeClock();
  const herald = createClient(s.url, { WebSocket, clock, random: () => 0.5 });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  const nth = (status) => c.statuses.filter((x) => x.status === status).length;
  const waitStatus = (status, n, label) => c.until(() => nth(status) >= n, 8000, label);
  try {
    await waitStatus('open', 1, 'first open');
    assert.equal(c.last.transport, 'websocket');

    // down: 250, 500
    await s.kill9();
    await waitStatus('reconnecting', 1, 'drop 1');
    assert.equal(c.last.delay, 250);
    clock.fireLatest(250);
    await waitStatus('reconnecting', 2, 'retry 2');
    assert.equal(c.last.delay, 500);

    // up again, but only briefly: the schedule goes on (1000)
    await s.restart();
    clock.fireLatest(500);
    await waitStatus('open', 2, 'second open');
    clock.advance(2000); // < stableAfter (10 s)
    await s.kill9();
    await waitStatus('reconnecting', 3, 'drop 2');
    assert.equal(c.last.delay, 1000, 'a connection that did not last keeps the backoff growing');

    // up and stable: the next drop starts over at 250
    await s.restart();
    clock.fireLatest(1000);
    await waitStatus('open', 3, 'third open');
    clock.advance(10_000);
    await s.kill9();
    await waitStatus('reconnecting', 4, 'drop 3');
    assert.equal(c.last.delay, 250, 'backoff reset after a stable connection');
    assert.equal(c.last.attempt, 1);
  } finally {
    stop();
  }
});

// ------------------------------------------------------------------ real-time

for (const transport of TRANSPORTS) {
  test(`${transport}: live events, then resume after a server kill and restart with no loss and no duplicate`, T, async (t) => {
    const s = await startFixed(t);
    const herald = createClient(s.url, { WebSocket, transports: [transport], backoff: FAST });
    const c = collector();
    const stop = herald.subscribe({ collections: ['orders'] }, c.onEvent, c.opts);
    try {
      await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
      assert.equal(c.last.transport, transport);
      assert.equal(stop.transport, transport);
      assert.equal(stop.status, 'open');
      for (let i = 0; i < 5; i++) await create(s, 'orders', { i });
      await create(s, 'other', { ignored: true }); // seq 6, filtered out
      await c.until((cc) => cc.events.length >= 5, 5000, '5 live events');

      await s.kill9();
      await c.until((cc) => cc.last?.status === 'reconnecting', 5000, 'reconnecting');
      await s.restart();
      for (let i = 5; i < 10; i++) await create(s, 'orders', { i }); // while the client is reconnecting
      await c.until((cc) => cc.events.length >= 10, 10_000, '10 events after restart');
      await sleep(300); // anything doubled would show up now
      assert.deepEqual(c.seqs, [1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
      assert.deepEqual(c.events.map((e) => e.data.i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(c.events.every((e) => e._transport === transport));
      assert.equal(c.last.status, 'open');
      assert.equal(stop.lastSeq, 11);
    } finally {
      stop();
    }
    assert.equal(c.last.status, 'closed');
    // nothing after unsubscribe
    const n = c.events.length;
    await create(s, 'orders', { late: true });
    await sleep(200);
    assert.equal(c.events.length, n);
  });

  test(`${transport}: since replays from the log, then goes live`, T, async (t) => {
    const s = await startHerald({ t });
    for (let i = 0; i < 3; i++) await create(s, 'orders', { i });
    const herald = createClient(s.url, { WebSocket, transports: [transport] });
    const c = collector();
    const stop = herald.subscribe({ since: 1 }, c.onEvent, c.opts);
    try {
      await c.until((cc) => cc.events.length >= 2, 5000, 'replay');
      await create(s, 'orders', { i: 3 });
      await c.until((cc) => cc.events.length >= 3, 5000, 'live');
      assert.deepEqual(c.seqs, [2, 3, 4]);
    } finally {
      stop();
    }
  });

  test(`${transport}: reset when the resume point is no longer retained, then live`, T, async (t) => {
    const s = await startHerald({ t, args: ['--retain-events', '5'] });
    for (let i = 0; i < 20; i++) await create(s, 'orders', { i });
    // retention runs in the background: wait until seq 2 is gone
    const pruned = await until(async () => (await req(`${s.url}/api/_changes?since=1`)).json?.reset === true, { timeoutMs: 10_000 });
    assert.ok(pruned, 'the server did not prune the log to 5 events');
    const herald = createClient(s.url, { WebSocket, transports: [transport] });
    const c = collector();
    const stop = herald.subscribe({ since: 1 }, c.onEvent, c.opts);
    try {
      await c.until((cc) => cc.resets.length >= 1, 5000, 'reset');
      const r = c.resets[0];
      assert.equal(r.head, 20);
      assert.ok(r.oldest > 2, `oldest ${r.oldest}`);
      await create(s, 'orders', { i: 20 });
      await c.until((cc) => cc.events.some((e) => e.seq === 21), 5000, 'live event after reset');
      assert.ok(c.seqs.every((q) => q > 20), `no stale events after a reset: ${c.seqs}`);
      assert.equal(c.resets.length, 1);
    } finally {
      stop();
    }
  });
}

test('duplicates are dropped by seq (WebSocket that delivers every event twice and replays old ones)', T, async (t) => {
  const s = await startHerald({ t });
  let echoed = 0;
  class DoublingWebSocket extends WebSocket {
    constructor(...a) {
      super(...a);
      const seen = [];
      this.addEventListener('message', (m) => {
        const msg = JSON.parse(String(m.data));
        if (msg.op !== 'event') return;
        seen.push(m.data);
        // deliver it again, and one from further back
        queueMicrotask(() => {
          echoed++;
          this.onmessage?.({ data: String(m.data) });
          if (seen.length > 2) this.onmessage?.({ data: String(seen[seen.length - 3]) });
        });
      });
    }
  }
  const herald = createClient(s.url, { WebSocket: DoublingWebSocket, transports: ['websocket'] });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    for (let i = 0; i < 6; i++) await create(s, 'orders', { i });
    await c.until((cc) => cc.events.length >= 6, 5000, '6 events');
    await until(() => echoed >= 6, { timeoutMs: 2000 });
    await sleep(100);
    assertContiguous(c.seqs, 1, 6, 'websocket');
    assert.ok(stop.duplicates >= 6, `duplicates counted: ${stop.duplicates}`);
  } finally {
    stop();
  }
});

test('duplicates are dropped by seq (poll answers that overlap the previous page)', T, async (t) => {
  const s = await startHerald({ t });
  let prev = [];
  const overlapping = async (input, init) => {
    const res = await fetch(input, init);
    if (!String(input).includes('/api/_changes') || res.status !== 200) return res;
    const body = await res.json();
    const events = [...prev, ...body.events];
    if (body.events.length) prev = body.events;
    return new Response(JSON.stringify({ ...body, events }), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  const herald = createClient(s.url, { fetch: overlapping, transports: ['poll'], pollWait: 1 });
  const c = collector();
  const stop = herald.subscribe({ since: 0 }, c.onEvent, c.opts);
  try {
    for (let i = 0; i < 4; i++) {
      await create(s, 'orders', { i });
      await c.until((cc) => cc.events.length >= i + 1, 5000, `event ${i + 1}`);
    }
    await sleep(200);
    assertContiguous(c.seqs, 1, 4, 'poll');
    assert.ok(stop.duplicates >= 3, `duplicates counted: ${stop.duplicates}`);
  } finally {
    stop();
  }
});

// ------------------------------------------------------------------ fallback

test('fallback: WebSocket refused → SSE', T, async (t) => {
  const s = await startHerald({ t });
  const herald = createClient(s.url, { WebSocket: RefusedWebSocket });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    assert.equal(c.last.transport, 'sse');
    assert.deepEqual(c.statuses.map((x) => x.status), ['connecting', 'open'], 'falling back needs no backoff wait');
    await create(s, 'orders', { via: 'sse' });
    await c.until((cc) => cc.events.length === 1, 5000, 'event');
    assert.equal(c.events[0]._transport, 'sse');
  } finally {
    stop();
  }
});

test('fallback: WebSocket constructor throws → SSE', T, async (t) => {
  const s = await startHerald({ t });
  class Throwing {
    constructor() {
      throw new Error('blocked');
    }
  }
  const herald = createClient(s.url, { WebSocket: Throwing });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    assert.equal(c.last.transport, 'sse');
  } finally {
    stop();
  }
});

test('fallback: WebSocket refused, bad EventSource → long-poll', T, async (t) => {
  const s = await startHerald({ t });
  RefusedEventSource.urls = [];
  const herald = createClient(s.url, { WebSocket: RefusedWebSocket, EventSource: RefusedEventSource });
  const c = collector();
  const stop = herald.subscribe({ collections: ['orders'] }, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    assert.equal(c.last.transport, 'poll');
    assert.equal(RefusedEventSource.urls.length, 1, 'the EventSource was tried');
    assert.match(RefusedEventSource.urls[0], /\/api\/_stream\?collections=orders/);
    assert.deepEqual(c.statuses.map((x) => x.status), ['connecting', 'open']);
    await create(s, 'orders', { via: 'poll' });
    await c.until((cc) => cc.events.length === 1, 5000, 'event');
    assert.equal(c.events[0]._transport, 'poll');
  } finally {
    stop();
  }
});

test('fallback: WebSocket refused, SSE endpoint 404 → long-poll; every cycle starts again at WebSocket', T, async (t) => {
  const s = await startFixed(t);
  let wsTries = 0;
  class CountingRefused extends RefusedWebSocket {
    constructor(u) {
      super(u);
      wsTries++;
    }
  }
  const herald = createClient(s.url, { WebSocket: CountingRefused, fetch: fetchWithoutSse, backoff: FAST });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    assert.equal(c.last.transport, 'poll');
    assert.equal(wsTries, 1);
    await s.kill9();
    await c.until((cc) => cc.last?.status === 'reconnecting', 5000, 'reconnecting');
    await s.restart();
    await c.until((cc) => cc.statuses.filter((x) => x.status === 'open').length >= 2, 10_000, 'reopen');
    assert.equal(c.last.transport, 'poll');
    assert.ok(wsTries >= 2, 'retried the WebSocket first after the drop');
  } finally {
    stop();
  }
});

test('fallback: a real WebSocket is preferred when it works', T, async (t) => {
  const s = await startHerald({ t });
  const herald = createClient(s.url, { WebSocket });
  const c = collector();
  const stop = herald.subscribe({}, c.onEvent, c.opts);
  try {
    await c.until((cc) => cc.last?.status === 'open', 5000, 'open');
    assert.equal(c.last.transport, 'websocket');
    const conns = await req(`${s.url}/api/_connections`);
    if (conns.status === 200) assert.ok(conns.json.connections.some((x) => x.transport === 'websocket'), conns.text);
  } finally {
    stop();
  }
  // unsubscribing closes the connection
  const gone = await until(async () => {
    const r = await req(`${s.url}/api/_connections`);
    return r.status !== 200 || r.json.connections.length === 0;
  }, { timeoutMs: 3000 });
  assert.ok(gone, 'the WebSocket connection was closed on unsubscribe');
});

test('a filter the server rejects ends the subscription with an error (every transport)', T, async (t) => {
  const s = await startHerald({ t });
  for (const transport of TRANSPORTS) {
    const herald = createClient(s.url, { WebSocket, transports: [transport] });
    const c = collector();
    herald.subscribe({ collections: ['BAD!'] }, c.onEvent, c.opts);
    await c.until((cc) => cc.last?.status === 'closed', 5000, `${transport}: closed`);
    assert.equal(c.errors.length, 1, transport);
    assert.ok(c.errors[0] instanceof HeraldError, `${transport}: ${c.errors[0]}`);
    assert.equal(c.errors[0].status, 400, transport);
    assert.ok(!c.statuses.some((x) => x.status === 'reconnecting'), `${transport}: no retry of a bad filter`);
  }
  assert.throws(() => createClient(s.url).subscribe({ colections: ['x'] }, () => {}), /unknown filter field/);
  assert.throws(() => createClient(s.url).subscribe({ since: -1 }, () => {}), /since/);
});

// ------------------------------------------------------------------ live query

test('liveQuery: list, then follow creates, updates and deletes from the list head', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'todo', { id: 'a', title: 'one', done: false });
  await create(s, 'todo', { id: 'b', title: 'two', done: true });
  await create(s, 'other', { id: 'z' });
  const herald = createClient(s.url, { WebSocket });
  const changes = [];
  let latest = [];
  const q = herald.liveQuery('todo', { filter: { done: false } }, (items, change) => {
    latest = items;
    changes.push(change.type);
  });
  try {
    const first = await withTimeout(q.ready, 5000, 'ready');
    assert.deepEqual(first.map((d) => d.id), ['a']);
    await until(() => q.status === 'open', { timeoutMs: 5000 });
    const todo = herald.collection('todo');
    await todo.create({ title: 'three', done: false }, { id: 'c' });
    await todo.patch('b', { done: false }); // now matches the filter
    await todo.patch('a', { done: true }); // no longer matches
    await todo.patch('c', { title: 'THREE' });
    await until(() => latest.map((d) => `${d.id}:${d.title}`).join() === 'c:THREE,b:two' || latest.find((d) => d.id === 'c')?.title === 'THREE' && latest.length === 2, { timeoutMs: 5000 });
    assert.deepEqual(new Set(latest.map((d) => d.id)), new Set(['b', 'c']));
    assert.equal(latest.find((d) => d.id === 'c').title, 'THREE');
    await todo.remove('c');
    await until(() => latest.length === 1, { timeoutMs: 5000 });
    assert.deepEqual(latest.map((d) => d.id), ['b']);
    assert.deepEqual(q.items.map((d) => d.id), ['b']);
    assert.equal(changes[0], 'snapshot');
    assert.ok(changes.includes('created') && changes.includes('updated') && changes.includes('deleted'), changes.join());
  } finally {
    q.close();
  }
});

test('liveQuery keeps a sorted view', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'scores', { id: 'x', n: 5 });
  await create(s, 'scores', { id: 'y', n: 1 });
  const herald = createClient(s.url, { WebSocket });
  let latest = [];
  const q = herald.collection('scores').liveQuery({ sort: '-n' }, (items) => (latest = items));
  try {
    await withTimeout(q.ready, 5000, 'ready');
    assert.deepEqual(latest.map((d) => d.id), ['x', 'y']);
    await until(() => q.status === 'open', { timeoutMs: 5000 });
    await create(s, 'scores', { id: 'w', n: 3 });
    await create(s, 'scores', { id: 'v', n: 9 });
    await until(() => latest.length === 4, { timeoutMs: 5000 });
    assert.deepEqual(latest.map((d) => d.id), ['v', 'x', 'w', 'y'], 'inserted in sort order');
    await herald.collection('scores').patch('y', { n: 4 });
    await until(() => latest.at(-1)?.id === 'w', { timeoutMs: 5000 });
    assert.deepEqual(latest.map((d) => d.id), ['v', 'x', 'y', 'w'], 'moved on update');
    // client.close() ends live queries too
    herald.close();
    assert.equal(q.status, 'closed');
    await create(s, 'scores', { id: 'u', n: 0 });
    await sleep(200);
    assert.equal(latest.length, 4);
  } finally {
    q.close();
  }
});

test('liveQuery lists again when its subscription gets a reset', T, async (t) => {
  const s = await startHerald({ t, args: ['--retain-events', '5'] });
  for (let i = 0; i < 8; i++) await create(s, 'scores', { id: `d${i}`, n: i });
  const pruned = await until(async () => (await req(`${s.url}/api/_changes?since=1`)).json?.reset === true, { timeoutMs: 10_000 });
  assert.ok(pruned, 'the server did not prune the log to 5 events');
  // The first poll of the subscription is rewritten to resume from seq 1,
  // which is no longer retained: the server answers with a reset.
  let lists = 0;
  let rewritten = false;
  const herald = createClient(s.url, {
    transports: ['poll'],
    pollWait: 1,
    fetch: async (input, init) => {
      const u = new URL(String(input));
      if (u.pathname === '/api/scores') lists++;
      if (u.pathname === '/api/_changes' && !rewritten) {
        rewritten = true;
        u.searchParams.set('since', '1');
        return fetch(u, init);
      }
      return fetch(input, init);
    },
  });
  let latest = [];
  const q = herald.liveQuery('scores', {}, (items) => (latest = items));
  try {
    await withTimeout(q.ready, 5000, 'ready');
    await until(() => lists === 2 && q.status === 'open', { timeoutMs: 5000 });
    assert.equal(latest.length, 8);
    await herald.collection('scores').remove('d0');
    await create(s, 'scores', { id: 'd8', n: 8 });
    await until(() => latest.length === 8 && latest.at(-1)?.id === 'd8' && latest[0].id === 'd1', { timeoutMs: 5000 });
    assert.equal(lists, 2, 'listed once more, for the reset');
  } finally {
    q.close();
  }
});
