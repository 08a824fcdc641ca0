// WebSocket protocol (RFC 6455) on a bare TCP socket: handshake checks and
// refusals, frame parsing (length forms, masking, fragmentation with control
// frames in between, UTF-8 across fragments), and every close code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { T, startHerald, rawHttp, rawRequest, parseResponses, expectRawProblem, create, sleep } from './lib/harness.mjs';
import { RawWs, frame, closePayload, acceptFor, padded, closeAll } from './lib/rt.mjs';

test.afterEach(() => closeAll());

const HS = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };

/** One raw HTTP exchange; returns the parsed response. */
async function handshake(s, headers, what) {
  const r = await rawHttp(s.port, rawRequest('GET', '/api/_ws', { headers }), {
    until: (buf) => parseResponses(buf).complete.length >= 1,
    timeoutMs: 3000,
  });
  assert.ok(r.responses.length >= 1, `${what}: no complete response; got ${JSON.stringify(r.text.slice(0, 400))}`);
  return r.responses[0];
}

/** Connects, checks 101 and the welcome frame. */
async function open(s, opts = {}) {
  const c = await RawWs.connect(s.port, opts);
  assert.equal(c.status, 101, `handshake: ${c.statusLine} ${c.body.toString().slice(0, 300)}`);
  await c.waitMsg((m) => m.op === 'welcome', 'welcome');
  return c;
}

/** ping op with ref → the pong message (searching from message index `from`). */
async function pingPong(c, ref, from = 0) {
  c.sendJson({ op: 'ping', ref });
  return c.waitMsg((m) => m.op === 'pong' && JSON.stringify(m.ref) === JSON.stringify(ref), `pong ${String(ref).slice(0, 40)}`, 5000, from);
}

// ------------------------------------------------------------------ handshake

test('handshake: 101 with the RFC 6455 Sec-WebSocket-Accept; welcome is an unmasked FIN text frame', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawWs.connect(s.port, { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
  assert.equal(c.status, 101, c.statusLine);
  assert.match(c.headers.upgrade || '', /^websocket$/i, `Upgrade header: ${c.head}`);
  assert.match(c.headers.connection || '', /\bupgrade\b/i, `Connection header: ${c.head}`);
  assert.equal(c.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'the RFC 6455 §1.3 example');
  assert.equal(c.headers['sec-websocket-protocol'], undefined, 'no subprotocol when none was offered');
  await c.waitMsg((m) => m.op === 'welcome', 'welcome');
  const f = c.frames[0];
  assert.equal(f.opcode, 1, 'text frame');
  assert.equal(f.fin, true, 'FIN');
  assert.equal(f.masked, false, 'server frames are not masked');
  assert.equal(f.rsv, 0, 'no reserved bits');
  // a random key
  const c2 = await RawWs.connect(s.port);
  assert.equal(c2.headers['sec-websocket-accept'], acceptFor(c2.key));
});

test('handshake: herald.v1 echoed when offered (also in a list); not when only other protocols are offered', T, async (t) => {
  const s = await startHerald({ t });
  for (const [offer, want] of [
    ['herald.v1', 'herald.v1'],
    ['chat, herald.v1', 'herald.v1'],
    ['herald.v1, other', 'herald.v1'],
    ['other', undefined],
  ]) {
    const c = await RawWs.connect(s.port, { protocol: offer });
    assert.equal(c.status, 101, `${offer}: ${c.statusLine}`);
    assert.equal(c.headers['sec-websocket-protocol'], want, `Sec-WebSocket-Protocol for offer "${offer}": ${c.head}`);
    c.destroy();
  }
});

test('handshake: header tokens are case-insensitive and may be in a list (Connection: keep-alive, Upgrade)', T, async (t) => {
  const s = await startHerald({ t });
  const c = await RawWs.connect(s.port, { headers: { Connection: 'keep-alive, Upgrade', Upgrade: 'WebSocket' } });
  assert.equal(c.status, 101, `${c.statusLine}`);
  await c.waitMsg((m) => m.op === 'welcome', 'welcome');
});

test('handshake: a plain GET (no Upgrade) → 426 problem+json with Upgrade: websocket', T, async (t) => {
  const s = await startHerald({ t });
  const r = await handshake(s, {}, 'plain GET');
  expectRawProblem(r, 426, 'plain GET /api/_ws');
  assert.match(r.headers.upgrade || '', /^websocket$/i, `Upgrade header on 426: ${r.statusLine} ${JSON.stringify(r.headers)}`);
  // Upgrade without Connection: Upgrade is not an upgrade either
  const r2 = await handshake(s, { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': HS['Sec-WebSocket-Key'] }, 'no Connection');
  expectRawProblem(r2, 426, 'Upgrade without Connection: Upgrade');
  // the keep-alive connection survives a 426 (the next request on it is served)
  const both = await rawHttp(s.port, Buffer.concat([rawRequest('GET', '/api/_ws'), rawRequest('GET', '/healthz')]), {
    until: (buf) => parseResponses(buf).complete.length >= 2,
  });
  assert.equal(both.responses.length, 2, `426 then /healthz on one connection: ${both.text.slice(0, 600)}`);
  assert.equal(both.responses[1].status, 200);
});

test('handshake: Sec-WebSocket-Version other than 13 (or missing) → 426 with Sec-WebSocket-Version: 13', T, async (t) => {
  const s = await startHerald({ t });
  for (const v of ['12', '8', '14', '', null]) {
    const h = { ...HS, 'Sec-WebSocket-Version': v };
    if (v === null) delete h['Sec-WebSocket-Version'];
    const r = await handshake(s, h, `version ${v}`);
    expectRawProblem(r, 426, `Sec-WebSocket-Version: ${v === null ? '(missing)' : JSON.stringify(v)}`);
    assert.equal(r.headers['sec-websocket-version'], '13', `426 names the supported version: ${JSON.stringify(r.headers)}`);
  }
});

test('handshake: missing or malformed Sec-WebSocket-Key → 400', T, async (t) => {
  const s = await startHerald({ t });
  const keys = [
    [null, 'missing'],
    ['', 'empty'],
    ['abc', 'short'],
    ['AAAAAAAAAAAAAAAAAAAA', '15 bytes'],
    ['AAAAAAAAAAAAAAAAAAAAAAA=', '17 bytes'],
    ['!!!!!!!!!!!!!!!!!!!!!!==', 'not base64'],
    ['dGhlIHNhbXBsZSBub25jZQ', 'no padding'],
  ];
  for (const [key, what] of keys) {
    const h = { ...HS, 'Sec-WebSocket-Key': key };
    if (key === null) delete h['Sec-WebSocket-Key'];
    const r = await handshake(s, h, what);
    expectRawProblem(r, 400, `Sec-WebSocket-Key ${what} (${JSON.stringify(key)})`);
  }
});

// ------------------------------------------------------------------ frames in, frames out

test('length forms: 7-bit, 16-bit and 64-bit client frames; a 125-byte ping payload is echoed in the pong', T, async (t) => {
  const s = await startHerald({ t, args: ['--ws-max-message', '200000'] });
  const c = await open(s);
  assert.equal((await pingPong(c, 'small')).ref, 'small');
  const mid = 'm'.repeat(300);
  assert.equal((await pingPong(c, mid)).ref, mid, '16-bit length');
  const big = 'b'.repeat(70_000);
  const p = await pingPong(c, big);
  assert.equal(p.ref.length, 70_000, '64-bit length in and out');
  const pf = c.frames.find((f) => f.opcode === 1 && f.json?.ref === big);
  assert.ok(pf.len > 65535 && pf.fin, 'the server answered with one 64-bit-length frame');
  // a 64-bit length header for a small message (non-minimal) is still a valid frame length
  c.send({ opcode: 1, payload: JSON.stringify({ op: 'ping', ref: 'nonminimal' }), lenForm: 16 });
  await c.waitMsg((m) => m.op === 'pong' && m.ref === 'nonminimal', 'pong to a 16-bit-length 30-byte frame');
  // control frame of exactly 125 bytes
  const payload = Buffer.alloc(125, 0x61);
  c.send({ opcode: 9, payload });
  const pong = await c.until((x) => x.frames.find((f) => f.opcode === 10 && f.len === 125), 'pong of 125 bytes');
  assert.deepEqual(Buffer.from(pong.payload), payload, 'pong echoes the ping payload');
  assert.equal(c.closed, false);
});

test('server frames: small, 16-bit and 64-bit length events decode; FIN, unmasked', T, async (t) => {
  const s = await startHerald({ t });
  const c = await open(s);
  c.sendJson({ op: 'subscribe', sub: 's' });
  await c.waitMsg((m) => m.op === 'subscribed', 'subscribed');
  await create(s, 'a', { id: 'small' });
  await create(s, 'a', { id: 'mid', ...padded(1, 2000) });
  await create(s, 'a', { id: 'big', ...padded(2, 80_000) });
  await c.waitMsg((m) => m.op === 'event' && m.event.seq === 3, 'event seq 3', 10_000);
  const evFrames = c.frames.filter((f) => f.opcode === 1 && f.json?.op === 'event');
  assert.deepEqual(evFrames.map((f) => f.json.event.id), ['small', 'mid', 'big']);
  assert.ok(evFrames[0].len < 126 || evFrames[0].len < 65536, 'small');
  assert.ok(evFrames[1].len >= 126 && evFrames[1].len <= 65535, `mid frame length ${evFrames[1].len}`);
  assert.ok(evFrames[2].len > 65535, `big frame length ${evFrames[2].len}`);
  for (const f of evFrames) {
    assert.ok(f.fin && !f.masked && f.rsv === 0, 'FIN, unmasked, no RSV');
    assert.equal(f.json.event.data.id, f.json.event.id);
  }
  assert.equal(evFrames[2].json.event.data.pad.length, 80_000 - 40);
});

test('fragmentation: a text message in 3 fragments with a ping between is one message; the ping is answered', T, async (t) => {
  const s = await startHerald({ t });
  const c = await open(s);
  const text = Buffer.from(JSON.stringify({ op: 'ping', ref: 'fragmented-message' }));
  const a = text.subarray(0, 5);
  const b = text.subarray(5, 20);
  const d = text.subarray(20);
  c.send({ opcode: 1, fin: false, payload: a });
  await sleep(30);
  c.send({ opcode: 0, fin: false, payload: b });
  c.send({ opcode: 9, payload: 'between' });
  await sleep(30);
  c.send({ opcode: 0, fin: true, payload: d });
  const p = await c.waitMsg((m) => m.op === 'pong', 'pong to the fragmented message');
  assert.equal(p.ref, 'fragmented-message');
  const pongIdx = c.frames.findIndex((f) => f.opcode === 10);
  assert.ok(pongIdx >= 0, `a pong control frame for the ping between fragments: ${c.describe()}`);
  assert.equal(c.frames[pongIdx].payload.toString(), 'between', 'pong payload echoes the ping');
  const msgIdx = c.frames.findIndex((f) => f.opcode === 1 && f.json?.op === 'pong');
  assert.ok(pongIdx < msgIdx, 'the pong frame is sent before the message completes');
  assert.equal(c.messages.filter((m) => m.op === 'pong').length, 1, 'exactly one message');
  assert.equal(c.messages.filter((m) => m.op === 'error').length, 0, `no error: ${c.describe()}`);
  // all fragments in one TCP write, plus a following unfragmented message
  c.write([
    frame({ opcode: 1, fin: false, payload: a }),
    frame({ opcode: 0, fin: false, payload: b }),
    frame({ opcode: 10, payload: 'unsolicited pong' }),
    frame({ opcode: 0, fin: true, payload: d }),
    frame({ opcode: 1, payload: JSON.stringify({ op: 'ping', ref: 'after' }) }),
  ]);
  await c.waitMsg((m) => m.op === 'pong' && m.ref === 'after', 'pong "after"');
  assert.equal(c.messages.filter((m) => m.op === 'pong' && m.ref === 'fragmented-message').length, 2);
  // empty fragments are fine
  c.write([frame({ opcode: 1, fin: false, payload: '' }), frame({ opcode: 0, fin: false, payload: text }), frame({ opcode: 0, fin: true, payload: '' })]);
  await c.until((x) => x.messages.filter((m) => m.op === 'pong' && m.ref === 'fragmented-message').length === 3, 'pong to empty+full+empty fragments');
  assert.equal(c.closed, false);
});

test('UTF-8 split across fragments at every byte position is accepted', T, async (t) => {
  const s = await startHerald({ t });
  const c = await open(s);
  const ref = 'aé€😀z';
  const bytes = Buffer.from(JSON.stringify({ op: 'ping', ref }));
  const start = bytes.indexOf(Buffer.from('é'));
  const end = bytes.indexOf(Buffer.from('z'));
  let n = 0;
  for (let cut = start + 1; cut < end; cut++) {
    c.send({ opcode: 1, fin: false, payload: bytes.subarray(0, cut) });
    c.send({ opcode: 0, fin: true, payload: bytes.subarray(cut) });
    n++;
  }
  // split into single bytes: one fragment per byte
  c.write(Array.from(bytes, (x, i) => frame({ opcode: i ? 0 : 1, fin: i === bytes.length - 1, payload: Buffer.from([x]) })));
  n++;
  await c.until((x) => x.messages.filter((m) => m.op === 'pong').length >= n || x.closed, `${n} pongs`);
  const pongs = c.messages.filter((m) => m.op === 'pong');
  assert.equal(pongs.length, n, `one pong per split: ${c.describe()}`);
  assert.ok(pongs.every((p) => p.ref === ref), 'the code points survive the split');
});

test('a frame dribbled one byte at a time (header split across reads) is parsed', T, async (t) => {
  const s = await startHerald({ t });
  const c = await open(s);
  const f = frame({ opcode: 1, payload: JSON.stringify({ op: 'ping', ref: 'x'.repeat(200) }) }); // 16-bit length header
  for (const byte of f) {
    c.write(Buffer.from([byte]));
    await sleep(1);
  }
  const p = await c.waitMsg((m) => m.op === 'pong', 'pong');
  assert.equal(p.ref.length, 200);
  // several frames in one write are all handled, in order
  c.write([1, 2, 3].map((i) => frame({ opcode: 1, payload: JSON.stringify({ op: 'ping', ref: i }) })));
  await c.until((x) => x.messages.filter((m) => m.op === 'pong').length >= 4, '3 more pongs');
  assert.deepEqual(c.messages.filter((m) => m.op === 'pong').slice(1).map((m) => m.ref), [1, 2, 3]);
});

// ------------------------------------------------------------------ close codes

const PROTOCOL_ERRORS = [
  ['unmasked client frame', () => frame({ opcode: 1, payload: '{"op":"ping"}', mask: false })],
  ['reserved data opcode 3', () => frame({ opcode: 3, payload: 'x' })],
  ['reserved control opcode 0xB', () => frame({ opcode: 0xb, payload: '' })],
  ['RSV1 set', () => frame({ opcode: 1, payload: '{"op":"ping"}', rsv: 4 })],
  ['RSV2 set', () => frame({ opcode: 1, payload: '{"op":"ping"}', rsv: 2 })],
  ['RSV3 set', () => frame({ opcode: 1, payload: '{"op":"ping"}', rsv: 1 })],
  ['fragmented ping', () => frame({ opcode: 9, fin: false, payload: 'x' })],
  ['ping over 125 bytes', () => frame({ opcode: 9, payload: Buffer.alloc(126, 0x61) })],
  ['close over 125 bytes', () => frame({ opcode: 8, payload: Buffer.concat([closePayload(1000), Buffer.alloc(124, 0x61)]) })],
  ['continuation without a message', () => frame({ opcode: 0, payload: 'x' })],
  ['new text message inside a fragmented one', () => Buffer.concat([frame({ opcode: 1, fin: false, payload: '{"op"' }), frame({ opcode: 1, payload: '{}' })])],
  ['close payload of 1 byte', () => frame({ opcode: 8, payload: Buffer.from([3]) })],
  ['close code 999', () => frame({ opcode: 8, payload: closePayload(999) })],
  ['close code 1005 on the wire', () => frame({ opcode: 8, payload: closePayload(1005) })],
  ['close code 1006 on the wire', () => frame({ opcode: 8, payload: closePayload(1006) })],
  ['close code 2000', () => frame({ opcode: 8, payload: closePayload(2000) })],
];

for (const [what, make] of PROTOCOL_ERRORS) {
  test(`close 1002: ${what}`, T, async (t) => {
    const s = await startHerald({ t });
    const c = await open(s);
    c.write(make());
    await c.expectClose(1002, what);
  });
}

test('close 1003: binary message (also as the first fragment)', T, async (t) => {
  const s = await startHerald({ t });
  const c = await open(s);
  c.send({ opcode: 2, payload: Buffer.from([0, 1, 2]) });
  await c.expectClose(1003, 'binary frame');
  const c2 = await open(s);
  c2.send({ opcode: 2, fin: false, payload: Buffer.from([0, 1]) });
  await c2.expectClose(1003, 'binary first fragment');
});

test('close 1007: invalid UTF-8 in a text message, in one frame or across fragments', T, async (t) => {
  const s = await startHerald({ t });
  const bad = [
    ['0xFF byte', [Buffer.from([0x22, 0xff, 0x22])]],
    ['overlong "/" (C0 AF)', [Buffer.from([0x22, 0xc0, 0xaf, 0x22])]],
    ['UTF-16 surrogate (ED A0 80)', [Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22])]],
    ['above U+10FFFF (F4 90 80 80)', [Buffer.from([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22])]],
    ['truncated sequence at the end of the message', [Buffer.from([0x22, 0x61, 0xe2, 0x82])]],
    ['invalid continuation in the next fragment', [Buffer.from([0x22, 0x61, 0xe2, 0x82]), Buffer.from([0x28, 0x22])]],
    ['invalid in the middle fragment of three', [Buffer.from('"ab'), Buffer.from([0x63, 0xc3, 0x28]), Buffer.from('"')]],
    ['truncated across the last fragment', [Buffer.from('"ab'), Buffer.from([0xf0, 0x9f]), Buffer.from([0x98])]],
  ];
  for (const [what, parts] of bad) {
    const c = await open(s);
    c.write(parts.map((p, i) => frame({ opcode: i ? 0 : 1, fin: i === parts.length - 1, payload: p })));
    await c.expectClose(1007, what);
  }
  // invalid UTF-8 in the first fragment is caught before the message ends
  const c = await open(s);
  c.send({ opcode: 1, fin: false, payload: Buffer.from([0x22, 0xff]) });
  await c.expectClose(1007, 'invalid UTF-8 in a first fragment, message not finished');
  // and in a close reason
  const c2 = await open(s);
  c2.send({ opcode: 8, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff])]) });
  const f = await c2.waitCloseFrame();
  assert.ok(f && (f.code === 1007 || f.code === 1002), `invalid UTF-8 in a close reason: ${c2.describe()}`);
});

test('close 1009: a message over --ws-max-message, in one frame, in fragments, or announced by a header alone', T, async (t) => {
  const s = await startHerald({ t, args: ['--ws-max-message', '1024'] });
  const ok = await open(s);
  const at = 1024 - JSON.stringify({ op: 'ping', ref: '' }).length;
  assert.equal((await pingPong(ok, 'a'.repeat(at))).ref.length, at, 'exactly the limit is accepted');
  const one = await open(s);
  one.sendJson({ op: 'ping', ref: 'a'.repeat(at + 1) });
  await one.expectClose(1009, 'one frame of 1025 bytes');
  const frag = await open(s);
  frag.write([frame({ opcode: 1, fin: false, payload: 'a'.repeat(400) }), frame({ opcode: 0, fin: false, payload: 'a'.repeat(400) }), frame({ opcode: 0, fin: true, payload: 'a'.repeat(400) })]);
  await frag.expectClose(1009, '3 fragments of 400 bytes');
  // a header announcing 1 TiB: closed at once, without waiting for the payload
  const hdr = await open(s);
  const h = Buffer.from([0x81, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  const t0 = performance.now();
  hdr.write(h);
  await hdr.expectClose(1009, 'a header announcing 2^40 bytes', 3000);
  assert.ok(performance.now() - t0 < 2000, 'closed on the header alone');
});

test('a client Close is echoed with the same code, then the server closes TCP', T, async (t) => {
  const s = await startHerald({ t });
  for (const [code, reason] of [
    [1000, 'bye'],
    [1001, ''],
    [4001, 'app reason é'],
    [3000, ''],
  ]) {
    const c = await open(s);
    c.sendJson({ op: 'subscribe', sub: 's' });
    await c.waitMsg((m) => m.op === 'subscribed', 'subscribed');
    c.send({ opcode: 8, payload: closePayload(code, reason) });
    const f = await c.expectClose(code, `echo of Close(${code})`);
    assert.ok(Buffer.byteLength(f.reason) <= 123);
  }
  // an empty Close is answered with an empty Close (or 1000), never 1005 on the wire
  const c = await open(s);
  c.send({ opcode: 8, payload: Buffer.alloc(0) });
  const f = await c.waitCloseFrame();
  assert.ok(f, `no Close frame in answer to an empty Close: ${c.describe()}`);
  assert.ok(f.code === null || f.code === 1000, `answer to an empty Close: code ${f.code}`);
  assert.ok(await c.waitTcpClose(5000), 'TCP closed after the close handshake');
  // no events after the Close
  const after = await open(s);
  after.sendJson({ op: 'subscribe', sub: 's' });
  await after.waitMsg((m) => m.op === 'subscribed', 'subscribed');
  after.send({ opcode: 8, payload: closePayload(1000) });
  await after.waitCloseFrame();
  await create(s, 'a', {});
  await sleep(200);
  const closeAt = after.frames.findIndex((x) => x.opcode === 8);
  assert.equal(after.frames.slice(closeAt + 1).length, 0, `frames after the Close: ${after.describe()}`);
});

test('protocol pings every --ws-ping: answered → stays open; never answered → closed after about two intervals', { timeout: 20_000 }, async (t) => {
  const s = await startHerald({ t, args: ['--ws-ping', '1s'] });
  const good = await open(s);
  good.autoPong = true;
  const mute = await open(s);
  const t0 = performance.now();
  const closed = await mute.waitTcpClose(6000);
  const dt = performance.now() - t0;
  assert.ok(closed, `a client that never answers pings is still open after 6 s: ${mute.describe()}`);
  assert.ok(dt > 1200 && dt < 4500, `closed after ${dt.toFixed(0)} ms with --ws-ping 1s (expected about 2 intervals)`);
  const pings = mute.frames.filter((f) => f.opcode === 9);
  assert.ok(pings.length >= 1, `the mute client was pinged first: ${mute.describe()}`);
  assert.ok(pings.every((p) => p.fin && p.len <= 125 && !p.masked), 'valid ping frames');
  // the answering client: still open, pinged several times, still served
  await sleep(Math.max(0, 3500 - dt));
  assert.equal(good.closed, false, `a client that answers pings was closed: ${good.describe()}`);
  assert.ok(good.frames.filter((f) => f.opcode === 9).length >= 2, `pings seen: ${good.describe()}`);
  const p = await pingPong(good, 'alive');
  assert.equal(p.ref, 'alive');
});

test('SIGTERM: Close(1001) to raw clients; shutdown is not held up by a client that never answers', { timeout: 20_000 }, async (t) => {
  const s = await startHerald({ t });
  const polite = await open(s);
  const mute = await open(s);
  const t0 = performance.now();
  const stopped = s.stop({ graceMs: 10_000 });
  const f = await polite.waitCloseFrame(5000);
  assert.ok(f, `no Close frame on SIGTERM: ${polite.describe()}`);
  assert.equal(f.code, 1001, 'going away');
  polite.send({ opcode: 8, payload: closePayload(1001) });
  assert.ok(await polite.waitTcpClose(5000), 'TCP closed after the client echoed the Close');
  const mf = await mute.waitCloseFrame(5000);
  assert.equal(mf?.code, 1001, `the mute client got Close(1001): ${mute.describe()}`);
  const r = await stopped;
  const dt = performance.now() - t0;
  assert.equal(r.killed, false, `herald had to be SIGKILLed after ${dt.toFixed(0)} ms`);
  assert.equal(r.code, 0, `exit status: ${JSON.stringify(r)} stderr=${s.stderr.slice(-800)}`);
  assert.ok(dt < 7500, `shutdown took ${dt.toFixed(0)} ms with a client that never answered the Close`);
});

test('frames sent in the same TCP write as the handshake request are handled', T, async (t) => {
  const s = await startHerald({ t });
  // handshake + two frames in one write
  const sock = net.connect({ port: s.port, host: '127.0.0.1' });
  const raw = new RawWs(sock);
  await new Promise((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  const head =
    `GET /api/_ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  sock.write(Buffer.concat([Buffer.from(head, 'latin1'), frame({ opcode: 1, payload: '{"op":"ping","ref":1}' }), frame({ opcode: 1, payload: '{"op":"ping","ref":2}' })]));
  await raw.until((x) => x.messages.filter((m) => m.op === 'pong').length >= 2, 'two pongs', 3000);
  assert.equal(raw.status, 101);
  assert.deepEqual(raw.messages.map((m) => m.op), ['welcome', 'pong', 'pong']);
  assert.deepEqual(raw.messages.slice(1).map((m) => m.ref), [1, 2]);
  raw.destroy();
});
