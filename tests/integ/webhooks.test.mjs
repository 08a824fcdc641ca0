// Webhooks: the management API, and delivery to real receivers (Node's http
// module on 127.0.0.1) that check every request with the reference verifier,
// the npm standardwebhooks package. Covers the faults of issue 4: invalid
// input, unknown ids, a receiver that fails, hangs, drops the connection,
// redirects, succeeds only on the third try, answers 410, is down across a
// restart, or is slow while another is fast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { T, startHerald, req, expectStatus, expectProblem, head, health, create, sleep, until, RFC3339_MS, UUIDV7 } from './lib/harness.mjs';

// Fast retries for tests: first retry after 50 ms, at most 200 ms apart,
// a 1 s request timeout.
const FAST = ['--hook-retry-first', '50ms', '--hook-retry-max', '200ms', '--hook-timeout', '1s', '--hook-connect-timeout', '1s'];

/**
 * A webhook receiver. Every request is recorded as {headers, body, json, at};
 * `handle(req, res, rec, n)` answers it (default: 200 "ok"); n counts
 * requests from 1. verifyAll(secret) checks every recorded signature.
 */
async function receiver(t, handle = null) {
  const got = [];
  const r = {
    got,
    handle,
    server: null,
    port: 0,
    get url() {
      return `http://127.0.0.1:${this.port}/hook`;
    },
    async listen(port = 0) {
      this.server = http.createServer((rq, rs) => {
        const chunks = [];
        rq.on('data', (c) => chunks.push(c));
        rq.on('end', () => {
          const body = Buffer.concat(chunks);
          const rec = { headers: rq.headers, body, at: Date.now(), method: rq.method, path: rq.url };
          try {
            rec.json = JSON.parse(body.toString('utf8'));
          } catch {}
          got.push(rec);
          if (this.handle) this.handle(rq, rs, rec, got.length);
          else rs.end('ok');
        });
      });
      this.server.keepAliveTimeout = 30_000;
      await new Promise((res, rej) => {
        this.server.once('error', rej);
        this.server.listen(port, '127.0.0.1', res);
      });
      this.port = this.server.address().port;
      return this;
    },
    async close() {
      if (!this.server) return;
      const srv = this.server;
      this.server = null;
      srv.closeAllConnections();
      await new Promise((res) => srv.close(res));
    },
    verifyAll(secret) {
      const wh = new Webhook(secret);
      for (const rec of got) {
        // Throws WebhookVerificationError on a bad signature or timestamp.
        wh.verify(rec.body, rec.headers);
      }
    },
    seqs() {
      return got.map((g) => g.json?.seq);
    },
  };
  await r.listen();
  t.after(() => r.close());
  return r;
}

async function createHook(s, body, what = 'create webhook') {
  const r = await req(`${s.url}/api/_webhooks`, { method: 'POST', body });
  expectStatus(r, 201, what);
  return r.json;
}

async function getHook(s, id) {
  const r = await req(`${s.url}/api/_webhooks/${id}`);
  expectStatus(r, 200, 'GET webhook');
  return r.json;
}

async function deliveries(s, id) {
  const r = await req(`${s.url}/api/_webhooks/${id}/deliveries`);
  expectStatus(r, 200, 'GET deliveries');
  return r.json.items;
}

/** Waits until pred() is truthy; fails with msg() after timeoutMs. */
async function waitFor(pred, msg, timeoutMs = 10_000) {
  const ok = await until(async () => pred(), { timeoutMs, intervalMs: 25 });
  assert.ok(ok, typeof msg === 'function' ? msg() : msg);
}

const epochOf = async (s) => (await health(s)).epoch;

// ------------------------------------------------------------------ happy path

test('create → 201 with secret; events arrive in seq order, signed, once each; the log matches', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t);
  await create(s, 'orders', { before: true }); // before the webhook: not delivered
  const h0 = await head(s);
  const r = await req(`${s.url}/api/_webhooks`, { method: 'POST', body: { url: rcv.url, collections: ['orders'] } });
  expectStatus(r, 201);
  const hook = r.json;
  assert.match(hook.id, UUIDV7);
  assert.equal(r.headers.get('location'), `/api/_webhooks/${hook.id}`);
  assert.match(hook.secret, /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/);
  assert.ok(Buffer.from(hook.secret.slice(6), 'base64').length >= 24, 'secret has 24+ random bytes');
  assert.equal(hook.url, rcv.url);
  assert.deepEqual(hook.collections, ['orders']);
  assert.equal(hook.types, null);
  assert.equal(hook.payload, 'full');
  assert.equal(hook.enabled, true);
  assert.equal(hook.status, 'active');
  assert.equal(hook.cursor, h0, 'a new webhook starts at the head');
  assert.match(hook.createdAt, RFC3339_MS);

  // 15 order events (create, update, delete) and some noise in another collection
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await create(s, 'orders', { n: i })).id);
  for (const id of ids) {
    const p = await req(`${s.url}/api/orders/${id}`, { method: 'PATCH', body: { paid: true } });
    expectStatus(p, 200);
    await create(s, 'noise', { x: 1 });
  }
  for (const id of ids) expectStatus(await req(`${s.url}/api/orders/${id}`, { method: 'DELETE' }), 204);
  const h1 = await head(s);
  const want = [];
  for (let q = h0 + 1; q <= h1; q++) want.push(q);
  const { events } = await (async () => {
    const c = await req(`${s.url}/api/orders/_changes?since=${h0}&limit=1000`);
    return c.json;
  })();
  const wantSeqs = events.map((e) => e.seq);
  assert.equal(wantSeqs.length, 15);

  await waitFor(() => rcv.got.length >= 15, () => `receiver got ${rcv.got.length} of 15`);
  await sleep(100);
  assert.deepEqual(rcv.seqs(), wantSeqs, 'every matching event, in seq order, exactly once');
  rcv.verifyAll(hook.secret);
  const epoch = await epochOf(s);
  for (const [i, g] of rcv.got.entries()) {
    assert.equal(g.method, 'POST');
    assert.equal(g.path, '/hook');
    assert.equal(g.headers['content-type'], 'application/json');
    assert.equal(g.headers['webhook-id'], `${epoch}-${g.json.seq}`);
    assert.match(g.headers['webhook-timestamp'], /^\d+$/);
    assert.ok(Math.abs(Number(g.headers['webhook-timestamp']) - Date.now() / 1000) < 30);
    assert.match(g.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.match(g.headers['user-agent'], /^herald\/\d/);
    assert.deepEqual(g.json, events[i], 'the body is the event JSON, as _changes shows it');
  }
  assert.ok(rcv.got.some((g) => g.json.type === 'deleted' && g.json.data === null));

  // The secret is shown at creation only.
  const one = await getHook(s, hook.id);
  assert.equal(one.secret, undefined);
  assert.equal(one.cursor, wantSeqs.at(-1), 'the cursor advanced to the last delivered seq');
  const list = await req(`${s.url}/api/_webhooks`);
  expectStatus(list, 200);
  assert.equal(list.json.items.length, 1);
  assert.equal(list.json.items[0].id, hook.id);
  assert.equal(list.json.items[0].secret, undefined);

  // The deliveries log (newest first) matches what the receiver saw.
  const log = await deliveries(s, hook.id);
  assert.deepEqual(log.map((d) => d.seq).reverse(), wantSeqs);
  for (const d of log) {
    assert.equal(d.result, 'delivered');
    assert.equal(d.status, 200);
    assert.equal(d.attempt, 1);
    assert.equal(d.error, null);
    assert.equal(d.messageId, `${epoch}-${d.seq}`);
    assert.equal(typeof d.durationMs, 'number');
    assert.match(d.at, RFC3339_MS);
  }
  const lim = await req(`${s.url}/api/_webhooks/${hook.id}/deliveries?limit=3`);
  expectStatus(lim, 200);
  assert.equal(lim.json.items.length, 3);
});

test('payload=minimal leaves data out; types and id filters apply', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t);
  const a = await create(s, 'todo', { n: 1 });
  const hook = await createHook(s, { url: rcv.url, collections: ['todo'], types: ['updated', 'deleted'], id: a.id, payload: 'minimal' });
  assert.equal(hook.documentId, a.id);
  assert.deepEqual(hook.types, ['updated', 'deleted']);
  assert.equal(hook.payload, 'minimal');
  const b = await create(s, 'todo', { n: 2 });
  await req(`${s.url}/api/todo/${b.id}`, { method: 'PATCH', body: { x: 1 } });
  await req(`${s.url}/api/todo/${a.id}`, { method: 'PATCH', body: { x: 1 } });
  await req(`${s.url}/api/todo/${a.id}`, { method: 'DELETE' });
  await waitFor(() => rcv.got.length >= 2, 'two deliveries');
  await sleep(150);
  assert.equal(rcv.got.length, 2);
  assert.deepEqual(rcv.got.map((g) => [g.json.type, g.json.id]), [['updated', a.id], ['deleted', a.id]]);
  for (const g of rcv.got) assert.equal('data' in g.json, false, 'minimal payload has no data');
  rcv.verifyAll(hook.secret);
});

// ------------------------------------------------------------------ bad input

test('bad input: invalid URL, unknown field, bad filter value, wrong content type → 400/415', T, async (t) => {
  const s = await startHerald({ t });
  const bad = [
    ['missing url', { collections: ['a'] }],
    ['url not a string', { url: 5 }],
    ['empty url', { url: '' }],
    ['no scheme', { url: '127.0.0.1:9/x' }],
    ['ftp', { url: 'ftp://127.0.0.1/x' }],
    ['file', { url: 'file:///etc/passwd' }],
    ['credentials', { url: 'http://user:pw@127.0.0.1/x' }],
    ['user only', { url: 'http://user@127.0.0.1/x' }],
    ['no host', { url: 'http:///x' }],
    ['space', { url: 'http://127.0.0.1/a b' }],
    ['too long', { url: 'http://127.0.0.1/' + 'x'.repeat(2100) }],
    ['unknown field', { url: 'http://127.0.0.1:9/x', secret: 'whsec_abc' }],
    ['since is not a webhook field', { url: 'http://127.0.0.1:9/x', since: 0 }],
    ['collections not an array', { url: 'http://127.0.0.1:9/x', collections: 'orders' }],
    ['bad collection name', { url: 'http://127.0.0.1:9/x', collections: ['Bad!'] }],
    ['types item not a string', { url: 'http://127.0.0.1:9/x', types: [1] }],
    ['bad payload', { url: 'http://127.0.0.1:9/x', payload: 'huge' }],
    ['bad id', { url: 'http://127.0.0.1:9/x', id: '../x' }],
    ['not an object', ['http://127.0.0.1:9/x']],
  ];
  for (const [what, body] of bad) {
    const r = await req(`${s.url}/api/_webhooks`, { method: 'POST', body });
    expectProblem(r, 400, what);
  }
  const mal = await req(`${s.url}/api/_webhooks`, { method: 'POST', body: '{"url":', headers: { 'content-type': 'application/json' } });
  expectProblem(mal, 400, 'malformed JSON');
  const ct = await req(`${s.url}/api/_webhooks`, { method: 'POST', body: JSON.stringify({ url: 'http://127.0.0.1:9/' }), headers: { 'content-type': 'text/plain' } });
  expectProblem(ct, 415, 'content type');
  const list = await req(`${s.url}/api/_webhooks`);
  assert.deepEqual(list.json.items, [], 'nothing was created');

  // PATCH validates the same way
  const hook = await createHook(s, { url: 'http://127.0.0.1:9/x' });
  for (const [what, body] of [
    ['bad url', { url: 'gopher://x' }],
    ['enabled not boolean', { enabled: 'yes' }],
    ['unknown field', { secret: 'x' }],
    ['bad types', { types: 'created' }],
  ]) {
    expectProblem(await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body }), 400, `PATCH ${what}`);
  }
  expectProblem(await req(`${s.url}/api/_webhooks/${hook.id}/deliveries?limit=0`), 400, 'limit 0');
  expectProblem(await req(`${s.url}/api/_webhooks/${hook.id}/deliveries?limit=abc`), 400, 'limit abc');
});

test('unknown webhook id → 404 on GET, PATCH, DELETE and deliveries; DELETE → 204 then 404', T, async (t) => {
  const s = await startHerald({ t });
  const missing = '0190f5e4-7c1a-7b3e-9a4f-000000000000';
  expectProblem(await req(`${s.url}/api/_webhooks/${missing}`), 404, 'GET');
  expectProblem(await req(`${s.url}/api/_webhooks/${missing}`, { method: 'PATCH', body: { enabled: true } }), 404, 'PATCH');
  expectProblem(await req(`${s.url}/api/_webhooks/${missing}`, { method: 'DELETE' }), 404, 'DELETE');
  expectProblem(await req(`${s.url}/api/_webhooks/${missing}/deliveries`), 404, 'deliveries');
  expectProblem(await req(`${s.url}/api/_webhooks/not..valid!`), 404, 'malformed id');
  const hook = await createHook(s, { url: 'http://127.0.0.1:9/x' });
  const del = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'DELETE' });
  expectStatus(del, 204);
  expectProblem(await req(`${s.url}/api/_webhooks/${hook.id}`), 404, 'GET after DELETE');
  const m = await req(`${s.url}/api/_webhooks`, { method: 'PUT', body: {} });
  expectProblem(m, 405, 'PUT on the collection');
});

// ------------------------------------------------------------------ faults

test('receiver answers 2xx only on the third try: two failures logged, then delivered, same webhook-id', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t, (rq, rs, rec, n) => {
    rs.statusCode = n <= 2 ? 500 : 204;
    rs.end();
  });
  const hook = await createHook(s, { url: rcv.url });
  const doc = await create(s, 'x', { v: 1 });
  await create(s, 'x', { v: 2 });
  await waitFor(() => rcv.got.length >= 4, () => `got ${rcv.got.length}`);
  await sleep(100);
  rcv.verifyAll(hook.secret);
  const seqs = rcv.seqs();
  assert.deepEqual(seqs, [seqs[0], seqs[0], seqs[0], seqs[0] + 1], 'the first event three times, then the next');
  assert.equal(rcv.got[0].json.id, doc.id);
  const wid = rcv.got[0].headers['webhook-id'];
  assert.ok(rcv.got.slice(0, 3).every((g) => g.headers['webhook-id'] === wid), 'retries carry the same webhook-id');
  const log = (await deliveries(s, hook.id)).reverse();
  assert.deepEqual(
    log.map((d) => [d.seq, d.attempt, d.result, d.status]),
    [
      [seqs[0], 1, 'failed', 500],
      [seqs[0], 2, 'failed', 500],
      [seqs[0], 3, 'delivered', 204],
      [seqs[0] + 1, 1, 'delivered', 204],
    ],
  );
  assert.equal(log[0].error, 'HTTP 500');
  const h = await getHook(s, hook.id);
  assert.equal(h.status, 'active', 'a success ends the failing streak');
  assert.equal(h.failingSince, null);
});

test('receiver returning 500 past the retry window is disabled; PATCH enabled:true resumes from the cursor', T, async (t) => {
  const s = await startHerald({ t, args: [...FAST, '--hook-retry-window', '600ms'] });
  let healthy = false;
  const rcv = await receiver(t, (rq, rs) => {
    rs.statusCode = healthy ? 200 : 500;
    rs.end();
  });
  const hook = await createHook(s, { url: rcv.url });
  for (let i = 0; i < 3; i++) await create(s, 'x', { i });
  await waitFor(async () => (await getHook(s, hook.id)).enabled === false, 'disabled after the window', 10_000);
  const h = await getHook(s, hook.id);
  assert.equal(h.status, 'disabled');
  assert.match(h.disabledReason, /retry window/);
  assert.match(h.disabledReason, /HTTP 500/);
  assert.equal(h.cursor, hook.cursor, 'the cursor did not move');
  const tried = rcv.got.length;
  assert.ok(tried >= 2, `retried before giving up (${tried} attempts)`);
  await sleep(300);
  assert.equal(rcv.got.length, tried, 'no attempts while disabled');
  await create(s, 'x', { i: 3 }); // written while disabled: delivered after the resume

  healthy = true;
  const p = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { enabled: true } });
  expectStatus(p, 200);
  assert.equal(p.json.enabled, true);
  assert.equal(p.json.disabledReason, null);
  const h1 = await head(s);
  await waitFor(() => rcv.got.some((g) => g.json.seq === h1), 'resumed through the head');
  const ok = rcv.got.slice(tried).map((g) => g.json.seq);
  assert.deepEqual(ok, [hook.cursor + 1, hook.cursor + 2, hook.cursor + 3, hook.cursor + 4]);
  rcv.verifyAll(hook.secret);
  assert.equal((await getHook(s, hook.id)).status, 'active');
});

test('410 Gone disables at once; PATCH enabled:true resumes', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  let gone = true;
  const rcv = await receiver(t, (rq, rs) => {
    rs.statusCode = gone ? 410 : 200;
    rs.end();
  });
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 1 });
  await waitFor(async () => (await getHook(s, hook.id)).enabled === false, 'disabled by 410');
  const h = await getHook(s, hook.id);
  assert.match(h.disabledReason, /410/);
  await sleep(200);
  assert.equal(rcv.got.length, 1, '410 is not retried');
  const log = await deliveries(s, hook.id);
  assert.equal(log[0].status, 410);
  assert.equal(log[0].result, 'failed');
  gone = false;
  expectStatus(await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { enabled: true } }), 200);
  await waitFor(() => rcv.got.length >= 2, 'redelivered after resume');
  assert.equal(rcv.got[1].headers['webhook-id'], rcv.got[0].headers['webhook-id']);
  rcv.verifyAll(hook.secret);
});

test('receiver hanging past the timeout: the attempt fails with a timeout and is retried', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const held = [];
  const rcv = await receiver(t, (rq, rs, rec, n) => {
    if (n === 1) held.push(rs); // never answered
    else rs.end('ok');
  });
  t.after(() => held.forEach((r) => r.destroy()));
  const hook = await createHook(s, { url: rcv.url });
  const t0 = Date.now();
  await create(s, 'x', { i: 1 });
  await waitFor(() => rcv.got.length >= 2, 'retried after the timeout', 8000);
  assert.ok(Date.now() - t0 >= 900, 'waited for the 1 s timeout');
  await waitFor(async () => (await deliveries(s, hook.id)).length >= 2, 'both attempts logged');
  const log = (await deliveries(s, hook.id)).reverse();
  assert.equal(log[0].result, 'failed');
  assert.match(log[0].error, /time/i);
  assert.ok(log[0].durationMs >= 900, `duration ${log[0].durationMs}`);
  assert.equal(log[1].result, 'delivered');
  assert.equal(rcv.got[0].headers['webhook-id'], rcv.got[1].headers['webhook-id']);
  rcv.verifyAll(hook.secret);
});

test('receiver closing the connection without an answer: failed, then retried', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t, (rq, rs, rec, n) => {
    if (n === 1) rq.socket.destroy();
    else rs.end('ok');
  });
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 1 });
  await waitFor(() => rcv.got.length >= 2, 'retried');
  await waitFor(async () => (await deliveries(s, hook.id)).length >= 2, 'logged');
  const log = (await deliveries(s, hook.id)).reverse();
  assert.equal(log[0].result, 'failed');
  assert.equal(log[0].status, null);
  assert.ok(log[0].error.length > 0);
  assert.equal(log[1].result, 'delivered');
  rcv.verifyAll(hook.secret);
});

test('a redirect is not followed: 3xx is a failure', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const target = await receiver(t);
  let redirect = true;
  const rcv = await receiver(t, (rq, rs) => {
    if (redirect) {
      rs.statusCode = 307;
      rs.setHeader('location', target.url);
    }
    rs.end();
  });
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 1 });
  await waitFor(() => rcv.got.length >= 2, 'retried after the redirect');
  redirect = false;
  await waitFor(async () => (await deliveries(s, hook.id)).some((d) => d.result === 'delivered'), 'delivered once the redirect stops');
  assert.equal(target.got.length, 0, 'the redirect target was never called');
  const log = (await deliveries(s, hook.id)).reverse();
  assert.equal(log[0].status, 307);
  assert.match(log[0].error, /redirect/);
});

test('herald restarted while the receiver is down: delivered in order afterwards, same webhook-ids', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t);
  const port = rcv.port;
  await rcv.close(); // down: connection refused
  const hook = await createHook(s, { url: `http://127.0.0.1:${port}/hook` });
  const epoch = await epochOf(s);
  const h0 = await head(s);
  for (let i = 0; i < 5; i++) await create(s, 'x', { i });
  await waitFor(async () => (await deliveries(s, hook.id)).length >= 2, 'failed attempts logged');
  const failed = await deliveries(s, hook.id);
  assert.ok(failed.every((d) => d.result === 'failed' && d.seq === h0 + 1 && d.status === null));
  assert.ok(failed[0].error.length > 0);
  assert.equal((await getHook(s, hook.id)).status, 'failing');
  await s.stop();
  await rcv.listen(port); // back up, on the same port
  await s.restart();
  await waitFor(() => rcv.got.length >= 5, () => `got ${rcv.got.length} of 5 after the restart`);
  await sleep(100);
  assert.deepEqual(rcv.seqs(), [h0 + 1, h0 + 2, h0 + 3, h0 + 4, h0 + 5]);
  assert.deepEqual(rcv.got.map((g) => g.headers['webhook-id']), rcv.seqs().map((q) => `${epoch}-${q}`));
  assert.equal(failed[0].messageId, `${epoch}-${h0 + 1}`, 'the failed attempts logged the same webhook-id');
  rcv.verifyAll(hook.secret);
  assert.equal((await getHook(s, hook.id)).cursor, h0 + 5);
});

test('an attempt in flight at shutdown is repeated after the restart with the same webhook-id', T, async (t) => {
  const s = await startHerald({ t, args: [...FAST, '--hook-timeout', '20s'] });
  const held = [];
  let hold = true;
  const rcv = await receiver(t, (rq, rs) => {
    if (hold) held.push(rs);
    else rs.end('ok');
  });
  t.after(() => held.forEach((r) => r.destroy()));
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 1 });
  await create(s, 'x', { i: 2 });
  await waitFor(() => rcv.got.length >= 1, 'first attempt reached the receiver');
  const stopped = await s.stop();
  assert.equal(stopped.killed, false, 'stopped promptly with an attempt in flight');
  assert.equal(stopped.code, 0);
  hold = false;
  await s.restart();
  await waitFor(() => rcv.got.length >= 3, () => `got ${rcv.got.length}`);
  await sleep(100);
  const ids = rcv.got.map((g) => g.headers['webhook-id']);
  assert.equal(ids[1], ids[0], 'the abandoned event is delivered again, with the same webhook-id');
  assert.deepEqual(rcv.seqs().slice(1), [rcv.got[0].json.seq, rcv.got[0].json.seq + 1]);
  rcv.verifyAll(hook.secret);
});

test('a slow receiver does not delay a fast one', T, async (t) => {
  const s = await startHerald({ t, args: [...FAST, '--hook-timeout', '10s'] });
  const slow = await receiver(t, (rq, rs) => setTimeout(() => rs.end('ok'), 1500));
  const fast = await receiver(t);
  const hs = await createHook(s, { url: slow.url });
  const hf = await createHook(s, { url: fast.url });
  const t0 = Date.now();
  for (let i = 0; i < 20; i++) await create(s, 'x', { i });
  await waitFor(() => fast.got.length >= 20, () => `fast got ${fast.got.length}`, 5000);
  const took = Date.now() - t0;
  assert.ok(took < 1400, `fast receiver got all 20 in ${took} ms`);
  assert.ok(slow.got.length <= 1, `slow receiver got ${slow.got.length}`);
  fast.verifyAll(hf.secret);
  await waitFor(() => slow.got.length >= 2, 'slow keeps going', 5000);
  slow.verifyAll(hs.secret);
  assert.deepEqual(slow.seqs(), fast.seqs().slice(0, slow.got.length));
});

// ------------------------------------------------------------------ management

test('PATCH url and filter take effect for the next events; DELETE stops delivery', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const a = await receiver(t);
  const b = await receiver(t);
  const hook = await createHook(s, { url: a.url, collections: ['one'] });
  await create(s, 'one', { i: 1 });
  await create(s, 'two', { i: 1 });
  await waitFor(() => a.got.length >= 1, 'first to a');
  const p = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { url: b.url, collections: ['two'] } });
  expectStatus(p, 200);
  assert.equal(p.json.url, b.url);
  assert.deepEqual(p.json.collections, ['two']);
  assert.equal(p.json.secret, undefined);
  await create(s, 'one', { i: 2 });
  const two = await create(s, 'two', { i: 2 });
  await waitFor(() => b.got.some((g) => g.json.id === two.id), 'the new filter and url apply');
  await sleep(100);
  assert.equal(a.got.length, 1);
  assert.ok(b.got.every((g) => g.json.collection === 'two'));
  b.verifyAll(hook.secret);
  // types: null goes back to all types
  const p2 = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { types: ['deleted'] } });
  assert.deepEqual(p2.json.types, ['deleted']);
  assert.deepEqual(p2.json.collections, ['two'], 'fields not named keep their values');
  const p3 = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { types: null } });
  assert.equal(p3.json.types, null);

  expectStatus(await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'DELETE' }), 204);
  const n = b.got.length;
  await create(s, 'two', { i: 3 });
  await sleep(300);
  assert.equal(b.got.length, n, 'no delivery after DELETE');
});

test('PATCH enabled:false pauses; resuming after the cursor fell out of retention records a reset', T, async (t) => {
  const s = await startHerald({ t, args: [...FAST, '--retain-events', '3'] });
  const rcv = await receiver(t);
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 0 });
  await waitFor(() => rcv.got.length >= 1, 'first delivery');
  const off = await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { enabled: false } });
  expectStatus(off, 200);
  assert.equal(off.json.enabled, false);
  assert.match(off.json.disabledReason, /PATCH/);
  for (let i = 1; i <= 10; i++) await create(s, 'x', { i });
  const h1 = await head(s);
  // wait for pruning to drop the events the paused webhook still owes
  await waitFor(async () => {
    const c = await req(`${s.url}/api/_changes?since=1`);
    return c.json.reset === true;
  }, 'events pruned', 10_000);
  assert.equal(rcv.got.length, 1, 'nothing delivered while paused');
  expectStatus(await req(`${s.url}/api/_webhooks/${hook.id}`, { method: 'PATCH', body: { enabled: true } }), 200);
  await waitFor(() => rcv.got.some((g) => g.json.seq === h1), 'caught up to the head');
  const seqs = rcv.seqs().slice(1);
  assert.ok(seqs[0] > 2, `resumed from the oldest retained (${seqs[0]})`);
  assert.deepEqual(seqs, Array.from({ length: h1 - seqs[0] + 1 }, (_, i) => seqs[0] + i), 'contiguous from there');
  const log = await deliveries(s, hook.id);
  const reset = log.find((d) => d.result === 'reset');
  assert.ok(reset, `a reset record: ${JSON.stringify(log)}`);
  assert.match(reset.error, /retention/);
  assert.match((await getHook(s, hook.id)).lastReset, RFC3339_MS);
  rcv.verifyAll(hook.secret);
});

test('webhooks and cursors survive a restart; a new event after it is delivered once', T, async (t) => {
  const s = await startHerald({ t, args: FAST });
  const rcv = await receiver(t);
  const hook = await createHook(s, { url: rcv.url });
  await create(s, 'x', { i: 1 });
  await waitFor(() => rcv.got.length >= 1, 'delivered');
  await sleep(1200); // idle cursor written
  await s.restart();
  const h = await getHook(s, hook.id);
  assert.equal(h.enabled, true);
  assert.equal(h.cursor, rcv.got[0].json.seq);
  await create(s, 'x', { i: 2 });
  await waitFor(() => rcv.got.length >= 2, 'delivered after restart');
  await sleep(200);
  assert.equal(rcv.got.length, 2, 'nothing delivered twice');
  rcv.verifyAll(hook.secret);
});
