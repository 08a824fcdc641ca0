// rt — helpers for the realtime transport tests (WebSocket and SSE).
//
//   WsClient   the npm `ws` client, with a message log and bounded waits
//   RawWs      a WebSocket client on a bare TCP socket: any frame, any bytes
//   RawSse     an SSE client on a bare TCP socket: the raw stream, parsed
//   writeMany  many REST writes with bounded concurrency
//   rssKiB     a process's VmRSS
//
// Nothing here waits without a bound; every socket is destroyed by the
// caller (or by closeAll() at the end of a test).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { req, sleep, withTimeout, expectStatus } from './harness.mjs';

export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const wsUrl = (s, path = '/api/_ws') => s.url.replace(/^http/, 'ws') + path;

const openSockets = new Set();
/** Destroys every client socket these helpers opened and has not seen closed. */
export function closeAll() {
  for (const x of openSockets) {
    try {
      x.terminate ? x.terminate() : x.destroy();
    } catch {}
  }
  openSockets.clear();
}
process.on('exit', closeAll);

const short = (v, n = 300) => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s && s.length > n ? s.slice(0, n) + `…(${s.length} chars)` : s;
};

// ------------------------------------------------------------------ ws client

/**
 * The npm `ws` client with every message logged (parsed JSON) and waits
 * that never hang.  `c.msgs` is every message in arrival order.
 */
/** Shared by the clients below: they call _wake() on every input, and
 * until() resolves once pred(this) holds, or rejects with the client's
 * describe() on timeout. */
class Waitable {
  constructor() {
    this._waiters = new Set();
  }
  _wake() {
    for (const w of [...this._waiters]) w();
  }
  until(pred, label, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        let v;
        try {
          v = pred(this);
        } catch (e) {
          done();
          return reject(e);
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const done = () => {
        clearTimeout(timer);
        this._waiters.delete(check);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${label}; ${this.describe()}`));
      }, timeoutMs);
      this._waiters.add(check);
      check();
    });
  }
}

export class WsClient extends Waitable {
  /** Connects and waits for the welcome; resolves the client (c.welcome set). */
  static async open(url, { protocols, timeoutMs = 5000, welcome = true, wsOptions = {} } = {}) {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: timeoutMs, ...wsOptions });
    const c = new WsClient(ws);
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode} to ${url}`)));
      }),
      timeoutMs,
      `WebSocket open ${url}`,
    );
    if (welcome) c.welcome = await c.next((m) => m.op === 'welcome', 'welcome', timeoutMs);
    return c;
  }
  constructor(ws) {
    super();
    this.ws = ws;
    this.msgs = [];
    this.raw = [];
    this.pos = 0;
    this.closed = false;
    this.close = null; // {code, reason}
    this.errors = [];
    this.pings = 0;
    openSockets.add(ws);
    ws.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      let m;
      try {
        m = JSON.parse(text);
      } catch {
        m = { op: '<not json>', text };
      }
      if (isBinary) m = { op: '<binary>', text };
      this.msgs.push(m);
      this._poke();
    });
    ws.on('ping', () => {
      this.pings++;
      this._poke();
    });
    ws.on('error', (e) => {
      this.errors.push(e);
      this._poke();
    });
    ws.on('close', (code, reason) => {
      this.closed = true;
      this.close = { code, reason: reason.toString('utf8') };
      openSockets.delete(ws);
      this._poke();
    });
  }
  _poke() {
    this._wake();
  }
  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }
  /** The next message (from this.pos on) matching pred; moves pos past it. */
  next(pred, label = 'a message', timeoutMs = 5000) {
    return this.until(
      () => {
        for (let i = this.pos; i < this.msgs.length; i++) {
          if (pred(this.msgs[i])) {
            this.pos = i + 1;
            return this.msgs[i];
          }
        }
        if (this.closed) throw new Error(`connection closed while waiting for ${label}; ${this.describe()}`);
        return null;
      },
      label,
      timeoutMs,
    );
  }
  /** Any message received so far or later (ignores pos) matching pred. */
  find(pred, label = 'a message', timeoutMs = 5000) {
    return this.until(
      () => {
        const m = this.msgs.find(pred);
        if (m) return m;
        if (this.closed) throw new Error(`connection closed while waiting for ${label}; ${this.describe()}`);
        return null;
      },
      label,
      timeoutMs,
    );
  }
  /** Any message with this op (and sub), ignoring pos. */
  findOp(op, sub, timeoutMs = 5000) {
    return this.find((m) => m.op === op && (sub === undefined || m.sub === sub), `op ${op}${sub !== undefined ? ` sub ${sub}` : ''}`, timeoutMs);
  }
  /** The next message with this op (and sub, if given). */
  nextOp(op, sub, timeoutMs = 5000) {
    return this.next((m) => m.op === op && (sub === undefined || m.sub === sub), `op ${op}${sub !== undefined ? ` sub ${sub}` : ''}`, timeoutMs);
  }
  /** Sends a request and returns the next message with the op expected. */
  async request(obj, expectOp, timeoutMs = 5000) {
    this.send(obj);
    return this.nextOp(expectOp, undefined, timeoutMs);
  }
  /** subscribe and wait for `subscribed`; returns it. */
  async subscribe(sub, filter = {}, timeoutMs = 5000) {
    this.send({ op: 'subscribe', sub, ...filter });
    const m = await this.next((x) => (x.op === 'subscribed' || x.op === 'error') && x.sub === sub, `subscribed ${sub}`, timeoutMs);
    assert.equal(m.op, 'subscribed', `subscribe ${sub} ${JSON.stringify(filter)}: got ${JSON.stringify(m)}`);
    return m;
  }
  /** The events delivered for sub (the `event` objects). */
  events(sub) {
    const out = [];
    for (const m of this.msgs) if (m.op === 'event' && m.sub === sub) out.push(m.event);
    return out;
  }
  /** Waits until sub has at least n events. */
  waitEvents(sub, n, timeoutMs = 10_000) {
    return this.until(
      () => {
        const e = this.events(sub);
        if (e.length >= n) return e;
        if (this.closed) throw new Error(`closed with ${e.length}/${n} events for ${sub}; ${this.describe()}`);
        return null;
      },
      `${n} events for sub ${sub}`,
      timeoutMs,
    );
  }
  /** Waits until the event with seq >= seq arrives for sub. */
  waitSeq(sub, seq, timeoutMs = 10_000) {
    return this.until(
      () => {
        const e = this.events(sub);
        if (e.length && e[e.length - 1].seq >= seq) return e;
        if (this.closed) throw new Error(`closed before seq ${seq} for ${sub}; ${this.describe()}`);
        return null;
      },
      `seq ${seq} on sub ${sub}`,
      timeoutMs,
    );
  }
  /** Resolves {code, reason} when closed. */
  waitClose(timeoutMs = 5000) {
    return this.until((c) => c.closed && c.close, 'close', timeoutMs);
  }
  describe() {
    const last = this.msgs.slice(-5).map((m) => short(m, 200));
    return `msgs=${this.msgs.length} pos=${this.pos} closed=${this.closed}${this.close ? ` code=${this.close.code} reason=${JSON.stringify(this.close.reason)}` : ''} last=[${last.join(', ')}]${this.errors.length ? ` errors=${this.errors.map((e) => e.message).join('; ')}` : ''}`;
  }
  terminate() {
    this.ws.terminate();
  }
}

/** Asserts an `error` op with the code given and a one-line detail. */
export function expectWsError(m, code, what = '') {
  assert.equal(m.op, 'error', `${what}: expected an error op, got ${JSON.stringify(m)}`);
  assert.equal(m.code, code, `${what}: error code: ${JSON.stringify(m)}`);
  assert.equal(typeof m.detail, 'string', `${what}: error detail: ${JSON.stringify(m)}`);
  assert.ok(m.detail.length > 0 && !/[\r\n]/.test(m.detail), `${what}: detail must be one non-empty line: ${JSON.stringify(m)}`);
}

/** Asserts seqs strictly increasing; returns them. */
export function assertIncreasing(events, what = 'events') {
  const seqs = events.map((e) => e.seq);
  for (let i = 1; i < seqs.length; i++) {
    if (!(seqs[i] > seqs[i - 1])) {
      assert.fail(`${what}: seq not strictly increasing at index ${i}: … ${seqs.slice(Math.max(0, i - 5), i + 5).join(', ')} … (${seqs.length} events)`);
    }
  }
  return seqs;
}

/** Asserts seqs are exactly `expected` (arrays of numbers), reporting missing/duplicate/extra. */
export function assertSeqs(actual, expected, what = 'seqs') {
  const a = actual.map((x) => (typeof x === 'number' ? x : x.seq));
  if (a.length === expected.length && a.every((v, i) => v === expected[i])) return;
  const count = new Map();
  for (const v of a) count.set(v, (count.get(v) || 0) + 1);
  const exp = new Set(expected);
  const missing = expected.filter((v) => !count.has(v));
  const dups = [...count].filter(([, n]) => n > 1).map(([v, n]) => `${v}×${n}`);
  const extra = [...count.keys()].filter((v) => !exp.has(v));
  let firstDiff = -1;
  for (let i = 0; i < Math.max(a.length, expected.length); i++) {
    if (a[i] !== expected[i]) {
      firstDiff = i;
      break;
    }
  }
  assert.fail(
    `${what}: got ${a.length} seqs, expected ${expected.length}; missing [${missing.slice(0, 20).join(',')}${missing.length > 20 ? ',…' : ''}] (${missing.length}); duplicates [${dups.slice(0, 20).join(',')}] (${dups.length}); unexpected [${extra.slice(0, 20).join(',')}] (${extra.length}); first difference at index ${firstDiff}: got ${a.slice(Math.max(0, firstDiff - 3), firstDiff + 4).join(',')} expected ${expected.slice(Math.max(0, firstDiff - 3), firstDiff + 4).join(',')}`,
  );
}

export const range = (from, to) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

// ------------------------------------------------------------------ raw frames

/** A client frame: masked unless mask === false. payload: Buffer or string. */
export function frame({ opcode = 1, payload = Buffer.alloc(0), fin = true, mask = true, rsv = 0, key, lenForm } = {}) {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  const len = p.length;
  let hdr;
  const form = lenForm ?? (len < 126 ? 7 : len <= 0xffff ? 16 : 64);
  if (form === 7) {
    hdr = Buffer.alloc(2);
    hdr[1] = len;
  } else if (form === 16) {
    hdr = Buffer.alloc(4);
    hdr[1] = 126;
    hdr.writeUInt16BE(len, 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[1] = 127;
    hdr.writeBigUInt64BE(BigInt(len), 2);
  }
  hdr[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf);
  if (!mask) return Buffer.concat([hdr, p]);
  hdr[1] |= 0x80;
  const k = key ?? crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = p[i] ^ k[i & 3];
  return Buffer.concat([hdr, k, body]);
}

export const closePayload = (code, reason = '') => {
  const r = Buffer.from(reason, 'utf8');
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
};

/** Parses server frames from buf; returns {frames, rest, error}. Server frames must be unmasked. */
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let p = off + 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      p = off + 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = Number(buf.readBigUInt64BE(off + 2));
      p = off + 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) p += 4;
    if (buf.length < p + len) break;
    const payload = buf.subarray(p, p + len);
    const f = { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0xf, masked, payload, len };
    if (f.opcode === 8) {
      f.code = len >= 2 ? payload.readUInt16BE(0) : null;
      f.reason = len > 2 ? payload.subarray(2).toString('utf8') : '';
    }
    if (f.opcode === 1) {
      f.text = payload.toString('utf8');
      try {
        f.json = JSON.parse(f.text);
      } catch {}
    }
    frames.push(f);
    off = p + len;
  }
  return { frames, rest: buf.subarray(off) };
}

const describeFrame = (f) =>
  f.opcode === 8 ? `Close(${f.code}${f.reason ? ' ' + JSON.stringify(f.reason) : ''})` : f.opcode === 1 ? `Text ${short(f.text, 160)}` : `op${f.opcode}[${f.len}]${f.fin ? '' : ' !fin'}`;

/**
 * A WebSocket client on a bare TCP socket.  RawWs.connect() does the
 * handshake (or returns the refused response), then parses every server
 * frame into `frames`.  Nothing is answered automatically (no pong to pings,
 * no Close echo) unless autoPong is set.
 */
export class RawWs extends Waitable {
  static connect(port, { path = '/api/_ws', headers = {}, key = crypto.randomBytes(16).toString('base64'), protocol, timeoutMs = 5000, extraHead = '' } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      const c = new RawWs(sock);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`raw WebSocket handshake to :${port}${path} timed out; got ${JSON.stringify(c.head?.toString('latin1') ?? c.buf.toString('latin1').slice(0, 400))}`));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`connect :${port}: ${e.message}`));
      });
      sock.once('connect', () => {
        const h = {
          Host: `127.0.0.1:${port}`,
          Upgrade: 'websocket',
          Connection: 'Upgrade',
          'Sec-WebSocket-Version': '13',
          ...(key !== null ? { 'Sec-WebSocket-Key': key } : {}),
          ...(protocol ? { 'Sec-WebSocket-Protocol': protocol } : {}),
          ...headers,
        };
        let text = `GET ${path} HTTP/1.1\r\n`;
        for (const [k, v] of Object.entries(h)) if (v !== null && v !== undefined) text += `${k}: ${v}\r\n`;
        sock.write(text + extraHead + '\r\n');
      });
      c._onHead = () => {
        clearTimeout(timer);
        resolve(c);
      };
      c.key = key;
    });
  }
  constructor(sock) {
    super();
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.head = null; // the response head (Buffer) once complete
    this.status = null;
    this.headers = {};
    this.body = Buffer.alloc(0); // bytes after a non-101 head
    this.frames = [];
    this.closed = false; // TCP closed
    this.error = null;
    this.bytesIn = 0;
    this.autoPong = false;
    openSockets.add(sock);
    sock.setNoDelay(true);
    sock.on('data', (d) => this._data(d));
    sock.on('error', (e) => {
      this.error = e;
      this._poke();
    });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      openSockets.delete(sock);
      this._poke();
    });
  }
  _data(d) {
    this.bytesIn += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (!this.head) {
      const i = this.buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      this.head = this.buf.subarray(0, i + 4);
      const lines = this.head.toString('latin1').split('\r\n');
      this.statusLine = lines[0];
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1]);
      for (const l of lines.slice(1)) {
        const j = l.indexOf(':');
        if (j > 0) {
          const k = l.slice(0, j).trim().toLowerCase();
          const v = l.slice(j + 1).trim();
          this.headers[k] = k in this.headers ? `${this.headers[k]}, ${v}` : v;
        }
      }
      this.buf = this.buf.subarray(i + 4);
      this._onHead?.();
    }
    if (this.status !== 101) {
      this.body = Buffer.concat([this.body, this.buf]);
      this.buf = Buffer.alloc(0);
      this._poke();
      return;
    }
    const { frames, rest } = parseFrames(this.buf);
    this.buf = Buffer.from(rest);
    for (const f of frames) {
      this.frames.push(f);
      if (this.autoPong && f.opcode === 9) this.send({ opcode: 10, payload: Buffer.from(f.payload) });
    }
    if (frames.length) this._poke();
  }
  _poke() {
    this._wake();
  }
  /** Writes raw bytes (a Buffer, or an array of Buffers written in one go). */
  write(bytes) {
    if (this.closed || this.sock.destroyed) return false;
    return this.sock.write(Array.isArray(bytes) ? Buffer.concat(bytes) : bytes);
  }
  send(opts) {
    return this.write(frame(opts));
  }
  sendText(text, opts = {}) {
    return this.send({ opcode: 1, payload: text, ...opts });
  }
  sendJson(obj) {
    return this.sendText(JSON.stringify(obj));
  }
  /** JSON text messages (parsed) in arrival order. */
  get messages() {
    return this.frames.filter((f) => f.opcode === 1).map((f) => f.json ?? { op: '<not json>', text: f.text });
  }
  get closeFrame() {
    return this.frames.find((f) => f.opcode === 8) ?? null;
  }
  /** Waits for a JSON message matching pred (searching all messages from index `from`). */
  waitMsg(pred, label = 'a message', timeoutMs = 5000, from = 0) {
    return this.until(
      () => {
        const ms = this.messages;
        for (let i = from; i < ms.length; i++) if (pred(ms[i])) return ms[i];
        if (this.closed) throw new Error(`TCP closed while waiting for ${label}; ${this.describe()}`);
        return null;
      },
      label,
      timeoutMs,
    );
  }
  /** Waits for a Close frame from the server; returns it (null if TCP closed without one). */
  async waitCloseFrame(timeoutMs = 5000) {
    await this.until((c) => c.closeFrame || c.closed, 'a Close frame', timeoutMs);
    return this.closeFrame;
  }
  /** Waits for the TCP connection to close; resolves true if it did. */
  async waitTcpClose(timeoutMs = 5000) {
    try {
      await this.until((c) => c.closed, 'TCP close', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }
  /** Expects Close(code) from the server and then the TCP close. */
  async expectClose(code, what = '', timeoutMs = 5000) {
    const f = await this.waitCloseFrame(timeoutMs);
    assert.ok(f, `${what}: server closed TCP without a Close frame (expected ${code}); ${this.describe()}`);
    assert.equal(f.code, code, `${what}: close code; ${this.describe()}`);
    const tcp = await this.waitTcpClose(timeoutMs);
    assert.ok(tcp, `${what}: TCP still open ${timeoutMs} ms after Close(${code}); ${this.describe()}`);
    return f;
  }
  pause() {
    this.sock.pause();
  }
  resume() {
    this.sock.resume();
  }
  describe() {
    return `status=${this.status} frames=[${this.frames.slice(-6).map(describeFrame).join(', ')}] (${this.frames.length} total, ${this.bytesIn} bytes) tcpClosed=${this.closed}${this.error ? ` error=${this.error.code || this.error.message}` : ''}`;
  }
  destroy() {
    this.sock.destroy();
  }
}

/** Sec-WebSocket-Accept for a key. */
export const acceptFor = (key) => crypto.createHash('sha1').update(key + WS_GUID).digest('base64');

// ------------------------------------------------------------------ SSE

/** Parses an SSE byte stream (UTF-8 text) into complete records; returns {records, rest}. */
export function parseSse(text) {
  const records = [];
  // Normalize line endings per WHATWG (CRLF, CR, LF).
  let t = text.replace(/\r\n/g, '\n').replace(/\r/g, '\n');
  let off = 0;
  for (;;) {
    const end = t.indexOf('\n\n', off);
    if (end < 0) break;
    const block = t.slice(off, end);
    off = end + 2;
    const r = { fields: [], comments: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        r.comments.push(line.slice(1));
        continue;
      }
      const i = line.indexOf(':');
      const name = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      r.fields.push([name, value]);
      if (name === 'data') r.data = r.data === undefined ? value : r.data + '\n' + value;
      else r[name] = value;
    }
    if (r.data !== undefined) {
      try {
        r.json = JSON.parse(r.data);
      } catch {}
    }
    records.push(r);
  }
  // Consecutive blank lines may leave leading newlines: harmless here.
  return { records, rest: t.slice(off) };
}

/**
 * An SSE client on a bare TCP socket: sends GET path with headers, then
 * parses the response head and the stream.  `records` are complete records
 * (comment-only ones too), `events` those with data.
 */
export class RawSse extends Waitable {
  static open(port, path, { headers = {}, timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      const c = new RawSse(sock);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`SSE ${path}: no response head within ${timeoutMs} ms; got ${JSON.stringify(c.raw.toString('latin1').slice(0, 400))}`));
      }, timeoutMs);
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`connect :${port}: ${e.message}`));
      });
      sock.once('connect', () => {
        let text = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n`;
        for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
        sock.write(text + '\r\n');
      });
      c._onHead = () => {
        clearTimeout(timer);
        resolve(c);
      };
    });
  }
  constructor(sock) {
    super();
    this.sock = sock;
    this.raw = Buffer.alloc(0);
    this.head = null;
    this.status = null;
    this.headers = {};
    this.bodyBuf = Buffer.alloc(0);
    this.records = [];
    this.closed = false;
    this.error = null;
    this.bytesIn = 0;
    this._text = '';
    this._decoder = new TextDecoder('utf-8');
    openSockets.add(sock);
    sock.on('data', (d) => this._data(d));
    sock.on('error', (e) => {
      this.error = e;
      this._poke();
    });
    sock.on('close', () => {
      this.closed = true;
      openSockets.delete(sock);
      this._poke();
    });
  }
  _data(d) {
    this.bytesIn += d.length;
    if (!this.head) {
      this.raw = Buffer.concat([this.raw, d]);
      const i = this.raw.indexOf('\r\n\r\n');
      if (i < 0) return;
      this.head = this.raw.subarray(0, i + 4).toString('latin1');
      const lines = this.head.split('\r\n');
      this.statusLine = lines[0];
      this.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0])?.[1]);
      for (const l of lines.slice(1)) {
        const j = l.indexOf(':');
        if (j > 0) this.headers[l.slice(0, j).trim().toLowerCase()] = l.slice(j + 1).trim();
      }
      d = this.raw.subarray(i + 4);
      this._onHead?.();
    }
    this.bodyBuf = this.status === 200 ? this.bodyBuf : Buffer.concat([this.bodyBuf, d]);
    if (this.status === 200) {
      this._text += this._decoder.decode(d, { stream: true });
      const { records, rest } = parseSse(this._text);
      this._text = rest;
      if (records.length) this.records.push(...records);
    }
    this._poke();
  }
  _poke() {
    this._wake();
  }
  get events() {
    return this.records.filter((r) => r.data !== undefined && r.event !== 'reset').map((r) => r.json);
  }

  waitEvents(n, timeoutMs = 10_000) {
    return this.until(
      (c) => {
        if (c.events.length >= n) return c.events;
        if (c.closed) throw new Error(`stream closed with ${c.events.length}/${n} events; ${c.describe()}`);
        return null;
      },
      `${n} SSE events`,
      timeoutMs,
    );
  }
  async waitClosed(timeoutMs = 5000) {
    try {
      await this.until((c) => c.closed, 'stream end', timeoutMs);
      return true;
    } catch {
      return false;
    }
  }
  pause() {
    this.sock.pause();
  }
  resume() {
    this.sock.resume();
  }
  describe() {
    const last = this.records.slice(-4).map((r) => short(r.fields.length ? r.fields.map(([k, v]) => `${k}: ${v}`).join(' | ') : ':' + r.comments.join(' :'), 160));
    return `status=${this.status} records=${this.records.length} last=[${last.join(', ')}] bytes=${this.bytesIn} closed=${this.closed}${this.error ? ` error=${this.error.code || this.error.message}` : ''}`;
  }
  destroy() {
    this.sock.destroy();
  }
}

// ------------------------------------------------------------------ writes, memory

/**
 * n writes with at most `concurrency` in flight; make(i) returns
 * {path, body} (POST) or a function returning a promise.  Returns the
 * response bodies in index order; throws on the first non-2xx.
 */
export async function writeMany(s, n, make, { concurrency = 8, timeoutMs = 60_000 } = {}) {
  const out = new Array(n);
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    while (next < n) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`writeMany: ${next}/${n} writes after ${timeoutMs} ms`);
      const i = next++;
      const w = make(i);
      const r = await req(`${s.url}${w.path}`, { method: w.method ?? 'POST', body: w.body, timeoutMs: 30_000 });
      if (r.status < 200 || r.status > 299) throw new Error(`write ${i} ${w.method ?? 'POST'} ${w.path}: ${r.status} ${r.text.slice(0, 300)}`);
      out[i] = r.json;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** A document body of about `bytes` bytes. */
export const padded = (i, bytes) => ({ i, pad: 'x'.repeat(Math.max(0, bytes - 40)) });

/** VmRSS of pid in KiB (null if unreadable). */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Samples rssKiB(pid) every intervalMs until stop() is called; returns {stop, max, samples}. */
export function sampleRss(pid, intervalMs = 50) {
  const st = { samples: [], max: 0 };
  const tick = () => {
    const v = rssKiB(pid);
    if (v !== null) {
      st.samples.push(v);
      if (v > st.max) st.max = v;
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  st.stop = () => {
    clearInterval(timer);
    tick();
    return st;
  };
  return st;
}

/** A free TCP port on 127.0.0.1 (closed before returning: may race, rarely). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

/** Waits until the log has been pruned (oldest > 1 on GET _changes?since=0); returns that response. */
export async function waitPruned(s, { minOldest = 2, timeoutMs = 10_000 } = {}) {
  const end = performance.now() + timeoutMs;
  let last;
  while (performance.now() < end) {
    const r = await req(`${s.url}/api/_changes?since=0&limit=1000`);
    expectStatus(r, 200, '_changes?since=0');
    last = r.json;
    if (last.events.length && last.events[0].seq >= minOldest) return last;
    await sleep(150);
  }
  throw new Error(`events not pruned within ${timeoutMs} ms: last _changes?since=0 → ${short(last, 400)}`);
}
