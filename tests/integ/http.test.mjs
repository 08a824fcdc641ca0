// HTTP/1.1 on the wire: keep-alive, pipelining, chunked bodies, 100-continue, standard headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, show, expectStatus, head, RawConn, rawRequest, sleep } from './lib/harness.mjs';

test('keep-alive: two requests on one connection', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawConn.open(s.port);
  try {
    c.write(rawRequest('GET', '/healthz'));
    let { complete } = await c.waitResponses(1, 3000);
    assert.equal(complete.length, 1, `first response: ${JSON.stringify(c.text)}`);
    assert.equal(complete[0].status, 200);
    assert.ok(!/close/i.test(complete[0].headers.connection || ''), 'HTTP/1.1 keeps the connection by default');
    await sleep(50);
    assert.ok(!c.closed, 'connection still open after the first response');
    c.write(rawRequest('POST', '/api/ka', { body: { n: 1 } }));
    ({ complete } = await c.waitResponses(2, 3000));
    assert.equal(complete.length, 2, `second response on the same connection: ${JSON.stringify(c.text)}`);
    assert.equal(complete[1].status, 201);
    assert.equal(complete[1].json?.n, 1);
  } finally {
    c.destroy();
  }
});

test('pipelining: three requests in one write → three responses in order', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawConn.open(s.port);
  try {
    c.write(
      Buffer.concat([
        rawRequest('POST', '/api/pipe', { body: { id: 'p1', v: 'first' } }),
        rawRequest('GET', '/api/pipe/p1'),
        rawRequest('PUT', '/api/pipe/p1', { body: { v: 'second' } }),
        rawRequest('GET', '/api/pipe/p1'),
        rawRequest('GET', '/api/pipe/nope'),
      ]),
    );
    const { complete } = await c.waitResponses(5, 5000);
    assert.equal(complete.length, 5, `five responses expected: ${JSON.stringify(c.text.slice(0, 2000))}`);
    assert.deepEqual(complete.map((r) => r.status), [201, 200, 200, 200, 404], 'statuses in request order');
    assert.equal(complete[1].json.v, 'first');
    assert.equal(complete[1].json.version, 1);
    assert.equal(complete[3].json.v, 'second');
    assert.equal(complete[3].json.version, 2);
  } finally {
    c.destroy();
  }
});

test('pipelined requests split across writes at odd boundaries', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawConn.open(s.port);
  try {
    const all = Buffer.concat([rawRequest('GET', '/healthz'), rawRequest('POST', '/api/split', { body: { x: 'y'.repeat(200) } }), rawRequest('GET', '/api')]);
    for (let i = 0; i < all.length; i += 37) {
      c.write(all.subarray(i, i + 37));
      await sleep(2);
    }
    const { complete } = await c.waitResponses(3, 5000);
    assert.deepEqual(complete.map((r) => r.status), [200, 201, 200], JSON.stringify(c.text.slice(0, 1500)));
  } finally {
    c.destroy();
  }
});

test('chunked request body', T, async (t) => {
  const s = await startHerald({ t });
  const body = JSON.stringify({ id: 'ch', text: 'chunked body', list: [1, 2, 3] });
  const parts = [body.slice(0, 5), body.slice(5, 17), body.slice(17)];
  const c = await RawConn.open(s.port);
  try {
    c.write('POST /api/chunks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (const p of parts) {
      await sleep(20);
      c.write(`${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`);
    }
    c.write('0\r\n\r\n');
    const { complete } = await c.waitResponses(1, 3000);
    assert.equal(complete.length, 1, JSON.stringify(c.text));
    assert.equal(complete[0].status, 201, complete[0].text);
    assert.equal(complete[0].json.text, 'chunked body');
  } finally {
    c.destroy();
  }
  const g = await req(`${s.url}/api/chunks/ch`);
  expectStatus(g, 200);
  assert.deepEqual(g.json.list, [1, 2, 3]);
});

test('Expect: 100-continue gets "100 Continue" before the body is sent', T, async (t) => {
  const s = await startHerald({ t });
  const body = JSON.stringify({ id: 'cont', a: 1 });
  const c = await RawConn.open(s.port);
  try {
    c.write(
      `POST /api/exp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    const got100 = await c.waitFor((b) => /^HTTP\/1\.1 100 Continue\r\n\r\n/.test(b.toString('latin1')), 3000);
    assert.ok(got100, `expected "HTTP/1.1 100 Continue\\r\\n\\r\\n" before the body; got ${JSON.stringify(c.text)}`);
    c.write(body);
    const { complete } = await c.waitResponses(2, 3000);
    assert.equal(complete.length, 2, JSON.stringify(c.text));
    assert.equal(complete[0].status, 100);
    assert.equal(complete[1].status, 201, complete[1].text);
  } finally {
    c.destroy();
  }
  expectStatus(await req(`${s.url}/api/exp/cont`), 200);
});

test('Expect: 100-continue with a body over the limit gets 413, not 100', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-body', '1024'] });
  const c = await RawConn.open(s.port);
  try {
    c.write('POST /api/exp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n');
    const { complete } = await c.waitResponses(1, 3000);
    assert.ok(complete.length >= 1, JSON.stringify(c.text));
    assert.equal(complete[0].status, 413, `got ${complete[0].statusLine}`);
  } finally {
    c.destroy();
  }
});

test('Date and Server headers on success and error responses', T, async (t) => {
  const s = await startHerald({ t });
  for (const [m, p, body] of [
    ['GET', '/healthz'],
    ['POST', '/api/d', { a: 1 }],
    ['GET', '/nope'],
    ['POST', '/api/d', '{bad'],
  ]) {
    const r = await req(`${s.url}${p}`, { method: m, body, headers: body ? { 'content-type': 'application/json' } : {} });
    const date = r.headers.get('date');
    assert.ok(date, `${m} ${p}: no Date header`);
    assert.match(date, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, `${m} ${p}: IMF-fixdate: ${date}`);
    assert.ok(Math.abs(Date.parse(date) - Date.now()) < 60_000, `${m} ${p}: Date ${date} is not now`);
    assert.ok((r.headers.get('server') || '').trim().length > 0, `${m} ${p}: no Server header`);
  }
});

test('Connection: close and HTTP/1.0 close after the response', T, async (t) => {
  const s = await startHerald({ t });
  for (const raw of [
    'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    'GET /healthz HTTP/1.0\r\n\r\n',
  ]) {
    const c = await RawConn.open(s.port);
    try {
      c.write(raw);
      const closed = await c.waitClose(3000);
      const { complete } = await c.waitResponses(1, 10);
      assert.equal(complete.length, 1, `${JSON.stringify(raw)}: ${JSON.stringify(c.text)}`);
      assert.equal(complete[0].status, 200);
      assert.ok(closed, `${JSON.stringify(raw)}: server should close the connection`);
    } finally {
      c.destroy();
    }
  }
});

test('many concurrent connections are all answered', T, async (t) => {
  const s = await startHerald({ t });
  const conns = await Promise.all(Array.from({ length: 100 }, () => RawConn.open(s.port)));
  try {
    for (const c of conns) c.write(rawRequest('GET', '/healthz'));
    const res = await Promise.all(conns.map((c) => c.waitResponses(1, 5000)));
    const ok = res.filter((r) => r.complete[0]?.status === 200).length;
    assert.equal(ok, 100, `${ok}/100 connections answered`);
  } finally {
    for (const c of conns) c.destroy();
  }
  expectStatus(await req(`${s.url}/healthz`), 200);
  assert.equal(await head(s), 0);
});

test('a client that disconnects mid-request does not disturb the server', T, async (t) => {
  const s = await startHerald({ t });
  for (let i = 0; i < 20; i++) {
    const c = await RawConn.open(s.port);
    const full = rawRequest('POST', '/api/abort', { body: { i } });
    c.write(full.subarray(0, (i * 7) % full.length));
    c.destroy();
  }
  await sleep(200);
  s.checkAlive();
  expectStatus(await req(`${s.url}/healthz`), 200);
  const list = await req(`${s.url}/api/abort`);
  expectStatus(list, 200);
  // a request cut short never stores anything (a cut at offset 0 sends nothing)
  assert.equal(list.json.items.length, 0, JSON.stringify(list.json));
});

test('an idle keep-alive connection is closed after --idle-timeout', { timeout: 15_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--idle-timeout', '1s'] });
  const c = await RawConn.open(s.port);
  try {
    c.write(rawRequest('GET', '/healthz'));
    assert.equal((await c.waitResponses(1, 3000)).complete.length, 1);
    const t0 = performance.now();
    const closed = await c.waitClose(4000);
    assert.ok(closed, 'idle connection still open 4 s after its last response (--idle-timeout 1s)');
    const ms = performance.now() - t0;
    assert.ok(ms >= 700 && ms <= 2500, `closed ${Math.round(ms)} ms after the last response`);
  } finally {
    c.destroy();
  }
});

test('a request body that stalls past --body-timeout gets 408 and a close; nothing stored', { timeout: 15_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--body-timeout', '1s'] });
  const c = await RawConn.open(s.port);
  try {
    c.write('POST /api/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"a":');
    const closed = await c.waitClose(4000);
    assert.ok(closed, `connection still open 4 s into a stalled body (--body-timeout 1s): ${JSON.stringify(c.text)}`);
    const { complete } = await c.waitResponses(1, 10);
    if (complete.length) assert.equal(complete[0].status, 408, complete[0].statusLine);
    else assert.fail(`closed without a 408 response: ${JSON.stringify(c.text)}`);
  } finally {
    c.destroy();
  }
  assert.equal(await head(s), 0);
});

test('request smuggling shapes and bad framing → 400 and close', T, async (t) => {
  const s = await startHerald({ t });
  const cases = [
    ['two different Content-Length', 'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n{"a":1}'],
    ['negative Content-Length', 'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -7\r\n\r\n{"a":1}'],
    ['non-numeric Content-Length', 'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7x\r\n\r\n{"a":1}'],
    ['bad chunk size', 'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{"a":1}\r\n0\r\n\r\n'],
    ['unknown transfer coding', 'POST /api/c HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{"a":1}'],
  ];
  for (const [what, raw] of cases) {
    const c = await RawConn.open(s.port);
    try {
      c.write(raw);
      const closed = await c.waitClose(3000);
      const { complete } = await c.waitResponses(1, 10);
      assert.ok(complete.length >= 1 || closed, `${what}: neither a response nor a close: ${JSON.stringify(c.text)}`);
      if (complete.length) assert.ok([400, 501].includes(complete[0].status), `${what}: ${complete[0].statusLine}`);
      assert.ok(closed, `${what}: the connection must be closed after a framing error`);
    } finally {
      c.destroy();
    }
  }
  s.checkAlive();
  assert.equal(await head(s), 0, 'nothing stored');
});

test('a request target longer than the header limit → 414 or 431 problem', T, async (t) => {
  const s = await startHerald({ t, args: ['--max-header', '4096'] });
  const r = await req(`${s.url}/api/c?filter[x]=${'a'.repeat(6000)}`);
  assert.ok([414, 431].includes(r.status), show(r));
  assert.match(r.headers.get('content-type') || '', /^application\/problem\+json/);
  expectStatus(await req(`${s.url}/healthz`), 200);
});

test('100 pipelined requests in one write → 100 responses in order', T, async (t) => {
  const s = await startHerald({ t });
  const reqs = [];
  for (let i = 0; i < 100; i++) {
    reqs.push(i % 2 ? rawRequest('GET', `/api/pp/d${i - 1}`) : rawRequest('PUT', `/api/pp/d${i}`, { body: { i } }));
  }
  const c = await RawConn.open(s.port);
  try {
    c.write(Buffer.concat(reqs));
    const { complete } = await c.waitResponses(100, 10_000);
    assert.equal(complete.length, 100, `got ${complete.length} responses`);
    for (let i = 0; i < 100; i++) {
      const r = complete[i];
      if (i % 2) {
        assert.equal(r.status, 200, `response ${i}: ${r.statusLine}`);
        assert.equal(r.json.i, i - 1, `response ${i} answers request ${i}`);
      } else {
        assert.equal(r.status, 201, `response ${i}: ${r.statusLine}`);
        assert.equal(r.json.id, `d${i}`);
      }
    }
  } finally {
    c.destroy();
  }
});

test('a pipelined request behind a long-poll is answered after it, in order', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawConn.open(s.port);
  const t0 = performance.now();
  try {
    c.write(Buffer.concat([rawRequest('GET', '/api/_changes?since=0&wait=1'), rawRequest('GET', '/healthz')]));
    const { complete } = await c.waitResponses(2, 5000);
    const ms = performance.now() - t0;
    assert.equal(complete.length, 2, JSON.stringify(c.text));
    assert.ok(Array.isArray(complete[0].json?.events), `first response is the long-poll: ${complete[0].text}`);
    assert.equal(complete[1].json?.status, 'ok', `second response is /healthz: ${complete[1].text}`);
    assert.ok(ms >= 850, `both answered after ${Math.round(ms)} ms: the long-poll must answer first (after ~1 s)`);
  } finally {
    c.destroy();
  }
});
