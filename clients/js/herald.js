// herald.js — the JavaScript client for herald (https://…/herald).
//
// One ES module, no dependencies. Works in browsers and in Node 20+.
//
//   import createClient from './herald.js';
//   const herald = createClient('http://127.0.0.1:8080');
//   const orders = herald.collection('orders');
//   const doc = await orders.create({ item: 'tea' });
//   const stop = herald.subscribe({ collections: ['orders'] }, (ev) => console.log(ev.seq, ev.type, ev.id));
//
// REST helpers map one-to-one onto the HTTP API of DESIGN.md. Real-time
// subscriptions use WebSocket (/api/_ws), falling back to Server-Sent Events
// (/api/_stream) and then long-polling (/api/_changes) when the earlier one
// cannot connect. A subscription reconnects with exponential backoff and
// full jitter, resumes from the last seq it delivered (so nothing is lost
// across drops and server restarts), drops duplicates by seq, and reports a
// `reset` when the server no longer has the events it would need.
//
// Design notes
// - One subscription = one connection. A WebSocket is not shared between
//   subscriptions; this keeps each subscription's resume point, backoff and
//   status independent and the code small.
// - SSE is read with fetch() and a stream reader (not EventSource) by
//   default: herald names its SSE events `<collection>.<type>`, and an
//   EventSource only delivers named events to listeners registered for that
//   exact name, so it cannot receive "every event". If you pass an
//   `EventSource` class in the options, it is used instead for
//   subscriptions whose filter names its collections (listeners are then
//   registered for every `<collection>.<type>` the filter allows; the types
//   default to created/updated/deleted plus the filter's own `types`).
// - Each connection cycle tries the transports in order. A transport that is
//   refused (HTTP error, WebSocket closed before it opened, timeout) moves on
//   to the next one at once; a network error (server unreachable) ends the
//   cycle, since the next transport would fail the same way. When every
//   transport has failed the subscription waits the backoff delay and starts
//   again from the first transport.

const DEFAULT_TRANSPORTS = ['websocket', 'sse', 'poll'];
const CRUD_TYPES = ['created', 'updated', 'deleted'];
const FILTER_KEYS = new Set(['collections', 'types', 'id', 'payload', 'since']);
const RESERVED_ERROR_KEYS = new Set(['name', 'message', 'stack', 'cause']);

/** An error answered by the server (RFC 9457 problem+json) or a network failure (status 0). */
export class HeraldError extends Error {
  constructor(problem = {}, { cause, headers } = {}) {
    const status = typeof problem.status === 'number' ? problem.status : 0;
    const title = problem.title || (status ? `HTTP ${status}` : 'Network error');
    super(problem.detail ? `${title}: ${problem.detail}` : title, cause ? { cause } : undefined);
    for (const [k, v] of Object.entries(problem)) if (!RESERVED_ERROR_KEYS.has(k)) this[k] = v;
    this.type = problem.type ?? 'about:blank';
    this.title = title;
    this.status = status;
    this.detail = problem.detail ?? '';
    if (headers) Object.defineProperty(this, 'headers', { value: headers, enumerable: false });
  }
  get name() {
    return 'HeraldError';
  }
  /** True for a 412 Precondition Failed (an If-Match / If-None-Match conflict). */
  get isConflict() {
    return this.status === 412;
  }
}

// ------------------------------------------------------------------ helpers

function defaultBase() {
  if (typeof location !== 'undefined' && location.origin && location.origin !== 'null') return location.origin;
  throw new TypeError('createClient: baseUrl is required outside a browser page');
}

function asList(v, what) {
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : String(v).split(',');
  const out = list.map((x) => String(x).trim()).filter(Boolean);
  if (!out.length) throw new TypeError(`subscribe: ${what} must not be empty`);
  return out;
}

function normalizeFilter(filter = {}) {
  if (filter === null || typeof filter !== 'object') throw new TypeError('subscribe: filter must be an object');
  for (const k of Object.keys(filter)) {
    if (!FILTER_KEYS.has(k)) throw new TypeError(`subscribe: unknown filter field "${k}"`);
  }
  const f = {};
  const collections = asList(filter.collections, 'collections');
  if (collections) f.collections = collections;
  const types = asList(filter.types, 'types');
  if (types) f.types = types;
  if (filter.id !== undefined && filter.id !== null) f.id = String(filter.id);
  if (filter.payload !== undefined && filter.payload !== null) {
    if (filter.payload !== 'full' && filter.payload !== 'minimal') throw new TypeError('subscribe: payload must be "full" or "minimal"');
    f.payload = filter.payload;
  }
  if (filter.since !== undefined && filter.since !== null) {
    const s = Number(filter.since);
    if (!Number.isSafeInteger(s) || s < 0) throw new TypeError('subscribe: since must be a non-negative integer');
    f.since = s;
  }
  return f;
}

/** The filter as query parameters (lists comma-separated). */
function filterQuery(f) {
  const q = {};
  if (f.collections) q.collections = f.collections.join(',');
  if (f.types) q.types = f.types.join(',');
  if (f.id !== undefined) q.id = f.id;
  if (f.payload !== undefined) q.payload = f.payload;
  return q;
}

/** An entity tag from a version number, a document ({version}), or a tag string. */
export function etag(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object' && 'version' in v) v = v.version;
  if (typeof v === 'number') return `"${v}"`;
  const s = String(v);
  if (s === '*' || s.startsWith('"') || s.startsWith('W/')) return s;
  return `"${s}"`;
}

function isAbortError(e) {
  return e && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

function docMatches(doc, where) {
  if (!where) return true;
  for (const [k, v] of Object.entries(where)) {
    const d = doc ? doc[k] : undefined;
    if (d === v) continue;
    if (d === null || d === undefined || typeof d === 'object') return false;
    if (String(d) !== String(v)) return false;
  }
  return true;
}

function compareBy(sort) {
  if (!sort) return null;
  const desc = sort.startsWith('-');
  const field = desc ? sort.slice(1) : sort.startsWith('+') ? sort.slice(1) : sort;
  return (a, b) => {
    const x = a[field];
    const y = b[field];
    let c;
    if (x === y) c = 0;
    else if (x === undefined || x === null) c = 1;
    else if (y === undefined || y === null) c = -1;
    else if (typeof x === 'number' && typeof y === 'number') c = x - y;
    else c = String(x) < String(y) ? -1 : 1;
    if (c === 0) c = a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    return desc ? -c : c;
  };
}

// ------------------------------------------------------------------ client

/**
 * createClient(baseUrl, options)
 *
 * options:
 *   fetch, WebSocket, EventSource   implementations (default: the globals; in
 *                                   Node 20 pass `WebSocket` from 'ws')
 *   headers                         extra headers for every HTTP request
 *   transports                      order of real-time transports
 *                                   (default ['websocket','sse','poll'])
 *   backoff: {initial, factor, max, stableAfter}
 *                                   500 ms, 2, 30 s, 10 s by default
 *   random                          () => [0,1), for the jitter (Math.random)
 *   clock: {now, setTimeout, clearTimeout}
 *                                   time source and timers (the globals)
 *   connectTimeout                  ms for a transport to open (10 s)
 *   pingInterval, pongTimeout       WebSocket liveness (25 s, 10 s)
 *   sseIdleTimeout                  reconnect an SSE stream silent this long (45 s)
 *   pollWait, pollLimit             long-poll wait in seconds (25) and page size (100)
 *   onError                         called with errors thrown by your callbacks
 */
export function createClient(baseUrl, options = {}) {
  if (baseUrl && typeof baseUrl === 'object' && !(baseUrl instanceof URL)) {
    options = baseUrl;
    baseUrl = undefined;
  }
  const base = String(baseUrl ?? defaultBase()).replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? (typeof fetch === 'function' ? fetch.bind(globalThis) : null);
  const WS = 'WebSocket' in options ? options.WebSocket : globalThis.WebSocket;
  const ES = options.EventSource ?? null;
  const clockIn = options.clock ?? {};
  const clock = {
    now: clockIn.now ?? (() => Date.now()),
    setTimeout: clockIn.setTimeout ?? ((fn, ms) => setTimeout(fn, ms)),
    clearTimeout: clockIn.clearTimeout ?? ((id) => clearTimeout(id)),
  };
  const random = options.random ?? Math.random;
  const backoff = { initial: 500, factor: 2, max: 30_000, stableAfter: 10_000, ...(options.backoff ?? {}) };
  const transports = (options.transports ?? DEFAULT_TRANSPORTS).slice();
  for (const t of transports) {
    if (!DEFAULT_TRANSPORTS.includes(t)) throw new TypeError(`createClient: unknown transport "${t}"`);
  }
  const cfg = {
    connectTimeout: options.connectTimeout ?? 10_000,
    pingInterval: options.pingInterval ?? 25_000,
    pongTimeout: options.pongTimeout ?? 10_000,
    sseIdleTimeout: options.sseIdleTimeout ?? 45_000,
    pollWait: options.pollWait ?? 25,
    pollLimit: options.pollLimit ?? 100,
  };
  const reportError =
    options.onError ??
    ((e) => {
      if (typeof console !== 'undefined') console.error('herald: callback failed', e);
    });
  if (!fetchImpl) throw new TypeError('createClient: no fetch implementation');

  const subs = new Set();
  const queries = new Set();
  let subCounter = 0;

  function url(path, query) {
    const u = new URL(base + path);
    if (query) {
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        u.searchParams.set(k, String(v));
      }
    }
    return u.toString();
  }

  /**
   * Low-level request. Returns {status, headers, body}. Throws HeraldError
   * for any status >= 400 (304 is returned, with body null).
   */
  async function request(method, path, { body, headers = {}, query, signal, contentType } = {}) {
    const h = { accept: 'application/json', ...(options.headers ?? {}), ...headers };
    let b;
    if (body !== undefined) {
      b = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] = contentType ?? 'application/json';
    }
    let res;
    try {
      res = await fetchImpl(url(path, query), { method, headers: h, body: b, signal });
    } catch (e) {
      if (isAbortError(e)) throw e;
      throw new HeraldError({ title: 'Network error', status: 0, detail: String(e?.cause?.message ?? e?.message ?? e) }, { cause: e });
    }
    let text = '';
    if (res.status !== 204 && res.status !== 304 && method !== 'HEAD') text = await res.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (res.status >= 400) {
      const problem = json && typeof json === 'object' && !Array.isArray(json) ? { ...json } : { detail: text.slice(0, 500) };
      problem.status = res.status;
      if (!problem.title) problem.title = res.statusText || `HTTP ${res.status}`;
      throw new HeraldError(problem, { headers: res.headers });
    }
    return { status: res.status, headers: res.headers, body: json };
  }

  function collection(name) {
    if (typeof name !== 'string' || !name) throw new TypeError('collection: name required');
    const p = `/api/${encodeURIComponent(name)}`;
    const docPath = (id) => {
      if (id === undefined || id === null || id === '') throw new TypeError('document id required');
      return `${p}/${encodeURIComponent(id)}`;
    };
    return {
      name,
      /** POST: creates a document (opts.id sets its id). Resolves to the stored document. */
      async create(doc, { id, idempotencyKey, headers = {}, signal } = {}) {
        const h = { ...headers };
        if (idempotencyKey) h['idempotency-key'] = idempotencyKey;
        const body = id !== undefined ? { ...doc, id } : doc;
        return (await request('POST', p, { body, headers: h, signal })).body;
      },
      /** GET one document; resolves to null on 304 (when ifNoneMatch matched). */
      async get(id, { ifNoneMatch, headers = {}, signal } = {}) {
        const h = { ...headers };
        if (ifNoneMatch !== undefined) h['if-none-match'] = etag(ifNoneMatch);
        const r = await request('GET', docPath(id), { headers: h, signal });
        return r.status === 304 ? null : r.body;
      },
      /** GET the collection: resolves to {items, next, head}. */
      async list({ limit, after, sort, filter, signal } = {}) {
        const query = { limit, after, sort };
        if (filter) for (const [k, v] of Object.entries(filter)) query[`filter[${k}]`] = v;
        const r = await request('GET', p, { query, signal });
        return { items: r.body?.items ?? [], next: r.body?.next ?? null, head: r.body?.head ?? 0 };
      },
      /** Every document, following `next` (bounded by maxPages). */
      async listAll({ limit = 1000, sort, filter, signal, maxPages = 1000 } = {}) {
        let page = await this.list({ limit, sort, filter, signal });
        const items = page.items.slice();
        const head = page.head;
        for (let i = 0; i < maxPages && page.next !== null && page.items.length; i++) {
          page = await this.list({ limit, sort, filter, after: page.next, signal });
          items.push(...page.items);
        }
        return { items, head };
      },
      /** PUT: replaces (or creates) the document. ifMatch: version, document or tag; ifNoneMatch: '*' = create only. */
      async replace(id, doc, { ifMatch, ifNoneMatch, headers = {}, signal } = {}) {
        const h = { ...headers };
        if (ifMatch !== undefined) h['if-match'] = etag(ifMatch);
        if (ifNoneMatch !== undefined) h['if-none-match'] = etag(ifNoneMatch);
        return (await request('PUT', docPath(id), { body: doc, headers: h, signal })).body;
      },
      /** PATCH: RFC 7396 merge patch. */
      async patch(id, patch, { ifMatch, headers = {}, signal } = {}) {
        const h = { ...headers };
        if (ifMatch !== undefined) h['if-match'] = etag(ifMatch);
        return (await request('PATCH', docPath(id), { body: patch, headers: h, signal, contentType: 'application/merge-patch+json' })).body;
      },
      /** DELETE. Resolves to undefined. */
      async remove(id, { ifMatch, headers = {}, signal } = {}) {
        const h = { ...headers };
        if (ifMatch !== undefined) h['if-match'] = etag(ifMatch);
        await request('DELETE', docPath(id), { headers: h, signal });
      },
      /** One poll of this collection's changes: {events, next, head, reset}. */
      async changes(params = {}) {
        return client.changes({ ...params, collections: [name] });
      },
      subscribe(filter, onEvent, opts) {
        return client.subscribe({ ...(filter ?? {}), collections: [name] }, onEvent, opts);
      },
      liveQuery(opts, onChange) {
        return client.liveQuery(name, opts, onChange);
      },
    };
  }

  // ---------------------------------------------------------- transports
  //
  // A transport factory takes (sub, h) and returns {close()}. It calls
  //   h.open()               once it can deliver events
  //   h.event(ev)            for each event (in seq order)
  //   h.advance(seq)         everything up to seq has been seen (no delivery)
  //   h.reset({oldest,head}) when the server says the resume point is gone
  //   h.epoch(epoch)         when it learns the database epoch
  //   h.close(err)           once, when it ends on its own:
  //                          err.kind 'network' | 'refused' | 'timeout' | 'closed',
  //                          err.fatal for errors retrying cannot fix.
  // After the subscription calls conn.close() no callback runs any more.

  function wsUrl(path) {
    const u = new URL(base + path);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  function connectWebSocket(sub, h) {
    let done = false;
    let opened = false;
    let ws = null;
    let connectTimer = null;
    let pingTimer = null;
    let pongTimer = null;
    let pingRef = 0;
    const clear = () => {
      for (const t of [connectTimer, pingTimer, pongTimer]) if (t !== null) clock.clearTimeout(t);
      connectTimer = pingTimer = pongTimer = null;
    };
    const shut = (code = 1000) => {
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {};
      try {
        ws.close(code);
      } catch {}
    };
    const finish = (err) => {
      if (done) return;
      done = true;
      clear();
      shut(1000);
      h.close(err);
    };
    const schedulePing = () => {
      if (done) return;
      pingTimer = clock.setTimeout(() => {
        pingTimer = null;
        if (done) return;
        try {
          ws.send(JSON.stringify({ op: 'ping', ref: ++pingRef }));
        } catch {}
        pongTimer = clock.setTimeout(() => finish({ kind: 'timeout', detail: 'no answer to ping' }), cfg.pongTimeout);
      }, cfg.pingInterval);
    };
    const send = (obj) => {
      try {
        ws.send(JSON.stringify(obj));
      } catch (e) {
        finish({ kind: 'closed', error: e });
      }
    };
    try {
      ws = new WS(wsUrl('/api/_ws'), 'herald.v1');
    } catch (e) {
      Promise.resolve().then(() => finish({ kind: 'refused', error: e }));
      return { close() { done = true; } };
    }
    connectTimer = clock.setTimeout(() => finish({ kind: 'timeout', detail: 'websocket did not open' }), cfg.connectTimeout);
    ws.onerror = () => {}; // a close event follows
    ws.onclose = (e) => finish({ kind: opened ? 'closed' : 'refused', code: e?.code, reason: e?.reason });
    ws.onmessage = (m) => {
      if (done) return;
      if (pongTimer !== null) {
        // anything from the server proves the connection is alive
        clock.clearTimeout(pongTimer);
        pongTimer = null;
      }
      if (opened && pingTimer === null) schedulePing();
      if (typeof m.data !== 'string') return finish({ kind: 'closed', detail: 'binary frame from server' });
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return finish({ kind: 'closed', detail: 'bad JSON from server' });
      }
      switch (msg.op) {
        case 'welcome': {
          if (msg.epoch !== undefined) h.epoch(msg.epoch);
          const s = { op: 'subscribe', sub: sub.subId, ...sub.filter };
          delete s.since;
          if (sub.lastSeq !== null) s.since = sub.lastSeq;
          send(s);
          break;
        }
        case 'subscribed':
          if (msg.sub !== sub.subId || opened) break;
          opened = true;
          clock.clearTimeout(connectTimer);
          connectTimer = null;
          if (sub.lastSeq === null && typeof msg.head === 'number') h.advance(msg.head);
          h.open();
          schedulePing();
          break;
        case 'event':
          if (msg.sub === sub.subId && msg.event) h.event(msg.event);
          break;
        case 'reset':
          if (msg.sub === sub.subId) h.reset({ oldest: msg.oldest, head: msg.head });
          break;
        case 'pong':
        case 'unsubscribed':
          break;
        case 'error':
          if (msg.sub !== undefined && msg.sub !== null && msg.sub !== sub.subId) break;
          finish({
            kind: opened ? 'closed' : 'refused',
            fatal: !opened && msg.sub === sub.subId,
            error: new HeraldError({ type: 'about:blank', title: 'Subscription refused', status: 400, detail: msg.detail ?? '', code: msg.code }),
          });
          break;
        default:
          break;
      }
    };
    return {
      close() {
        if (done) return;
        done = true;
        clear();
        if (opened) {
          try {
            ws.send(JSON.stringify({ op: 'unsubscribe', sub: sub.subId }));
          } catch {}
        }
        shut(1000);
      },
    };
  }

  /** SSE parser state machine (text/event-stream, WHATWG HTML §9.2.6). */
  function sseParser(onRecord) {
    let buf = '';
    let data = [];
    let event = '';
    let id = null;
    let sawData = false;
    const line = (l) => {
      if (l === '') {
        if (sawData) onRecord({ event: event || 'message', data: data.join('\n'), id });
        data = [];
        event = '';
        sawData = false;
        return;
      }
      if (l[0] === ':') return;
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') {
        data.push(value);
        sawData = true;
      } else if (field === 'event') event = value;
      else if (field === 'id') {
        if (!value.includes('\0')) id = value;
      }
    };
    return (chunk) => {
      buf += chunk;
      let start = 0;
      for (let i = 0; i < buf.length; i++) {
        const c = buf[i];
        if (c === '\n' || c === '\r') {
          if (c === '\r' && i + 1 === buf.length) break; // maybe \r\n split across chunks
          line(buf.slice(start, i));
          if (c === '\r' && buf[i + 1] === '\n') i++;
          start = i + 1;
        }
      }
      buf = buf.slice(start);
    };
  }

  function sseRecord(rec, h) {
    if (rec.event === 'reset') {
      let info = {};
      try {
        info = JSON.parse(rec.data);
      } catch {}
      h.reset({ oldest: info.oldest, head: info.head });
      return true;
    }
    let ev;
    try {
      ev = JSON.parse(rec.data);
    } catch {
      return false;
    }
    if (ev && typeof ev === 'object') h.event(ev);
    return true;
  }

  function connectSseFetch(sub, h) {
    const ac = new AbortController();
    let done = false;
    let opened = false;
    let timer = null;
    const arm = (ms, kind, detail) => {
      if (timer !== null) clock.clearTimeout(timer);
      timer = clock.setTimeout(() => finish({ kind, detail }), ms);
    };
    const finish = (err) => {
      if (done) return;
      done = true;
      if (timer !== null) clock.clearTimeout(timer);
      ac.abort();
      h.close(err);
    };
    (async () => {
      try {
        arm(cfg.connectTimeout, 'timeout', 'event stream did not open');
        if (sub.lastSeq === null) {
          // Live only: learn the head first, so a later resume starts there.
          const hz = await request('GET', '/healthz', { signal: ac.signal });
          if (done) return;
          if (hz.body?.epoch !== undefined) h.epoch(hz.body.epoch);
          if (typeof hz.body?.head === 'number') h.advance(hz.body.head);
        }
        const query = filterQuery(sub.filter);
        const headers = { accept: 'text/event-stream', ...(options.headers ?? {}) };
        if (sub.lastSeq !== null) {
          query.since = sub.lastSeq;
          headers['last-event-id'] = String(sub.lastSeq);
        }
        const res = await fetchImpl(url('/api/_stream', query), { headers, signal: ac.signal, cache: 'no-store' });
        if (done) return;
        const ct = res.headers.get('content-type') || '';
        if (!res.ok || !/^text\/event-stream/i.test(ct) || !res.body) {
          let problem = { status: res.status, title: res.statusText };
          try {
            problem = { ...problem, ...(await res.json()) };
          } catch {}
          return finish({ kind: 'refused', fatal: res.status === 400, error: new HeraldError(problem) });
        }
        opened = true;
        h.open();
        arm(cfg.sseIdleTimeout, 'timeout', 'event stream went silent');
        const parse = sseParser((rec) => {
          if (!done && !sseRecord(rec, h)) finish({ kind: 'closed', detail: 'bad event data' });
        });
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done: end } = await reader.read();
          if (done) {
            try {
              reader.cancel();
            } catch {}
            return;
          }
          if (end) break;
          arm(cfg.sseIdleTimeout, 'timeout', 'event stream went silent');
          parse(dec.decode(value, { stream: true }));
        }
        finish({ kind: 'closed', detail: 'event stream ended' });
      } catch (e) {
        if (done) return;
        if (e instanceof HeraldError) return finish({ kind: e.status === 0 ? 'network' : 'refused', error: e });
        if (isAbortError(e)) return finish({ kind: 'timeout', error: e });
        finish({ kind: opened ? 'closed' : 'network', error: e });
      }
    })();
    return {
      close() {
        if (done) return;
        done = true;
        if (timer !== null) clock.clearTimeout(timer);
        ac.abort();
      },
    };
  }

  function eventSourceNames(filter) {
    if (!filter.collections) return null;
    const types = new Set(filter.types ?? CRUD_TYPES);
    const names = [];
    for (const c of filter.collections) for (const t of types) names.push(`${c}.${t}`);
    return names;
  }

  function connectEventSource(sub, h) {
    let done = false;
    let opened = false;
    let es = null;
    let timer = null;
    const finish = (err) => {
      if (done) return;
      done = true;
      if (timer !== null) clock.clearTimeout(timer);
      try {
        es?.close();
      } catch {}
      h.close(err);
    };
    const query = filterQuery(sub.filter);
    if (sub.lastSeq !== null) query.since = sub.lastSeq;
    try {
      es = new ES(url('/api/_stream', query));
    } catch (e) {
      Promise.resolve().then(() => finish({ kind: 'refused', error: e }));
      return { close() { done = true; } };
    }
    timer = clock.setTimeout(() => finish({ kind: 'timeout', detail: 'event source did not open' }), cfg.connectTimeout);
    es.onopen = () => {
      if (done || opened) return;
      opened = true;
      clock.clearTimeout(timer);
      timer = null;
      h.open();
    };
    // EventSource reconnects on its own; we close it and let the
    // subscription's backoff decide, so every reconnect resumes from lastSeq.
    es.onerror = () => finish({ kind: opened ? 'closed' : 'refused' });
    const handler = (m) => {
      if (done) return;
      if (!sseRecord({ event: m.type, data: m.data }, h)) finish({ kind: 'closed', detail: 'bad event data' });
    };
    for (const name of [...eventSourceNames(sub.filter), 'reset']) es.addEventListener(name, handler);
    return {
      close() {
        if (done) return;
        done = true;
        if (timer !== null) clock.clearTimeout(timer);
        try {
          es.close();
        } catch {}
      },
    };
  }

  function connectSse(sub, h) {
    if (ES && eventSourceNames(sub.filter)) return connectEventSource(sub, h);
    return connectSseFetch(sub, h);
  }

  function connectPoll(sub, h) {
    let done = false;
    let opened = false;
    let ac = null;
    let timer = null;
    const stopReq = () => {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      ac?.abort();
    };
    const finish = (err) => {
      if (done) return;
      done = true;
      stopReq();
      h.close(err);
    };
    (async () => {
      let cursor = sub.lastSeq;
      for (;;) {
        if (done) return;
        const wait = opened ? cfg.pollWait : 0;
        const query = { ...filterQuery(sub.filter), limit: cfg.pollLimit, wait: wait || undefined };
        if (cursor !== null) query.since = cursor;
        ac = new AbortController();
        const thisAc = ac;
        timer = clock.setTimeout(() => thisAc.abort(), opened ? (wait + 15) * 1000 : cfg.connectTimeout);
        let r;
        try {
          r = await request('GET', '/api/_changes', { query, signal: ac.signal });
        } catch (e) {
          if (done) return;
          stopReq();
          if (isAbortError(e)) return finish({ kind: opened ? 'closed' : 'timeout', error: e });
          const status = e instanceof HeraldError ? e.status : 0;
          if (!opened) return finish({ kind: status === 0 ? 'network' : 'refused', fatal: status === 400, error: e });
          return finish({ kind: 'closed', fatal: status === 400, error: e });
        }
        if (done) return;
        clock.clearTimeout(timer);
        timer = null;
        const body = r.body ?? {};
        if (!opened) {
          opened = true;
          h.open();
          if (done) return;
        }
        if (body.reset) {
          h.reset({ oldest: body.oldest, head: body.head });
          cursor = typeof body.head === 'number' ? body.head : cursor;
          continue;
        }
        for (const ev of body.events ?? []) {
          if (done) return;
          h.event(ev);
        }
        if (done) return;
        if (typeof body.next === 'number') {
          h.advance(body.next);
          cursor = body.next;
        } else if (sub.lastSeq !== null) cursor = sub.lastSeq;
      }
    })();
    return {
      close() {
        if (done) return;
        done = true;
        stopReq();
      },
    };
  }

  const factories = { websocket: connectWebSocket, sse: connectSse, poll: connectPoll };
  const available = {
    websocket: () => typeof WS === 'function',
    sse: () => true,
    poll: () => true,
  };

  // ---------------------------------------------------------- subscription

  class Subscription {
    constructor(filter, onEvent, opts) {
      this.filter = filter;
      this.onEvent = onEvent;
      this.opts = opts;
      this.subId = `s${++subCounter}`;
      this.lastSeq = filter.since ?? null;
      this.epoch = null;
      this.status = 'idle';
      this.transport = null;
      this.attempt = 0;
      this.openedAt = 0;
      this.conn = null;
      this.retryTimer = null;
      this.closed = false;
      this.duplicates = 0;
    }

    setStatus(status, detail = {}) {
      this.status = status;
      const d = { transport: this.transport, ...detail };
      if (this.opts.onStatus) this.call(this.opts.onStatus, status, d);
    }

    call(fn, ...args) {
      try {
        fn(...args);
      } catch (e) {
        reportError(e);
      }
    }

    start() {
      this.cycle();
    }

    cycle() {
      if (this.closed) return;
      this.transport = null;
      this.setStatus('connecting', { attempt: this.attempt });
      this.tryTransport(0, null);
    }

    tryTransport(i, lastErr) {
      if (this.closed) return;
      const list = transports.filter((t) => available[t]());
      if (i >= list.length) return this.scheduleRetry(lastErr);
      const kind = list[i];
      let opened = false;
      let ended = false;
      const conn = factories[kind](this, {
        open: () => {
          if (ended || this.closed) return;
          opened = true;
          this.transport = kind;
          this.openedAt = clock.now();
          this.setStatus('open', { transport: kind });
        },
        event: (ev) => {
          if (!ended && !this.closed) this.deliver(ev, kind);
        },
        advance: (seq) => {
          if (ended || this.closed || typeof seq !== 'number') return;
          if (this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
        },
        reset: (info) => {
          if (!ended && !this.closed) this.reset(info, kind);
        },
        epoch: (epoch) => {
          if (ended || this.closed) return;
          if (this.epoch !== null && epoch !== this.epoch) {
            // Another database: our resume point means nothing there.
            const oldSeq = this.lastSeq;
            this.lastSeq = null;
            this.epoch = epoch;
            if (this.opts.onReset) this.call(this.opts.onReset, { reason: 'epoch', epoch, oldest: null, head: null, since: oldSeq });
            return;
          }
          this.epoch = epoch;
        },
        close: (err = {}) => {
          if (ended) return;
          ended = true;
          if (this.conn === conn) this.conn = null;
          if (this.closed) return;
          if (err.fatal) return this.fail(err.error ?? new HeraldError({ title: 'Subscription refused', status: 400, detail: err.detail ?? '' }));
          if (!opened) {
            if (err.kind === 'network') return this.scheduleRetry(err);
            return this.tryTransport(i + 1, err);
          }
          if (clock.now() - this.openedAt >= backoff.stableAfter) this.attempt = 0;
          this.transport = null;
          this.scheduleRetry(err);
        },
      });
      if (!ended) this.conn = conn;
    }

    deliver(ev, kind) {
      const seq = ev?.seq;
      if (typeof seq === 'number') {
        if (this.lastSeq !== null && seq <= this.lastSeq) {
          this.duplicates++;
          return;
        }
        this.lastSeq = seq;
      }
      this.call(this.onEvent, ev, { transport: kind });
    }

    reset(info, kind) {
      if (typeof info.head === 'number') this.lastSeq = info.head;
      if (this.opts.onReset) this.call(this.opts.onReset, { reason: 'behind', oldest: info.oldest ?? null, head: info.head ?? null, transport: kind });
    }

    /** The delay before retry number `attempt` (0-based): full jitter. */
    delayFor(attempt) {
      const cap = Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor, Math.min(attempt, 64)));
      return Math.floor(random() * cap);
    }

    scheduleRetry(err) {
      if (this.closed) return;
      const delay = this.delayFor(this.attempt);
      this.attempt++;
      this.transport = null;
      this.setStatus('reconnecting', { delay, attempt: this.attempt, error: err?.error ?? (err?.detail ? new Error(err.detail) : undefined) });
      this.retryTimer = clock.setTimeout(() => {
        this.retryTimer = null;
        this.cycle();
      }, delay);
    }

    /** Reconnect now (e.g. the browser came back online). */
    retryNow() {
      if (this.closed || this.retryTimer === null) return;
      clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.cycle();
    }

    fail(error) {
      this.closeQuietly();
      this.setStatus('closed', { error });
      if (this.opts.onError) this.call(this.opts.onError, error);
      else reportError(error);
      subs.delete(this);
    }

    closeQuietly() {
      this.closed = true;
      if (this.retryTimer !== null) clock.clearTimeout(this.retryTimer);
      this.retryTimer = null;
      const c = this.conn;
      this.conn = null;
      c?.close();
    }

    close() {
      if (this.closed) return;
      this.closeQuietly();
      this.transport = null;
      this.setStatus('closed', {});
      subs.delete(this);
    }
  }

  if (typeof window !== 'undefined' && typeof window.addEventListener === 'function') {
    window.addEventListener('online', () => {
      for (const s of subs) s.retryNow();
    });
  }

  /**
   * subscribe(filter, onEvent, {onReset, onStatus, onError}) → unsubscribe()
   * The returned function also exposes status, transport, lastSeq, duplicates.
   */
  function subscribe(filter, onEvent, opts = {}) {
    if (typeof onEvent !== 'function') throw new TypeError('subscribe: onEvent must be a function');
    const sub = new Subscription(normalizeFilter(filter ?? {}), onEvent, opts ?? {});
    subs.add(sub);
    const unsubscribe = () => sub.close();
    Object.defineProperties(unsubscribe, {
      status: { get: () => sub.status, enumerable: true },
      transport: { get: () => sub.transport, enumerable: true },
      lastSeq: { get: () => sub.lastSeq, enumerable: true },
      duplicates: { get: () => sub.duplicates, enumerable: true },
      reconnect: { value: () => sub.retryNow() },
    });
    sub.start();
    return unsubscribe;
  }

  // ---------------------------------------------------------- live query

  /**
   * liveQuery(collection, {filter, sort, limit, onStatus, onError, onEvent}, onChange)
   * Lists the collection, then subscribes from the list's head, keeping a
   * local array in step. onChange(items, change) gets a fresh array each
   * time; change is {type: 'snapshot'|'created'|'updated'|'deleted', id, event}.
   * On a reset it lists again. Returns {items, ready, refresh(), close(), status}.
   */
  function liveQuery(collectionName, opts = {}, onChange) {
    if (typeof opts === 'function') {
      onChange = opts;
      opts = {};
    }
    const col = collection(collectionName);
    const where = opts.filter ?? null;
    const cmp = compareBy(opts.sort);
    let items = [];
    let unsub = null;
    let closed = false;
    let gen = 0;
    let attempt = 0;
    let retryTimer = null;
    let status = 'connecting';
    let readyResolve;
    const ready = new Promise((r) => (readyResolve = r));

    const emit = (change) => {
      if (!onChange) return;
      try {
        onChange(items.slice(), change);
      } catch (e) {
        reportError(e);
      }
    };
    const onStatus = (s, d) => {
      status = s;
      if (opts.onStatus) {
        try {
          opts.onStatus(s, d);
        } catch (e) {
          reportError(e);
        }
      }
    };

    const apply = (ev) => {
      if (opts.onEvent) {
        try {
          opts.onEvent(ev);
        } catch (e) {
          reportError(e);
        }
      }
      if (ev.collection !== collectionName) return;
      const i = items.findIndex((d) => d.id === ev.id);
      if (ev.type === 'deleted') {
        if (i >= 0) {
          items.splice(i, 1);
          emit({ type: 'deleted', id: ev.id, event: ev });
        }
        return;
      }
      if (ev.type !== 'created' && ev.type !== 'updated') return;
      const doc = ev.data;
      if (!doc || typeof doc !== 'object') return;
      if (i >= 0 && typeof items[i].version === 'number' && typeof doc.version === 'number' && items[i].version >= doc.version) return;
      if (!docMatches(doc, where)) {
        if (i >= 0) {
          items.splice(i, 1);
          emit({ type: 'deleted', id: ev.id, event: ev });
        }
        return;
      }
      if (i >= 0) items.splice(i, 1);
      let at = items.length;
      if (cmp) {
        at = items.findIndex((d) => cmp(doc, d) < 0);
        if (at < 0) at = items.length;
      } else if (i >= 0) at = i;
      items.splice(at, 0, doc);
      emit({ type: i >= 0 ? 'updated' : 'created', id: ev.id, event: ev });
    };

    const load = async () => {
      const my = ++gen;
      if (unsub) {
        unsub();
        unsub = null;
      }
      if (retryTimer !== null) {
        clock.clearTimeout(retryTimer);
        retryTimer = null;
      }
      let page;
      try {
        page = await col.list({ filter: where ?? undefined, sort: opts.sort, limit: opts.limit });
      } catch (e) {
        if (closed || my !== gen) return;
        const cap = Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor, Math.min(attempt, 64)));
        const delay = Math.floor(random() * cap);
        attempt++;
        onStatus('reconnecting', { delay, attempt, error: e, transport: null });
        retryTimer = clock.setTimeout(() => {
          retryTimer = null;
          if (!closed && my === gen) load();
        }, delay);
        return;
      }
      if (closed || my !== gen) return;
      attempt = 0;
      items = page.items.slice();
      if (cmp) items.sort(cmp);
      emit({ type: 'snapshot' });
      readyResolve?.(items.slice());
      readyResolve = null;
      unsub = subscribe({ collections: [collectionName], since: page.head }, apply, {
        onStatus,
        onReset: () => {
          if (!closed) load();
        },
        onError: opts.onError,
      });
    };

    load();
    const handle = {
      get items() {
        return items.slice();
      },
      get status() {
        return status;
      },
      get transport() {
        return unsub ? unsub.transport : null;
      },
      ready,
      refresh: () => load(),
      close() {
        if (closed) return;
        closed = true;
        queries.delete(handle);
        gen++;
        if (retryTimer !== null) clock.clearTimeout(retryTimer);
        if (unsub) unsub();
        unsub = null;
      },
    };
    queries.add(handle);
    return handle;
  }

  // ---------------------------------------------------------- the client

  const client = {
    baseUrl: base,
    request,
    collection,
    subscribe,
    liveQuery,
    /** GET /api: {collections: [{name, count}], head}. */
    async collections() {
      return (await request('GET', '/api')).body;
    },
    /** GET /healthz: {status, head, epoch}. */
    async health() {
      return (await request('GET', '/healthz')).body;
    },
    /** POST /api/_events: publishes a custom event; resolves to {seq}. */
    async publish(collectionName, type, data = null) {
      return (await request('POST', '/api/_events', { body: { collection: collectionName, type, data } })).body;
    },
    /** One (long-)poll: GET /api/_changes. params: filter fields plus since, wait, limit. */
    async changes(params = {}) {
      const { since, wait, limit, signal, ...rest } = params;
      const f = normalizeFilter(rest);
      const query = { ...filterQuery(f), since, wait, limit };
      return (await request('GET', '/api/_changes', { query, signal })).body;
    },
    /** The backoff delay for retry number `attempt` (0-based), using the client's random source. */
    backoffDelay(attempt) {
      const cap = Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor, Math.min(attempt, 64)));
      return Math.floor(random() * cap);
    },
    /** Closes every subscription and live query of this client. */
    close() {
      for (const q of [...queries]) q.close();
      for (const s of [...subs]) s.close();
    },
  };
  return client;
}

export default createClient;
