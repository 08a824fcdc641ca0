// REST documents: create, read, replace, merge-patch, delete, conditional
// requests, idempotency, listing, /api, /healthz, routing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  T,
  startHerald,
  req,
  show,
  expectStatus,
  expectProblem,
  health,
  head,
  create,
  allChanges,
  allDocs,
  RFC3339_MS,
  UUIDV7,
  RawConn,
  rawRequest,
} from './lib/harness.mjs';

const SERVER_FIELDS = ['id', 'version', 'createdAt', 'updatedAt'];

function assertDocShape(doc, what) {
  assert.ok(doc && typeof doc === 'object' && !Array.isArray(doc), `${what}: not an object: ${JSON.stringify(doc)}`);
  assert.deepEqual(Object.keys(doc).slice(0, 4), SERVER_FIELDS, `${what}: server fields first, in order: ${JSON.stringify(doc)}`);
  assert.equal(typeof doc.id, 'string');
  assert.equal(typeof doc.version, 'number');
  assert.match(doc.createdAt, RFC3339_MS, `${what}: createdAt`);
  assert.match(doc.updatedAt, RFC3339_MS, `${what}: updatedAt`);
}

function nearNow(ts, what, slackMs = 60_000) {
  const d = Math.abs(Date.parse(ts) - Date.now());
  assert.ok(d < slackMs, `${what}: ${ts} is not close to now`);
}

// ------------------------------------------------------------------ POST

test('POST creates: 201, Location, ETag "1", server fields then client fields in order', T, async (t) => {
  const s = await startHerald({ t });
  const before = await head(s);
  const body = { title: 'hello', n: 3, nested: { a: [1, 2, { b: null }] }, flag: true, z: 'last' };
  const r = await req(`${s.url}/api/notes`, { method: 'POST', body });
  expectStatus(r, 201, 'POST');
  assert.match(r.headers.get('content-type') || '', /^application\/json\b/i);
  const doc = r.json;
  assertDocShape(doc, 'created doc');
  assert.match(doc.id, UUIDV7, 'generated id is a UUIDv7');
  assert.equal(doc.version, 1);
  assert.equal(doc.createdAt, doc.updatedAt, 'createdAt == updatedAt on create');
  nearNow(doc.createdAt, 'createdAt');
  assert.deepEqual(Object.keys(doc), [...SERVER_FIELDS, 'title', 'n', 'nested', 'flag', 'z'], 'key order');
  for (const k of Object.keys(body)) assert.deepEqual(doc[k], body[k], `field ${k}`);
  assert.equal(r.headers.get('location'), `/api/notes/${doc.id}`);
  assert.equal(r.headers.get('etag'), '"1"');
  // the document is readable and identical
  const g = await req(`${s.url}/api/notes/${doc.id}`);
  expectStatus(g, 200, 'GET created');
  assert.deepEqual(g.json, doc);
  assert.equal(await head(s), before + 1, 'one write → head + 1');
});

test('generated ids are UUIDv7 and sort in creation order', T, async (t) => {
  const s = await startHerald({ t });
  const ids = [];
  for (let i = 0; i < 30; i++) ids.push((await create(s, 'seq', { i })).id);
  for (const id of ids) assert.match(id, UUIDV7);
  assert.equal(new Set(ids).size, ids.length, 'ids unique');
  assert.deepEqual([...ids].sort(), ids, `ids must sort in creation order:\n${ids.join('\n')}`);
});

test('POST with a client id uses it; the same id again is 409 and changes nothing', T, async (t) => {
  const s = await startHerald({ t });
  const r = await req(`${s.url}/api/users`, { method: 'POST', body: { id: 'alice.01_x-y', name: 'Alice' } });
  expectStatus(r, 201);
  assert.equal(r.json.id, 'alice.01_x-y');
  assert.equal(r.headers.get('location'), '/api/users/alice.01_x-y');
  assert.deepEqual(Object.keys(r.json), [...SERVER_FIELDS, 'name'], 'id not repeated among client fields');
  const h = await head(s);
  const dup = await req(`${s.url}/api/users`, { method: 'POST', body: { id: 'alice.01_x-y', name: 'Mallory' } });
  expectProblem(dup, 409, 'duplicate id');
  const g = await req(`${s.url}/api/users/alice.01_x-y`);
  assert.equal(g.json.name, 'Alice', 'original kept');
  assert.equal(g.json.version, 1);
  assert.equal(await head(s), h, 'no event for a rejected write');
});

test('POST ignores client version, createdAt, updatedAt', T, async (t) => {
  const s = await startHerald({ t });
  const r = await req(`${s.url}/api/c`, {
    method: 'POST',
    body: { version: 99, createdAt: '1999-01-01T00:00:00.000Z', updatedAt: 'garbage', x: 1 },
  });
  expectStatus(r, 201);
  assert.equal(r.json.version, 1);
  nearNow(r.json.createdAt, 'createdAt');
  nearNow(r.json.updatedAt, 'updatedAt');
  assert.equal(r.json.x, 1);
  assert.deepEqual(Object.keys(r.json), [...SERVER_FIELDS, 'x']);
  assert.equal(r.headers.get('etag'), '"1"');
});

test('Idempotency-Key: same key and body replays the first response, no second write', T, async (t) => {
  const s = await startHerald({ t });
  const key = 'k-' + Date.now();
  const body = { item: 'coffee', qty: 2 };
  const r1 = await req(`${s.url}/api/orders`, { method: 'POST', body, headers: { 'Idempotency-Key': key } });
  expectStatus(r1, 201, 'first');
  assert.ok(!r1.headers.get('idempotent-replayed'), 'first response is not a replay');
  const h1 = await head(s);
  const r2 = await req(`${s.url}/api/orders`, { method: 'POST', body, headers: { 'Idempotency-Key': key } });
  expectStatus(r2, 201, 'replay');
  assert.equal(r2.headers.get('idempotent-replayed'), 'true');
  assert.deepEqual(r2.json, r1.json, 'same body');
  assert.equal(r2.headers.get('location'), r1.headers.get('location'), 'same Location');
  assert.equal(r2.headers.get('etag'), r1.headers.get('etag'), 'same ETag');
  assert.equal(await head(s), h1, 'no new event');
  const docs = await allDocs(s, 'orders');
  assert.equal(docs.length, 1, `exactly one document: ${JSON.stringify(docs)}`);
  const ev = await allChanges(s);
  assert.equal(ev.events.filter((e) => e.collection === 'orders').length, 1, 'exactly one event');

  // same key, another body → 422, nothing written
  const r3 = await req(`${s.url}/api/orders`, { method: 'POST', body: { item: 'tea', qty: 2 }, headers: { 'Idempotency-Key': key } });
  expectProblem(r3, 422, 'same key, different body');
  assert.equal(await head(s), h1);
  assert.equal((await allDocs(s, 'orders')).length, 1);

  // another key creates another document
  const r4 = await req(`${s.url}/api/orders`, { method: 'POST', body, headers: { 'Idempotency-Key': key + '-2' } });
  expectStatus(r4, 201);
  assert.notEqual(r4.json.id, r1.json.id);
});

// ------------------------------------------------------------------ GET one

test('GET by id: ETag; If-None-Match → 304 without body; unknown → 404', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'things', { a: 1 });
  const r = await req(`${s.url}/api/things/${doc.id}`);
  expectStatus(r, 200);
  assert.equal(r.headers.get('etag'), '"1"');
  const nm = await req(`${s.url}/api/things/${doc.id}`, { headers: { 'If-None-Match': '"1"' } });
  expectStatus(nm, 304, 'If-None-Match current');
  assert.equal(nm.text, '', '304 has no body');
  const nm2 = await req(`${s.url}/api/things/${doc.id}`, { headers: { 'If-None-Match': '"7"' } });
  expectStatus(nm2, 200, 'If-None-Match stale');
  assert.deepEqual(nm2.json, doc);
  expectProblem(await req(`${s.url}/api/things/nope`), 404, 'unknown id');
  expectProblem(await req(`${s.url}/api/never/nope`), 404, 'unknown collection, unknown id');
});

test('HEAD works like GET without a body', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'h', { a: 'x'.repeat(100) });
  const h = await req(`${s.url}/api/h/${doc.id}`, { method: 'HEAD' });
  expectStatus(h, 200, 'HEAD doc');
  assert.equal(h.headers.get('etag'), '"1"');
  assert.match(h.headers.get('content-type') || '', /json/);
  expectStatus(await req(`${s.url}/healthz`, { method: 'HEAD' }), 200, 'HEAD /healthz');
  expectStatus(await req(`${s.url}/api/h`, { method: 'HEAD' }), 200, 'HEAD list');
  expectStatus(await req(`${s.url}/api/h/missing`, { method: 'HEAD' }), 404, 'HEAD missing');
  // On the wire: no body bytes follow a HEAD response (a GET pipelined after it parses cleanly).
  const c = await RawConn.open(s.port);
  try {
    c.write(Buffer.concat([rawRequest('HEAD', `/api/h/${doc.id}`), rawRequest('GET', '/healthz')]));
    const { complete } = await c.waitResponses(2, 3000, ['HEAD', 'GET']);
    assert.equal(complete.length, 2, `two responses expected, got: ${c.text.slice(0, 800)}`);
    assert.equal(complete[0].status, 200);
    assert.equal(complete[0].body.length, 0);
    assert.equal(complete[1].status, 200);
    assert.equal(complete[1].json?.status, 'ok', `second response must be /healthz: ${c.text.slice(0, 800)}`);
  } finally {
    c.destroy();
  }
});

// ------------------------------------------------------------------ PUT

test('PUT creates (201) then replaces (200); version and timestamps', T, async (t) => {
  const s = await startHerald({ t });
  const u = `${s.url}/api/cfg/main`;
  const r1 = await req(u, { method: 'PUT', body: { a: 1, b: 2 } });
  expectStatus(r1, 201, 'PUT create');
  assertDocShape(r1.json, 'PUT create');
  assert.equal(r1.json.id, 'main');
  assert.equal(r1.json.version, 1);
  assert.equal(r1.headers.get('etag'), '"1"');
  await new Promise((res) => setTimeout(res, 5));
  const r2 = await req(u, { method: 'PUT', body: { c: 3, version: 50, createdAt: '2000-01-01T00:00:00.000Z', id: 'main' } });
  expectStatus(r2, 200, 'PUT replace');
  assert.equal(r2.json.version, 2);
  assert.equal(r2.headers.get('etag'), '"2"');
  assert.equal(r2.json.createdAt, r1.json.createdAt, 'createdAt kept');
  assert.ok(r2.json.updatedAt >= r1.json.updatedAt, 'updatedAt moves forward');
  assert.deepEqual(Object.keys(r2.json), [...SERVER_FIELDS, 'c'], 'replaced: old fields gone');
  const g = await req(u);
  assert.deepEqual(g.json, r2.json);
  assert.equal(g.headers.get('etag'), '"2"');
});

test('PUT If-Match: mismatch → 412, match → 200', T, async (t) => {
  const s = await startHerald({ t });
  const u = `${s.url}/api/c/d1`;
  expectStatus(await req(u, { method: 'PUT', body: { v: 'a' } }), 201);
  expectStatus(await req(u, { method: 'PUT', body: { v: 'b' } }), 200);
  const h = await head(s);
  expectProblem(await req(u, { method: 'PUT', body: { v: 'x' }, headers: { 'If-Match': '"1"' } }), 412, 'stale If-Match');
  assert.equal((await req(u)).json.v, 'b', 'unchanged after 412');
  assert.equal(await head(s), h, 'no event after 412');
  const ok = await req(u, { method: 'PUT', body: { v: 'c' }, headers: { 'If-Match': '"2"' } });
  expectStatus(ok, 200, 'matching If-Match');
  assert.equal(ok.json.version, 3);
});

test('PUT If-None-Match: * creates only', T, async (t) => {
  const s = await startHerald({ t });
  const u = `${s.url}/api/c/once`;
  const r1 = await req(u, { method: 'PUT', body: { v: 1 }, headers: { 'If-None-Match': '*' } });
  expectStatus(r1, 201, 'create-only on a new id');
  const h = await head(s);
  expectProblem(await req(u, { method: 'PUT', body: { v: 2 }, headers: { 'If-None-Match': '*' } }), 412, 'create-only on existing');
  assert.equal((await req(u)).json.v, 1);
  assert.equal(await head(s), h);
});

test('If-Match on a missing document → 412 for PUT, PATCH and DELETE', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'c', { id: 'other' }); // the collection exists
  const h = await head(s);
  const u = `${s.url}/api/c/ghost`;
  expectProblem(await req(u, { method: 'PUT', body: { a: 1 }, headers: { 'If-Match': '"1"' } }), 412, 'PUT');
  expectProblem(
    await req(u, { method: 'PATCH', body: { a: 1 }, headers: { 'If-Match': '"1"', 'content-type': 'application/merge-patch+json' } }),
    412,
    'PATCH',
  );
  expectProblem(await req(u, { method: 'DELETE', headers: { 'If-Match': '"1"' } }), 412, 'DELETE');
  expectProblem(await req(u), 404, 'still missing');
  assert.equal(await head(s), h, 'nothing written');
});

test('If-Match: * needs the document to exist (RFC 9110): 412 when missing, applies when present', T, async (t) => {
  const s = await startHerald({ t });
  const h = await head(s);
  const u = `${s.url}/api/c/star`;
  expectProblem(await req(u, { method: 'PUT', body: { a: 1 }, headers: { 'If-Match': '*' } }), 412, 'PUT on missing');
  expectProblem(await req(u, { method: 'DELETE', headers: { 'If-Match': '*' } }), 412, 'DELETE on missing');
  assert.equal(await head(s), h, 'nothing written');
  expectStatus(await req(u, { method: 'PUT', body: { a: 1 } }), 201, 'create');
  const r = await req(u, { method: 'PUT', body: { a: 2 }, headers: { 'If-Match': '*' } });
  expectStatus(r, 200, 'PUT with If-Match: * on an existing document');
  assert.equal(r.json.version, 2);
  expectStatus(await req(u, { method: 'DELETE', headers: { 'If-Match': '*' } }), 204, 'DELETE');
});

// ------------------------------------------------------------------ PATCH

for (const ct of ['application/merge-patch+json', 'application/json']) {
  test(`PATCH (${ct}) is an RFC 7396 merge patch`, T, async (t) => {
    const s = await startHerald({ t });
    const doc = await create(s, 'p', { a: 1, b: { x: 1, y: 2, deep: { k: 1 } }, arr: [1, 2, 3], keep: 'k', gone: 'soon' });
    const r = await req(`${s.url}/api/p/${doc.id}`, {
      method: 'PATCH',
      headers: { 'content-type': ct },
      body: {
        a: null,
        b: { y: 3, z: 4, deep: { k: null, m: 2 } },
        arr: [9],
        gone: null,
        added: { n: 1 },
        id: 'hijack',
        version: 100,
        createdAt: '2000-01-01T00:00:00.000Z',
        updatedAt: '2000-01-01T00:00:00.000Z',
      },
    });
    expectStatus(r, 200, 'PATCH');
    const p = r.json;
    assert.equal(p.id, doc.id, 'id cannot be changed');
    assert.equal(p.version, 2);
    assert.equal(p.createdAt, doc.createdAt, 'createdAt cannot be changed');
    assert.notEqual(p.updatedAt, '2000-01-01T00:00:00.000Z', 'updatedAt is the server’s');
    assert.ok(p.updatedAt >= doc.updatedAt);
    assert.equal(r.headers.get('etag'), '"2"');
    assert.ok(!('a' in p), 'null deletes a field');
    assert.ok(!('gone' in p), 'null deletes a field');
    assert.deepEqual(p.b, { x: 1, y: 3, z: 4, deep: { m: 2 } }, 'nested objects merge');
    assert.deepEqual(p.arr, [9], 'arrays replace');
    assert.equal(p.keep, 'k');
    assert.deepEqual(p.added, { n: 1 });
    const g = await req(`${s.url}/api/p/${doc.id}`);
    assert.deepEqual(g.json, p, 'GET returns the patched document');
    expectProblem(await req(`${s.url}/api/p/hijack`), 404, 'no document under the patched id');
  });
}

test('PATCH: missing doc → 404; If-Match mismatch → 412; match → 200', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'p', { a: 1 });
  const h0 = await head(s);
  expectProblem(await req(`${s.url}/api/p/nope`, { method: 'PATCH', body: { a: 2 } }), 404, 'PATCH missing');
  expectProblem(await req(`${s.url}/api/p/${doc.id}`, { method: 'PATCH', body: { a: 2 }, headers: { 'If-Match': '"5"' } }), 412);
  assert.equal(await head(s), h0);
  const ok = await req(`${s.url}/api/p/${doc.id}`, { method: 'PATCH', body: { a: 2 }, headers: { 'If-Match': '"1"' } });
  expectStatus(ok, 200);
  assert.equal(ok.json.a, 2);
  assert.equal(ok.json.version, 2);
});

// ------------------------------------------------------------------ DELETE

test('DELETE → 204; then GET 404; DELETE again 404; If-Match mismatch 412', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'd', { a: 1 });
  const u = `${s.url}/api/d/${doc.id}`;
  const h0 = await head(s);
  expectProblem(await req(u, { method: 'DELETE', headers: { 'If-Match': '"2"' } }), 412, 'stale If-Match');
  expectStatus(await req(u), 200, 'still there after 412');
  const r = await req(u, { method: 'DELETE', headers: { 'If-Match': '"1"' } });
  expectStatus(r, 204, 'DELETE');
  assert.equal(r.text, '', '204 has no body');
  assert.equal(await head(s), h0 + 1, 'one event for the delete');
  expectProblem(await req(u), 404, 'GET after delete');
  expectProblem(await req(u, { method: 'DELETE' }), 404, 'DELETE again');
  assert.equal(await head(s), h0 + 1, 'no event for the second DELETE');
  const list = await req(`${s.url}/api/d`);
  assert.deepEqual(list.json.items, [], 'not listed after delete');
});

test('a deleted id can be created again, starting at version 1', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'd', { id: 'x', a: 1 });
  expectStatus(await req(`${s.url}/api/d/x`, { method: 'DELETE' }), 204);
  const r = await req(`${s.url}/api/d`, { method: 'POST', body: { id: 'x', a: 2 } });
  expectStatus(r, 201, 'POST after delete');
  assert.equal(r.json.version, 1);
});

// ------------------------------------------------------------------ list

test('list: shape, default limit 100, paging with after covers everything once', T, async (t) => {
  const s = await startHerald({ t });
  const ids = [];
  for (let i = 0; i < 105; i++) ids.push((await create(s, 'many', { i })).id);
  const r = await req(`${s.url}/api/many`);
  expectStatus(r, 200);
  assert.deepEqual(Object.keys(r.json).sort(), ['head', 'items', 'next'], `list keys: ${Object.keys(r.json)}`);
  assert.equal(r.json.items.length, 100, 'default limit is 100');
  assert.equal(typeof r.json.next, 'string', `next is a cursor string: ${JSON.stringify(r.json.next)}`);
  for (const d of r.json.items) assertDocShape(d, 'listed doc');
  const r2 = await req(`${s.url}/api/many?after=${encodeURIComponent(r.json.next)}`);
  expectStatus(r2, 200, 'second page');
  assert.equal(r2.json.items.length, 5);
  assert.equal(r2.json.next, null, 'last page: next is null');
  const seen = [...r.json.items, ...r2.json.items].map((d) => d.id);
  assert.deepEqual(seen, ids, 'default order is creation (id) order, each once');

  // small pages
  const got = [];
  let url = `${s.url}/api/many?limit=7`;
  for (let i = 0; i < 30; i++) {
    const p = await req(url);
    expectStatus(p, 200, url);
    assert.ok(p.json.items.length <= 7);
    got.push(...p.json.items.map((d) => d.id));
    if (p.json.next === null) break;
    url = `${s.url}/api/many?limit=7&after=${encodeURIComponent(p.json.next)}`;
  }
  assert.deepEqual(got, ids, 'limit=7 pages cover every document once, in order');
  const max = await req(`${s.url}/api/many?limit=1000`);
  expectStatus(max, 200, 'limit=1000');
  assert.equal(max.json.items.length, 105);
  assert.equal(max.json.next, null);
  const one = await req(`${s.url}/api/many?limit=1`);
  assert.equal(one.json.items.length, 1);
  assert.equal(one.json.items[0].id, ids[0]);
});

test('list: sort=field and sort=-field, also across pages', T, async (t) => {
  const s = await startHerald({ t });
  const ns = [5, 3, 9, 1, 7, 2, 8];
  for (const n of ns) await create(s, 'srt', { n, name: `n${n}` });
  const asc = await req(`${s.url}/api/srt?sort=n`);
  expectStatus(asc, 200);
  assert.deepEqual(asc.json.items.map((d) => d.n), [...ns].sort((a, b) => a - b), 'sort=n');
  const desc = await req(`${s.url}/api/srt?sort=-n`);
  expectStatus(desc, 200);
  assert.deepEqual(desc.json.items.map((d) => d.n), [...ns].sort((a, b) => b - a), 'sort=-n');
  const byName = await req(`${s.url}/api/srt?sort=-name`);
  assert.deepEqual(byName.json.items.map((d) => d.name), ns.map((n) => `n${n}`).sort().reverse(), 'sort=-name');
  // paging keeps the sort
  const got = [];
  let url = `${s.url}/api/srt?sort=-n&limit=3`;
  for (let i = 0; i < 10; i++) {
    const p = await req(url);
    expectStatus(p, 200, url);
    got.push(...p.json.items.map((d) => d.n));
    if (p.json.next === null) break;
    url = `${s.url}/api/srt?sort=-n&limit=3&after=${encodeURIComponent(p.json.next)}`;
  }
  assert.deepEqual(got, [...ns].sort((a, b) => b - a), 'sort=-n pages of 3');
  // server fields sort too (ids are time-ordered)
  const byId = await req(`${s.url}/api/srt?sort=-id`);
  expectStatus(byId, 200);
  assert.deepEqual(byId.json.items.map((d) => d.n), [...ns].reverse(), 'sort=-id');
});

test('list: filter[field]=value is equality on a top-level field', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'tasks', { status: 'open', who: 'a' });
  await create(s, 'tasks', { status: 'done', who: 'b' });
  await create(s, 'tasks', { status: 'open', who: 'c' });
  await create(s, 'tasks', { who: 'd' });
  const r = await req(`${s.url}/api/tasks?filter[status]=open`);
  expectStatus(r, 200);
  assert.deepEqual(r.json.items.map((d) => d.who).sort(), ['a', 'c']);
  const enc = await req(`${s.url}/api/tasks?${encodeURIComponent('filter[status]')}=done`);
  expectStatus(enc, 200, 'percent-encoded brackets');
  assert.deepEqual(enc.json.items.map((d) => d.who), ['b']);
  const two = await req(`${s.url}/api/tasks?filter[status]=open&filter[who]=c`);
  assert.deepEqual(two.json.items.map((d) => d.who), ['c'], 'two filters are ANDed');
  const none = await req(`${s.url}/api/tasks?filter[status]=nothing`);
  expectStatus(none, 200);
  assert.deepEqual(none.json.items, []);
  const sorted = await req(`${s.url}/api/tasks?filter[status]=open&sort=-who`);
  assert.deepEqual(sorted.json.items.map((d) => d.who), ['c', 'a'], 'filter with sort');
});

test('list: a never-written collection is 200 with no items', T, async (t) => {
  const s = await startHerald({ t });
  const r = await req(`${s.url}/api/never_written`);
  expectStatus(r, 200);
  assert.deepEqual(r.json.items, []);
  assert.equal(r.json.next, null);
  assert.equal(r.json.head, await head(s));
});

test('list head equals /healthz head, and since=head yields exactly the later writes', T, async (t) => {
  const s = await startHerald({ t });
  for (let i = 0; i < 3; i++) await create(s, 'snap', { i });
  await create(s, 'other', { i: 0 });
  const l = await req(`${s.url}/api/snap`);
  expectStatus(l, 200);
  assert.equal(l.json.head, await head(s), 'list head == /healthz head');
  assert.equal(l.json.head, 4);
  const a = await create(s, 'snap', { i: 3 });
  const b = await create(s, 'other', { i: 1 });
  const c = await req(`${s.url}/api/_changes?since=${l.json.head}`);
  expectStatus(c, 200);
  assert.deepEqual(
    c.json.events.map((e) => [e.seq, e.id, e.type]),
    [
      [5, a.id, 'created'],
      [6, b.id, 'created'],
    ],
  );
});

// ------------------------------------------------------------------ /api, /healthz

test('GET /api lists collections with counts and head', T, async (t) => {
  const s = await startHerald({ t });
  const empty = await req(`${s.url}/api`);
  expectStatus(empty, 200);
  assert.deepEqual(empty.json.collections, []);
  assert.equal(empty.json.head, 0);
  for (let i = 0; i < 2; i++) await create(s, 'alpha', { i });
  for (let i = 0; i < 3; i++) await create(s, 'beta', { i });
  const r = await req(`${s.url}/api`);
  expectStatus(r, 200);
  const byName = Object.fromEntries(r.json.collections.map((c) => [c.name, c.count]));
  assert.deepEqual(byName, { alpha: 2, beta: 3 }, JSON.stringify(r.json));
  for (const c of r.json.collections) assert.deepEqual(Object.keys(c).sort(), ['count', 'name']);
  assert.equal(r.json.head, 5);
  assert.equal(r.json.head, await head(s));
});

test('GET /healthz: status ok, head, hex epoch; head counts writes from 0', T, async (t) => {
  const s = await startHerald({ t });
  const h = await req(`${s.url}/healthz`);
  expectStatus(h, 200);
  assert.match(h.headers.get('content-type') || '', /^application\/json/);
  assert.equal(h.json.status, 'ok');
  assert.equal(h.json.head, 0, 'fresh database');
  assert.match(h.json.epoch, /^[0-9a-f]{8,}$/);
  await create(s, 'x', {});
  const h2 = await health(s);
  assert.equal(h2.head, 1);
  assert.equal(h2.epoch, h.json.epoch);
});

test('a fresh database gets a different epoch', T, async (t) => {
  const a = await startHerald({ t });
  const b = await startHerald({ t });
  assert.notEqual((await health(a)).epoch, (await health(b)).epoch);
});

// ------------------------------------------------------------------ routing

test('unknown paths → 404 problem', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'c', {});
  for (const p of ['/nope', '/api/c/' + doc.id + '/extra', '/healthz/x', '/apix']) {
    expectProblem(await req(`${s.url}${p}`), 404, `GET ${p}`);
  }
});

test('wrong method → 405 with Allow', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'c', { a: 1 });
  const h = await head(s);
  const cases = [
    ['DELETE', '/api/c', ['GET', 'POST']],
    ['PUT', '/api/c', ['GET', 'POST']],
    ['PATCH', '/api/c', ['GET', 'POST']],
    ['POST', `/api/c/${doc.id}`, ['GET', 'PUT', 'PATCH', 'DELETE']],
    ['POST', '/healthz', ['GET']],
    ['DELETE', '/api', ['GET']],
  ];
  for (const [m, p, allow] of cases) {
    const r = await req(`${s.url}${p}`, { method: m, body: m === 'GET' ? undefined : { a: 2 } });
    expectProblem(r, 405, `${m} ${p}`);
    const got = (r.headers.get('allow') || '').split(',').map((x) => x.trim().toUpperCase());
    for (const a of allow) assert.ok(got.includes(a), `${m} ${p}: Allow "${r.headers.get('allow')}" lacks ${a}`);
  }
  assert.equal(await head(s), h, 'nothing written');
  assert.equal((await req(`${s.url}/api/c/${doc.id}`)).json.a, 1);
});

test('reserved endpoints answer a wrong method with 405 and Allow', T, async (t) => {
  const s = await startHerald({ t });
  for (const [m, p, allow] of [
    ['GET', '/api/_events', ['POST']],
    ['POST', '/api/_changes', ['GET']],
    ['DELETE', '/api/_changes', ['GET']],
  ]) {
    const r = await req(`${s.url}${p}`, { method: m, body: m === 'GET' ? undefined : { a: 2 } });
    expectProblem(r, 405, `${m} ${p}`);
    const got = (r.headers.get('allow') || '').split(',').map((x) => x.trim().toUpperCase());
    for (const a of allow) assert.ok(got.includes(a), `${m} ${p}: Allow "${r.headers.get('allow')}" lacks ${a}`);
  }
  assert.equal(await head(s), 0, 'nothing written');
});

test('numbers, strings and nesting round-trip exactly', T, async (t) => {
  const s = await startHerald({ t });
  const text = '{"n":{"f":0.1,"tiny":1e-7,"neg":-2.5,"int":9007199254740991,"big":1.5e300,"zero":0},"s":"é→🌍\\u0001\\n\\"\\\\","k\\u00e9y":[null,true,false,[],{}]}';
  const r = await req(`${s.url}/api/nums`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  expectStatus(r, 201);
  const want = JSON.parse(text);
  const g = await req(`${s.url}/api/nums/${r.json.id}`);
  for (const k of Object.keys(want)) assert.deepEqual(g.json[k], want[k], `field ${k}: ${g.text}`);
  assert.ok(!/0\.10000000000000001/.test(g.text), `0.1 must print as 0.1: ${g.text}`);
  const ev = await req(`${s.url}/api/_changes?since=0`);
  for (const k of Object.keys(want)) assert.deepEqual(ev.json.events[0].data[k], want[k], `event field ${k}`);
});

test('a large document under the default 1 MiB limit round-trips; over it is 413', { timeout: 30_000 }, async (t) => {
  const s = await startHerald({ t });
  const big = { blob: 'x'.repeat(900_000), arr: Array.from({ length: 1000 }, (_, i) => i) };
  const r = await req(`${s.url}/api/large`, { method: 'POST', body: big });
  expectStatus(r, 201, 'POST 900 KB');
  const g = await req(`${s.url}/api/large/${r.json.id}`);
  assert.equal(g.json.blob.length, 900_000);
  assert.deepEqual(g.json.arr, big.arr);
  assert.equal(await head(s), 1);
});

test('a client sending 1.1 MB (over the default limit) reads the 413 (lingering close, no EPIPE/RST)', T, async (t) => {
  // The server may stop reading at the limit, but must not reset the connection
  // before the client has read the answer (RFC 9112 §9.6: close the write side,
  // keep draining the read side for a while).
  const s = await startHerald({ t });
  for (let i = 0; i < 5; i++) {
    expectStatus(await req(`${s.url}/api/large`, { method: 'POST', body: { blob: 'x'.repeat(900_000) } }), 201);
    let over;
    try {
      over = await req(`${s.url}/api/large`, { method: 'POST', body: { blob: 'y'.repeat(1_100_000) } });
    } catch (e) {
      assert.fail(`try ${i + 1}: the client never saw the 413: ${e.message}`);
    }
    expectProblem(over, 413, 'POST 1.1 MB');
  }
  assert.equal(await head(s), 5);
});
