// Bad input: the right status, problem+json, and nothing stored changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  T,
  startHerald,
  req,
  show,
  expectStatus,
  expectProblem,
  expectRawProblem,
  health,
  head,
  create,
  RawConn,
  rawHttp,
  rawRequest,
  sleep,
} from './lib/harness.mjs';

/** Captures what a bad request must not change: head, one document, the collection list. */
async function snapshot(s, coll, id) {
  const h = await health(s);
  const doc = id ? (await req(`${s.url}/api/${coll}/${id}`)).json : undefined;
  const list = (await req(`${s.url}/api/${coll}?limit=1000`)).json;
  const api = (await req(`${s.url}/api`)).json;
  return { head: h.head, doc, list, api };
}

async function assertUnchanged(s, snap, coll, id, what) {
  const now = await snapshot(s, coll, id);
  assert.equal(now.head, snap.head, `${what}: head moved`);
  assert.deepEqual(now.doc, snap.doc, `${what}: document changed`);
  assert.deepEqual(now.list, snap.list, `${what}: collection changed`);
  assert.deepEqual(now.api, snap.api, `${what}: GET /api changed`);
}

const json = { 'content-type': 'application/json' };

function nested(depth) {
  // depth = number of nested containers including the document itself
  let v = 1;
  for (let i = 1; i < depth; i++) v = i % 2 ? { k: v } : [v];
  return { k: v };
}

test('malformed bodies → 400 problem, nothing stored (POST, PUT, PATCH)', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'v', { a: 1 });
  const snap = await snapshot(s, 'v', doc.id);
  const bodies = [
    ['malformed JSON', '{"a":'],
    ['trailing garbage', '{"a":1} x'],
    ['two values', '{"a":1}{"b":2}'],
    ['empty body', ''],
    ['array', '[1,2]'],
    ['number', '42'],
    ['string', '"hello"'],
    ['null', 'null'],
    ['true', 'true'],
    ['duplicate keys', '{"a":1,"a":2}'],
    ['duplicate nested keys', '{"x":{"b":1,"b":1}}'],
    ['single quotes', "{'a':1}"],
    ['NaN', '{"a":NaN}'],
    ['nesting 65', JSON.stringify(nested(65))],
    ['nesting 500', JSON.stringify(nested(500))],
  ];
  for (const [what, body] of bodies) {
    expectProblem(await req(`${s.url}/api/v`, { method: 'POST', headers: json, body }), 400, `POST ${what}`);
    expectProblem(await req(`${s.url}/api/v/${doc.id}`, { method: 'PUT', headers: json, body }), 400, `PUT ${what}`);
    expectProblem(await req(`${s.url}/api/v/newone`, { method: 'PUT', headers: json, body }), 400, `PUT-create ${what}`);
    if (what !== 'null') {
      // (a merge patch of null would mean "delete everything" — still not a valid document, but leave it out)
      expectProblem(
        await req(`${s.url}/api/v/${doc.id}`, { method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body }),
        400,
        `PATCH ${what}`,
      );
    }
  }
  await assertUnchanged(s, snap, 'v', doc.id, 'after malformed bodies');
  expectProblem(await req(`${s.url}/api/v/newone`), 404, 'PUT-create with bad body created nothing');
});

test('nesting depth 64 is accepted, 65 is not', T, async (t) => {
  const s = await startHerald({ t });
  const ok = await req(`${s.url}/api/deep`, { method: 'POST', body: nested(64) });
  expectStatus(ok, 201, 'depth 64');
  const h = await head(s);
  expectProblem(await req(`${s.url}/api/deep`, { method: 'POST', body: nested(65) }), 400, 'depth 65');
  assert.equal(await head(s), h);
  // round trip of the deep document
  const g = await req(`${s.url}/api/deep/${ok.json.id}`);
  assert.deepEqual(g.json.k, nested(64).k);
});

test('invalid UTF-8 in the body → 400, nothing stored', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'u8', { a: 'ok' });
  const snap = await snapshot(s, 'u8', doc.id);
  const cases = [
    ['0xff byte', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])], // {"a":"\xff"}
    ['overlong', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')])],
    ['surrogate', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')])],
    ['truncated', Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')])],
    ['in a key', Buffer.concat([Buffer.from('{"'), Buffer.from([0xfe]), Buffer.from('":1}')])],
  ];
  for (const [what, body] of cases) {
    expectProblem(await req(`${s.url}/api/u8`, { method: 'POST', headers: json, body }), 400, `POST ${what}`);
    expectProblem(await req(`${s.url}/api/u8/${doc.id}`, { method: 'PUT', headers: json, body }), 400, `PUT ${what}`);
  }
  await assertUnchanged(s, snap, 'u8', doc.id, 'after invalid UTF-8');
  // valid multi-byte UTF-8 round-trips exactly
  const r = await req(`${s.url}/api/u8`, { method: 'POST', body: { s: 'héllo → 🌍 \u2028 "q" \\ \u0001' } });
  expectStatus(r, 201);
  assert.equal((await req(`${s.url}/api/u8/${r.json.id}`)).json.s, 'héllo → 🌍 \u2028 "q" \\ \u0001');
});

test('body over --max-body → 413, nothing stored; under the limit is fine', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-body', '1024'] });
  const doc = await create(s, 'big', { a: 1 });
  const snap = await snapshot(s, 'big', doc.id);
  const big = JSON.stringify({ pad: 'x'.repeat(2000) });
  expectProblem(await req(`${s.url}/api/big`, { method: 'POST', headers: json, body: big }), 413, 'POST 2 KB');
  expectProblem(await req(`${s.url}/api/big/${doc.id}`, { method: 'PUT', headers: json, body: big }), 413, 'PUT 2 KB');
  expectProblem(
    await req(`${s.url}/api/big/${doc.id}`, { method: 'PATCH', headers: json, body: big }),
    413,
    'PATCH 2 KB',
  );
  await assertUnchanged(s, snap, 'big', doc.id, 'after 413s');
  const small = JSON.stringify({ pad: 'x'.repeat(1000) });
  assert.ok(Buffer.byteLength(small) <= 1024);
  expectStatus(await req(`${s.url}/api/big`, { method: 'POST', headers: json, body: small }), 201, 'POST 1 KB');
});

test('a chunked body over --max-body → 413', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-body', '1024'] });
  const h = await head(s);
  const chunk = 'x'.repeat(600);
  const body = `{"pad":"${chunk}${chunk}"}`;
  const pieces = [body.slice(0, 700), body.slice(700)];
  const raw =
    `POST /api/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
    pieces.map((p) => `${p.length.toString(16)}\r\n${p}\r\n`).join('') +
    '0\r\n\r\n';
  const r = await rawHttp(s.port, raw, { timeoutMs: 3000, until: (b) => /\r\n\r\n/.test(b.toString('latin1')) && /\}\s*$/.test(b.toString()) });
  assert.ok(r.responses.length >= 1, `no response: ${r.text}`);
  expectRawProblem(r.responses[0], 413, 'chunked 1.2 KB');
  assert.equal(await head(s), h);
});

test('a Content-Length over --max-body is refused without waiting for the body', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-body', '1024'] });
  const c = await RawConn.open(s.port);
  try {
    c.write(`POST /api/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":`);
    const { complete } = await c.waitResponses(1, 3000);
    assert.equal(complete.length, 1, `expected a 413 before the body was sent; got ${JSON.stringify(c.text.slice(0, 500))}`);
    expectRawProblem(complete[0], 413, 'declared 100 KB');
  } finally {
    c.destroy();
  }
  assert.equal(await head(s), 0);
});

test('headers over --max-header → 431 problem; the server keeps serving', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-header', '4096'] });
  const r = await req(`${s.url}/api/c`, { headers: { 'X-Big': 'a'.repeat(5000) } });
  expectProblem(r, 431, 'one 5 KB header');
  const many = {};
  for (let i = 0; i < 60; i++) many[`x-h${i}`] = 'b'.repeat(100);
  expectProblem(await req(`${s.url}/api/c`, { headers: many }), 431, '60 × 100 B headers');
  const h = await req(`${s.url}/healthz`, { headers: { 'X-Small': 'a'.repeat(1000) } });
  expectStatus(h, 200, 'a 1 KB header is fine');
});

test('wrong or missing content type on writes → 415, nothing stored', T, async (t) => {
  const s = await startHerald({ t });
  const doc = await create(s, 'ct', { a: 1 });
  const snap = await snapshot(s, 'ct', doc.id);
  const body = '{"a":2}';
  const variants = [
    ['text/plain', { 'content-type': 'text/plain' }, body],
    ['application/x-www-form-urlencoded', { 'content-type': 'application/x-www-form-urlencoded' }, 'a=2'],
    ['application/xml', { 'content-type': 'application/xml' }, '<a>2</a>'],
    ['none', {}, new TextEncoder().encode(body)], // a Uint8Array body: fetch sends no Content-Type
  ];
  for (const [what, headers, b] of variants) {
    expectProblem(await req(`${s.url}/api/ct`, { method: 'POST', headers, body: b }), 415, `POST ${what}`);
    expectProblem(await req(`${s.url}/api/ct/${doc.id}`, { method: 'PUT', headers, body: b }), 415, `PUT ${what}`);
    expectProblem(await req(`${s.url}/api/ct/${doc.id}`, { method: 'PATCH', headers, body: b }), 415, `PATCH ${what}`);
  }
  expectProblem(
    await req(`${s.url}/api/_events`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"collection":"ct","type":"x","data":1}' }),
    415,
    'POST _events text/plain',
  );
  await assertUnchanged(s, snap, 'ct', doc.id, 'after 415s');
  // parameters on the JSON type are fine
  expectStatus(
    await req(`${s.url}/api/ct`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body }),
    201,
    'application/json; charset=utf-8',
  );
  expectStatus(
    await req(`${s.url}/api/ct`, { method: 'POST', headers: { 'content-type': 'Application/JSON' }, body }),
    201,
    'media type is case-insensitive',
  );
});

test('bad collection names → 4xx problem, nothing written', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'good', { a: 1 });
  const snap = await snapshot(s, 'good');
  const names = ['Bad!', 'Upper', '_x', '_private', '9starts-with-digit', '-dash', 'a'.repeat(65), 'has%20space', 'dot.ted'];
  for (const n of names) {
    const post = await req(`${s.url}/api/${n}`, { method: 'POST', body: { a: 1 } });
    assert.ok(post.status >= 400 && post.status < 500, `POST /api/${n}: ${show(post)}`);
    expectProblem(post, post.status, `POST /api/${n}`);
    const put = await req(`${s.url}/api/${n}/doc1`, { method: 'PUT', body: { a: 1 } });
    assert.ok(put.status >= 400 && put.status < 500, `PUT /api/${n}/doc1: ${show(put)}`);
    expectProblem(put, put.status, `PUT /api/${n}/doc1`);
    const get = await req(`${s.url}/api/${n}`);
    assert.ok(get.status >= 400 && get.status < 500, `GET /api/${n}: ${show(get)}`);
  }
  // the longest legal name is fine
  expectStatus(await req(`${s.url}/api/${'a'.repeat(64)}`), 200, '64-char name');
  await assertUnchanged(s, snap, 'good', undefined, 'after bad collection names');
});

test('bad document ids → 400, nothing written', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'ids', { id: 'fine', a: 1 });
  const snap = await snapshot(s, 'ids', 'fine');
  const badIds = ['-lead', '.lead', '_lead', 'sp%20ace', 'semi;colon', 'bang!', 'a'.repeat(129), '%C3%A9t%C3%A9'];
  for (const id of badIds) {
    expectProblem(await req(`${s.url}/api/ids/${id}`, { method: 'PUT', body: { a: 1 } }), 400, `PUT id ${id}`);
    expectProblem(await req(`${s.url}/api/ids/${id}`, { method: 'PATCH', body: { a: 1 } }), 400, `PATCH id ${id}`);
    expectProblem(await req(`${s.url}/api/ids/${id}`, { method: 'DELETE' }), 400, `DELETE id ${id}`);
    const g = await req(`${s.url}/api/ids/${id}`);
    assert.ok([400, 404].includes(g.status), `GET id ${id}: ${show(g)}`);
    expectProblem(g, g.status, `GET id ${id}`);
  }
  for (const id of ['-lead', 'sp ace', 'a/b', 'a'.repeat(129), '', 5, { x: 1 }]) {
    expectProblem(await req(`${s.url}/api/ids`, { method: 'POST', body: { id, a: 1 } }), 400, `POST client id ${JSON.stringify(id)}`);
  }
  await assertUnchanged(s, snap, 'ids', 'fine', 'after bad ids');
  // the longest legal id is fine
  const long = 'A' + 'b'.repeat(127);
  expectStatus(await req(`${s.url}/api/ids/${long}`, { method: 'PUT', body: { a: 1 } }), 201, '128-char id');
});

test('bad query parameters → 400 (limit, since, wait)', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'q', { a: 1 });
  const bad = [
    '/api/q?limit=0',
    '/api/q?limit=abc',
    '/api/q?limit=1001',
    '/api/q?limit=-5',
    '/api/_changes?since=abc',
    '/api/_changes?since=-1',
    '/api/_changes?since=1.5',
    '/api/_changes?limit=0',
    '/api/_changes?limit=abc',
    '/api/_changes?limit=1001',
    '/api/_changes?wait=61',
    '/api/_changes?wait=abc',
    '/api/_changes?wait=-1',
    '/api/_changes?payload=huge',
    '/api/_changes?collections=Bad!',
    '/api/q/_changes?since=abc',
    '/api/q/_changes?wait=61',
  ];
  for (const p of bad) {
    const r = await req(`${s.url}${p}`, { timeoutMs: 5000 });
    expectProblem(r, 400, `GET ${p}`);
  }
  // limits at the edge are fine; unknown parameters are ignored
  for (const p of ['/api/q?limit=1', '/api/q?limit=1000', '/api/_changes?limit=1000&since=0', '/api/_changes?wait=0&since=0', '/api/q?bogus=1', '/api/_changes?since=0&bogus=1']) {
    expectStatus(await req(`${s.url}${p}`, { timeoutMs: 5000 }), 200, `GET ${p}`);
  }
});

test('a garbage request line gets a 400 or a close, and the server keeps serving', T, async (t) => {
  const s = await startHerald({ t });
  const garbage = [
    'GARBAGE\r\n\r\n',
    'GET\r\n\r\n',
    'GET /healthz HTTP/1.1\nHost: x\n\n', // bare LF
    Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), // a TLS ClientHello
    Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]),
    'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n', // whitespace before the colon
    'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', // CL + TE
  ];
  for (const g of garbage) {
    const r = await rawHttp(s.port, g, { timeoutMs: 3000 });
    const label = JSON.stringify(Buffer.from(g).toString('latin1').slice(0, 40));
    assert.ok(r.closed, `${label}: the connection should be closed (got ${JSON.stringify(r.text.slice(0, 300))})`);
    if (r.buf.length) {
      assert.ok(r.responses.length >= 1, `${label}: unparseable response ${JSON.stringify(r.text.slice(0, 300))}`);
      assert.equal(r.responses[0].status, 400, `${label}: ${r.responses[0].statusLine}`);
    }
    s.checkAlive();
    expectStatus(await req(`${s.url}/healthz`), 200, `after ${label}`);
  }
  assert.equal(await head(s), 0, 'nothing written');
});

test('a client sending its headers one byte a second gets 408 and is closed (--header-timeout 2s)', { timeout: 15_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--header-timeout', '2s'] });
  const c = await RawConn.open(s.port);
  const t0 = performance.now();
  try {
    const request = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abcdefghijklmnop\r\n\r\n';
    let i = 0;
    c.write(request[i++]);
    const timer = setInterval(() => {
      if (i < request.length && !c.closed) c.write(request[i++]);
    }, 1000);
    try {
      await c.waitClose(6000);
    } finally {
      clearInterval(timer);
    }
    const elapsed = c.closedAt ? c.closedAt - t0 : Infinity;
    assert.ok(c.closed, `connection still open after 6 s; received ${JSON.stringify(c.text)}`);
    assert.ok(elapsed >= 1500 && elapsed <= 3500, `closed after ${Math.round(elapsed)} ms, expected ~2–3 s`);
    const { complete } = await c.waitResponses(1, 100);
    assert.equal(complete.length, 1, `expected a 408 response before the close, got ${JSON.stringify(c.text)}`);
    expectRawProblem(complete[0], 408, 'slow headers');
  } finally {
    c.destroy();
  }
  expectStatus(await req(`${s.url}/healthz`), 200, 'still serving');
});

test('a stalled request body does not block other clients', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawConn.open(s.port);
  try {
    c.write('POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"a":');
    await sleep(100);
    const r = await req(`${s.url}/api/c`, { method: 'POST', body: { b: 1 } });
    expectStatus(r, 201, 'another client writes meanwhile');
  } finally {
    c.destroy();
  }
  await sleep(100);
  assert.equal((await req(`${s.url}/api/c`)).json.items.length, 1, 'the stalled, then abandoned, write stored nothing');
});
