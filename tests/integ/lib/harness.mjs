// harness — start the real herald binary and talk to it as a client would.
//
// Every process started here is tracked and killed (by PID) when the test
// file's process exits; every temporary directory is removed then too.
// Nothing here waits without a bound.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../../..');
export const BIN = process.env.HERALD_BIN ? path.resolve(process.env.HERALD_BIN) : path.join(REPO, 'build/herald');

// Default per-test options: every test is bounded in time.
export const T = { timeout: 30_000 };

const live = new Set(); // child processes not yet seen to exit
const tmpDirs = new Set();

function cleanupSync() {
  for (const p of live) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
  live.clear();
  for (const d of tmpDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {}
  }
  tmpDirs.clear();
}
process.on('exit', cleanupSync);
// A server started without a test context (or left running by a failing test)
// would keep this file's process alive: kill leftovers once the file's tests end.
after(() => {
  for (const p of live) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanupSync();
    process.exit(130);
  });
}

export function tmpDir(prefix = 'herald-integ-') {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with `label` if `p` has not settled within `ms`. */
export function withTimeout(p, ms, label = 'operation') {
  let timer;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${label}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGTRAP']);

/**
 * Run herald to completion (for CLI tests: --help, bad flags).
 * Returns {code, signal, stdout, stderr}. Killed after timeoutMs.
 */
export function runHerald(args, { env = {}, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {}
      reject(new Error(`herald ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    proc.on('error', (e) => {
      clearTimeout(timer);
      live.delete(proc);
      reject(new Error(`cannot run ${BIN}: ${e.message}`));
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const LISTEN_RE = /listening on (http:\/\/[^\s]+)/;

function spawnOnce(args, env, startTimeoutMs) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    const st = { proc, stdout: '', stderr: '', exited: false, code: null, signal: null, startLine: null };
    st.exitPromise = new Promise((res) => {
      proc.on('exit', (code, signal) => {
        st.exited = true;
        st.code = code;
        st.signal = signal;
        live.delete(proc);
        res({ code, signal });
      });
    });
    let settled = false;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {}
      reject(new Error(`${msg}\n  command: ${BIN} ${args.join(' ')}\n  stdout: ${st.stdout.slice(0, 2000)}\n  stderr: ${st.stderr.slice(-4000)}`));
    };
    const timer = setTimeout(() => fail('herald did not print "listening on" within ' + startTimeoutMs + ' ms'), startTimeoutMs);
    proc.on('error', (e) => fail(`cannot spawn herald: ${e.message}`));
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      if (st.stdout.length < 1 << 20) st.stdout += d;
      if (!settled) {
        const m = LISTEN_RE.exec(st.stdout);
        const nl = st.stdout.indexOf('\n', m ? m.index : 0);
        if (m && nl >= 0) {
          settled = true;
          clearTimeout(timer);
          st.startLine = st.stdout.slice(st.stdout.lastIndexOf('\n', m.index) + 1, nl);
          st.url = m[1].replace(/\/+$/, '');
          resolve(st);
        }
      }
    });
    proc.stderr.on('data', (d) => {
      st.stderr += d;
      if (st.stderr.length > 1 << 20) st.stderr = st.stderr.slice(-(1 << 19));
    });
    st.exitPromise.then(({ code, signal }) => fail(`herald exited before listening (code=${code} signal=${signal})`));
  });
}

/**
 * Start herald on a fresh database (or dbDir) with an ephemeral port.
 *   opts.args   extra flags (appended after the defaults)
 *   opts.env    extra environment
 *   opts.dbDir  directory for herald.db (default: a fresh temp dir)
 *   opts.listen false: do not pass --listen (e.g. to test HERALD_LISTEN)
 *   opts.dbFlag false: do not pass --db (e.g. to test HERALD_DB)
 *   opts.t      a node:test context: the server is stopped after that test,
 *               and the test fails if herald crashed or died on its own.
 */
export async function startHerald(opts = {}) {
  const { args = [], env = {}, listen = true, dbFlag = true, t = null, startTimeoutMs = 10_000 } = opts;
  const dbDir = opts.dbDir ?? tmpDir();
  const dbPath = path.join(dbDir, 'herald.db');
  const fullArgs = [
    ...(listen ? ['--listen', '127.0.0.1:0'] : []),
    ...(dbFlag ? ['--db', dbPath] : []),
    '--log-level',
    'warn',
    ...args,
  ];
  const s = {
    dbDir,
    dbPath,
    args: fullArgs,
    env,
    stopping: false,
    _st: null,
    get proc() {
      return this._st.proc;
    },
    get pid() {
      return this._st.proc.pid;
    },
    get stdout() {
      return this._st.stdout;
    },
    get stderr() {
      return this._st.stderr;
    },
    get startLine() {
      return this._st.startLine;
    },
    get exited() {
      return this._st.exited;
    },
    /** Resolves {code, signal} when the process exits. */
    get exitPromise() {
      return this._st.exitPromise;
    },
    async _start() {
      this._st = await spawnOnce(fullArgs, env, startTimeoutMs);
      this.url = this._st.url;
      this.port = Number(new URL(this.url).port);
      this.stopping = false;
      return this;
    },
    /** SIGTERM, wait for exit; SIGKILL after 5 s. Returns {code, signal, killed}. */
    async stop({ graceMs = 5000 } = {}) {
      const st = this._st;
      if (st.exited) return { code: st.code, signal: st.signal, killed: false, alreadyExited: true };
      this.stopping = true;
      try {
        process.kill(st.proc.pid, 'SIGTERM');
      } catch {}
      let timer;
      const r = await Promise.race([
        st.exitPromise,
        new Promise((res) => (timer = setTimeout(() => res(null), graceMs))),
      ]);
      clearTimeout(timer);
      if (r) return { ...r, killed: false };
      try {
        process.kill(st.proc.pid, 'SIGKILL');
      } catch {}
      const r2 = await withTimeout(st.exitPromise, 5000, 'exit after SIGKILL');
      return { ...r2, killed: true };
    },
    /** SIGKILL and wait for the exit. */
    async kill9() {
      const st = this._st;
      this.stopping = true;
      if (st.exited) return { code: st.code, signal: st.signal };
      try {
        process.kill(st.proc.pid, 'SIGKILL');
      } catch {}
      return withTimeout(st.exitPromise, 5000, 'exit after SIGKILL');
    },
    /** Stop (if running) and start again on the same database. Mutates and returns this. */
    async restart() {
      if (!this._st.exited) await this.stop();
      return this._start();
    },
    /** Throws if the process died without being asked to (or by a crash signal). */
    checkAlive() {
      const st = this._st;
      if (st.exited && (!this.stopping || CRASH_SIGNALS.has(st.signal))) {
        throw new Error(`herald died unexpectedly (code=${st.code} signal=${st.signal})\n  stderr: ${st.stderr.slice(-4000)}`);
      }
    },
  };
  await s._start();
  if (t) {
    t.after(async () => {
      const died = s._st.exited && !s.stopping;
      const st = s._st;
      if (!st.exited) {
        const r = await s.stop();
        if (CRASH_SIGNALS.has(r.signal)) {
          throw new Error(`herald crashed on SIGTERM (signal ${r.signal})\n  stderr: ${st.stderr.slice(-4000)}`);
        }
      }
      if (died || CRASH_SIGNALS.has(st.signal)) {
        throw new Error(`herald died during the test (code=${st.code} signal=${st.signal})\n  stderr: ${st.stderr.slice(-4000)}`);
      }
    });
  }
  return s;
}

/**
 * HTTP request with global fetch.  A plain object/array body is sent as
 * JSON with Content-Type application/json unless headers say otherwise;
 * strings, Buffers and Uint8Arrays are sent as they are.
 * Returns {status, headers, json, text, ms}.
 */
export async function req(url, { method = 'GET', headers = {}, body, timeoutMs = 15_000 } = {}) {
  const h = { ...headers };
  let b = body;
  if (b !== undefined && b !== null && typeof b === 'object' && !(b instanceof Uint8Array) && !(b instanceof ArrayBuffer)) {
    b = JSON.stringify(b);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(url, { method, headers: h, body: b, signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  } catch (e) {
    const cause = e.cause ? ` (${e.cause.code || ''} ${e.cause.message || e.cause})` : '';
    const err = new Error(`${method} ${url} failed: ${e.message}${cause}`);
    err.cause = e;
    throw err;
  }
  const text = await res.text();
  let json;
  const ct = res.headers.get('content-type') || '';
  if (text && /json/i.test(ct)) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, headers: res.headers, json, text, ms: performance.now() - t0, method, url };
}

/** Short description of a response for assertion messages. */
export function show(r) {
  if (!r) return String(r);
  const ct = r.headers?.get ? r.headers.get('content-type') : r.headers?.['content-type'];
  const text = r.text ?? r.body?.toString?.() ?? '';
  return `${r.method ?? ''} ${r.url ?? ''} -> ${r.status} [${ct}] ${String(text).slice(0, 600)}`;
}

export function expectStatus(r, status, what = '') {
  const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
  assert.ok(ok, `${what ? what + ': ' : ''}expected status ${status}, got ${show(r)}`);
}

/** Asserts an RFC 9457 problem response with the given status (or one of several). */
export function expectProblem(r, status, what = '') {
  expectStatus(r, status, what);
  const ct = r.headers.get('content-type') || '';
  assert.match(ct, /^application\/problem\+json\b/i, `${what}: content-type of ${show(r)}`);
  assert.ok(r.json && typeof r.json === 'object', `${what}: problem body is not JSON: ${show(r)}`);
  assert.equal(r.json.status, r.status, `${what}: problem "status" must equal the HTTP status: ${show(r)}`);
  assert.equal(r.json.type, 'about:blank', `${what}: problem "type": ${show(r)}`);
  assert.equal(typeof r.json.title, 'string', `${what}: problem "title": ${show(r)}`);
  assert.ok(r.json.title.length > 0, `${what}: problem "title" empty: ${show(r)}`);
  assert.equal(typeof r.json.detail, 'string', `${what}: problem "detail": ${show(r)}`);
  assert.ok(!/[\r\n]/.test(r.json.detail), `${what}: problem "detail" must be one line: ${show(r)}`);
}

export async function health(s) {
  const r = await req(`${s.url}/healthz`);
  expectStatus(r, 200, 'GET /healthz');
  return r.json;
}

export async function head(s) {
  return (await health(s)).head;
}

/** POST a document, asserting 201; returns the response json. */
export async function create(s, coll, doc, headers = {}) {
  const r = await req(`${s.url}/api/${coll}`, { method: 'POST', body: doc, headers });
  expectStatus(r, 201, `POST /api/${coll}`);
  return r.json;
}

/** Every event since `since`, paging with limit until caught up. */
export async function allChanges(s, { since = 0, query = '', limit = 1000, pathPrefix = '/api' } = {}) {
  const events = [];
  let cur = since;
  for (let i = 0; i < 10_000; i++) {
    const r = await req(`${s.url}${pathPrefix}/_changes?since=${cur}&limit=${limit}${query ? '&' + query : ''}`);
    expectStatus(r, 200, 'GET _changes');
    assert.equal(r.json.reset, false, `unexpected reset paging _changes: ${show(r)}`);
    events.push(...r.json.events);
    if (r.json.events.length === 0 || r.json.next >= r.json.head) {
      return { events, head: r.json.head, next: r.json.next };
    }
    assert.ok(r.json.next > cur, `_changes next did not advance (since=${cur}): ${show(r)}`);
    cur = r.json.next;
  }
  throw new Error('allChanges: too many pages');
}

/** Every document of a collection, paging with `after`. */
export async function allDocs(s, coll, { limit = 1000 } = {}) {
  const items = [];
  let url = `${s.url}/api/${coll}?limit=${limit}`;
  for (let i = 0; i < 10_000; i++) {
    const r = await req(url);
    expectStatus(r, 200, `GET /api/${coll}`);
    items.push(...r.json.items);
    if (r.json.next === null || r.json.items.length === 0) return items;
    url = `${s.url}/api/${coll}?limit=${limit}&after=${encodeURIComponent(r.json.next)}`;
  }
  throw new Error('allDocs: too many pages');
}

// ---------------------------------------------------------------- raw HTTP

/**
 * A raw TCP connection: write bytes, wait for what comes back.
 *   const c = await RawConn.open(port);
 *   c.write('GET / HTTP/1.1\r\n...');
 *   await c.waitFor((buf) => buf.includes('\r\n\r\n'), 2000);
 */
export class RawConn {
  static open(port, { host = '127.0.0.1', timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new RawConn(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`connect to ${host}:${port}: ${e.message}`));
      });
    });
  }
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.closedAt = null;
    this._waiters = [];
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this._poke();
    });
    sock.on('error', (e) => {
      this.error = e;
    });
    sock.on('close', () => {
      this.closed = true;
      this.closedAt = performance.now();
      this._poke();
    });
  }
  _poke() {
    for (const w of [...this._waiters]) w();
  }
  write(bytes) {
    if (this.closed) return false;
    try {
      return this.sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
    } catch {
      return false;
    }
  }
  get text() {
    return this.buf.toString('latin1');
  }
  /** Waits until pred(buf, this) is true (resolves true) or the connection closes / time runs out (resolves false). */
  waitFor(pred, timeoutMs) {
    return new Promise((resolve) => {
      let timer;
      const check = () => {
        if (pred(this.buf, this)) return done(true);
        if (this.closed) return done(false);
      };
      const done = (v) => {
        clearTimeout(timer);
        this._waiters = this._waiters.filter((w) => w !== check);
        resolve(v);
      };
      this._waiters.push(check);
      timer = setTimeout(() => done(pred(this.buf, this)), timeoutMs);
      check();
    });
  }
  /** Waits for the peer to close; resolves true if it did within timeoutMs. */
  waitClose(timeoutMs) {
    return this.waitFor((_, c) => c.closed, timeoutMs).then(() => this.closed);
  }
  /** Waits until n complete responses can be parsed (methods: request methods, for HEAD). */
  async waitResponses(n, timeoutMs, methods = []) {
    await this.waitFor((buf) => parseResponses(buf, { methods }).complete.length >= n, timeoutMs);
    return parseResponses(this.buf, { methods, closed: this.closed });
  }
  destroy() {
    this.sock.destroy();
  }
}

/**
 * Send raw bytes (a string or Buffer, or an array of chunks written with
 * `gapMs` between them) and collect the raw response until the server
 * closes or timeoutMs passes.  Returns {buf, text, closed, responses, ms}.
 */
export async function rawHttp(port, bytes, { timeoutMs = 3000, gapMs = 0, methods = [], until = null } = {}) {
  const c = await RawConn.open(port);
  const t0 = performance.now();
  try {
    const chunks = Array.isArray(bytes) ? bytes : [bytes];
    for (let i = 0; i < chunks.length; i++) {
      if (i && gapMs) await sleep(gapMs);
      c.write(chunks[i]);
    }
    await c.waitFor((buf, cc) => cc.closed || (until ? until(buf) : false), timeoutMs);
    const parsed = parseResponses(c.buf, { methods, closed: c.closed });
    return { buf: c.buf, text: c.text, closed: c.closed, responses: parsed.complete, rest: parsed.rest, ms: performance.now() - t0 };
  } finally {
    c.destroy();
  }
}

/**
 * Parse a byte stream of HTTP/1.x responses.  Returns {complete: [...], rest}
 * where each response is {statusLine, version, status, reason, headers (lowercase
 * names → last value), headerList, body (Buffer), json?, text}.  1xx responses are
 * included (they have no body).  methods[i] is the method of the i-th request
 * (for HEAD, whose response has no body).
 */
export function parseResponses(buf, { methods = [], closed = false } = {}) {
  const out = [];
  let off = 0;
  let finalIdx = 0;
  while (off < buf.length) {
    const hdrEnd = buf.indexOf('\r\n\r\n', off, 'latin1');
    if (hdrEnd < 0) break;
    const headText = buf.slice(off, hdrEnd).toString('latin1');
    const lines = headText.split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!m) break;
    const headers = {};
    const headerList = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i < 0) continue;
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      headerList.push([k, v]);
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    const status = Number(m[2]);
    let p = hdrEnd + 4;
    let body = Buffer.alloc(0);
    const method = status >= 200 ? methods[finalIdx] : undefined;
    if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
      // no body
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      let ok = false;
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.slice(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          // last chunk: optional trailers, then an empty line
          if (buf.length >= le + 4 && buf.slice(le + 2, le + 4).toString('latin1') === '\r\n') {
            p = le + 4;
          } else {
            const te = buf.indexOf('\r\n\r\n', le + 2, 'latin1');
            if (te < 0) break;
            p = te + 4;
          }
          ok = true;
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.slice(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!ok) break;
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (p + n > buf.length) break;
      body = buf.slice(p, p + n);
      p += n;
    } else {
      // body until close
      if (!closed) break;
      body = buf.slice(p);
      p = buf.length;
    }
    const r = { statusLine: lines[0], version: m[1], status, reason: m[3] ?? '', headers, headerList, body, text: body.toString('utf8') };
    if (/json/i.test(headers['content-type'] || '') && body.length) {
      try {
        r.json = JSON.parse(r.text);
      } catch {}
    }
    out.push(r);
    if (status >= 200) finalIdx++;
    off = p;
  }
  return { complete: out, rest: buf.slice(off) };
}

/** expectProblem for a raw parsed response. */
export function expectRawProblem(r, status, what = '') {
  assert.ok(r, `${what}: no response`);
  const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
  assert.ok(ok, `${what}: expected ${status}, got ${r.statusLine} ${r.text.slice(0, 400)}`);
  assert.match(r.headers['content-type'] || '', /^application\/problem\+json\b/i, `${what}: content-type (${r.statusLine})`);
  assert.ok(r.json, `${what}: problem body is not JSON: ${r.text.slice(0, 400)}`);
  assert.equal(r.json.status, r.status, `${what}: problem status`);
  assert.equal(r.json.type, 'about:blank', `${what}: problem type`);
  assert.equal(typeof r.json.title, 'string', `${what}: problem title`);
  assert.equal(typeof r.json.detail, 'string', `${what}: problem detail`);
}

/** Builds a raw HTTP/1.1 request. body: string/Buffer/object(JSON). */
export function rawRequest(method, target, { headers = {}, body, host = '127.0.0.1' } = {}) {
  let b = body;
  const h = { host, ...headers };
  if (b !== undefined && b !== null && typeof b === 'object' && !Buffer.isBuffer(b)) {
    b = JSON.stringify(b);
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  }
  const bb = b === undefined ? null : Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  if (bb && !Object.keys(h).some((k) => /^(content-length|transfer-encoding)$/i.test(k))) h['content-length'] = String(bb.length);
  const headText = `${method} ${target} HTTP/1.1\r\n` + Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  return bb ? Buffer.concat([Buffer.from(headText, 'latin1'), bb]) : Buffer.from(headText, 'latin1');
}

// ---------------------------------------------------------------- formats

export const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Runs fn over items with at most `limit` in flight; returns settled results in order. */
export async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await fn(items[i], i) };
      } catch (e) {
        results[i] = { ok: false, error: e };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Polls fn until it returns a truthy value or timeoutMs passes; returns the last value. */
export async function until(fn, { timeoutMs = 10_000, intervalMs = 100 } = {}) {
  const end = performance.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || performance.now() > end) return v;
    await sleep(intervalMs);
  }
}
