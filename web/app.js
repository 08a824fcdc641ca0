// herald dashboard — plain ES module on top of /herald.js; no build step.
//
// Two subscriptions per tab: the live event feed (every collection, from the
// head at page load) and a live query for the selected collection (list,
// then subscribe from the list's head). Both resume from their last seq
// after a drop, so a tab that reconnects misses nothing and doubles nothing.
import { createClient, HeraldError } from '/herald.js';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

const SERVER_FIELDS = ['id', 'version', 'createdAt', 'updatedAt'];
const FEED_MAX = 200;
const COLLECTION_RE = /^[a-z][a-z0-9_-]{0,63}$/;
const TRANSPORT_NAMES = { websocket: 'WebSocket', sse: 'SSE', poll: 'long-poll' };

const client = createClient(location.origin);

// State, also exposed for tests and debugging as window.heraldDashboard.
const state = {
  collection: null,
  query: null,
  items: [],
  counts: new Map(),
  status: 'connecting',
  transport: null,
  statusHistory: [],
  feedSeqs: [],
  head: null,
  editing: null, // {mode: 'create'|'edit', id, version, remoteVersion}
};
window.heraldDashboard = {
  client,
  state,
  get status() {
    return state.status;
  },
  get transport() {
    return state.transport;
  },
};

// ------------------------------------------------------------ helpers

function bodyOf(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc)) if (!SERVER_FIELDS.includes(k)) out[k] = v;
  return out;
}

function preview(doc) {
  const s = Object.entries(bodyOf(doc))
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join(', ');
  return s.length > 140 ? s.slice(0, 139) + '…' : s;
}

// Long generated ids (UUIDv7) share their time prefix; keep both ends visible.
function shortId(id, head = 13, tail = 8) {
  const s = String(id ?? '');
  return s.length > head + tail + 1 ? `${s.slice(0, head)}…${s.slice(-tail)}` : s;
}

function timeOf(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function relTime(ts) {
  const d = new Date(ts).getTime();
  if (Number.isNaN(d)) return '';
  const s = Math.round((Date.now() - d) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ts).toLocaleDateString();
}

function describeError(e) {
  if (e instanceof HeraldError) {
    if (e.status === 0) return `Cannot reach the server (${e.detail || 'network error'}).`;
    return `${e.status} ${e.title}${e.detail ? ': ' + e.detail : ''}`;
  }
  return String(e?.message ?? e);
}

let noticeTimer = null;
function notice(text, kind = 'error', { sticky = false } = {}) {
  const n = $('#notice');
  n.dataset.kind = kind;
  n.querySelector('.notice-text').textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => (n.hidden = true), 8000);
}
$('#notice .notice-close').addEventListener('click', () => ($('#notice').hidden = true));

function setHead(seq) {
  if (typeof seq !== 'number') return;
  if (state.head === null || seq > state.head) state.head = seq;
  $('#head').textContent = String(state.head);
}

// ------------------------------------------------------------ connection indicator

let countdown = null;
function showStatus(status, detail = {}) {
  state.status = status;
  state.transport = status === 'open' ? detail.transport ?? null : null;
  state.statusHistory.push({ status, transport: detail.transport ?? null, delay: detail.delay, at: Date.now() });
  if (state.statusHistory.length > 500) state.statusHistory.splice(0, 100);
  const c = $('#conn');
  c.dataset.status = status;
  c.dataset.transport = state.transport ?? '';
  const label = c.querySelector('.label');
  clearInterval(countdown);
  countdown = null;
  if (status === 'open') {
    label.textContent = `Live · ${TRANSPORT_NAMES[detail.transport] ?? detail.transport}`;
    c.title = 'Connected: changes appear as they happen';
  } else if (status === 'connecting') {
    label.textContent = 'Connecting…';
    c.title = '';
  } else if (status === 'reconnecting') {
    const until = Date.now() + (detail.delay ?? 0);
    const tick = () => {
      const left = Math.max(0, until - Date.now());
      label.textContent = left > 50 ? `Reconnecting in ${(left / 1000).toFixed(1)} s` : 'Reconnecting…';
      if (left <= 50) {
        clearInterval(countdown);
        countdown = null;
      }
    };
    tick();
    countdown = setInterval(tick, 100);
    c.title = detail.error ? `Last error: ${detail.error.message ?? detail.error}` : 'The connection dropped; retrying with backoff';
  } else {
    label.textContent = 'Disconnected';
    c.title = detail.error ? String(detail.error.message ?? detail.error) : '';
  }
}

// ------------------------------------------------------------ collections

let collectionsTimer = null;
function refreshCollectionsSoon(ms = 250) {
  clearTimeout(collectionsTimer);
  collectionsTimer = setTimeout(refreshCollections, ms);
}

async function refreshCollections() {
  let r;
  try {
    r = await client.collections();
  } catch {
    return; // the indicator already says we are disconnected
  }
  setHead(r.head);
  state.counts = new Map((r.collections ?? []).map((c) => [c.name, c.count]));
  renderCollections();
  if (!state.collection && !location.hash && r.collections?.length) selectCollection(r.collections[0].name);
}

function renderCollections() {
  const ul = $('#collections');
  const names = new Set(state.counts.keys());
  if (state.collection) names.add(state.collection);
  const sorted = [...names].sort();
  ul.replaceChildren(
    ...sorted.map((name) => {
      const count = name === state.collection && state.query ? state.items.length : state.counts.get(name) ?? 0;
      return el(
        'li',
        {},
        el(
          'a',
          {
            href: `#${name}`,
            class: name === state.collection ? 'active' : '',
            'data-collection': name,
            'aria-current': name === state.collection ? 'page' : null,
          },
          el('span', { class: 'name', text: name }),
          el('span', { class: 'count', text: String(count) }),
        ),
      );
    }),
  );
  $('#collections-empty').hidden = sorted.length > 0;
}

function selectCollection(name) {
  if (!COLLECTION_RE.test(name)) {
    notice(`"${name}" is not a valid collection name (lowercase letters, digits, _ and -, starting with a letter).`);
    return;
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  if (state.collection === name && state.query) return;
  state.query?.close();
  state.collection = name;
  state.items = [];
  $('#coll-title').textContent = name;
  $('#new-doc').disabled = false;
  $('#docs-empty').textContent = 'Loading…';
  renderDocs();
  renderCollections();
  state.query = client.liveQuery(name, { limit: 1000 }, (items, change) => {
    state.items = items;
    renderDocs(change);
    renderCollections();
    noteEditedDoc(change);
  });
}

window.addEventListener('hashchange', () => {
  const name = decodeURIComponent(location.hash.slice(1));
  if (name) selectCollection(name);
});

$('#open-collection').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = e.target.elements.name;
  const name = input.value.trim();
  if (!name) return;
  selectCollection(name);
  input.value = '';
});

// ------------------------------------------------------------ documents table

function renderDocs(change) {
  const tbody = $('#docs tbody');
  const q = $('#search').value.trim().toLowerCase();
  const rows = state.items.filter((d) => !q || JSON.stringify(d).toLowerCase().includes(q));
  tbody.replaceChildren(
    ...rows.map((d) =>
      el(
        'tr',
        { 'data-id': d.id, 'data-version': d.version },
        el('td', { class: 'c-id mono', title: d.id, text: shortId(d.id) }),
        el('td', { class: 'c-ver num', text: String(d.version ?? '') }),
        el('td', { class: 'c-upd', title: d.updatedAt ?? '', text: relTime(d.updatedAt) }),
        el('td', { class: 'c-data mono', title: JSON.stringify(bodyOf(d), null, 2), text: preview(d) }),
        el(
          'td',
          { class: 'c-act' },
          el('button', { type: 'button', class: 'ghost small', 'data-action': 'edit', onclick: () => openEditor(d.id) }, 'Edit'),
          el('button', { type: 'button', class: 'ghost small danger-text', 'data-action': 'delete', onclick: () => confirmDelete(d.id) }, 'Delete'),
        ),
      ),
    ),
  );
  const count = $('#doc-count');
  if (state.collection && state.query) {
    count.hidden = false;
    count.textContent = `${state.items.length} document${state.items.length === 1 ? '' : 's'}`;
  } else count.hidden = true;
  const empty = $('#docs-empty');
  if (!state.collection) {
    empty.hidden = false;
    empty.textContent = 'Pick a collection on the left, or open a new one by name.';
  } else if (!state.items.length) {
    empty.hidden = false;
    empty.textContent = 'No documents yet. Create the first one with “New document”.';
  } else if (!rows.length) {
    empty.hidden = false;
    empty.textContent = 'No document matches the filter.';
  } else empty.hidden = true;
  if (change && change.id && (change.type === 'created' || change.type === 'updated')) {
    const row = tbody.querySelector(`tr[data-id="${CSS.escape(change.id)}"]`);
    if (row) row.classList.add('flash');
  }
}
$('#search').addEventListener('input', () => renderDocs());
setInterval(() => {
  // keep "n s ago" fresh
  for (const td of document.querySelectorAll('#docs td.c-upd')) td.textContent = relTime(td.title);
}, 15_000);

// ------------------------------------------------------------ editor

const editor = $('#editor');

function openEditor(id) {
  $('#editor-error').hidden = true;
  $('#editor-stale').hidden = true;
  $('#editor-reload').hidden = true;
  $('#editor-overwrite').hidden = true;
  $('#editor-save').disabled = false;
  if (id === undefined) {
    state.editing = { mode: 'create' };
    $('#editor-title').textContent = `New document in ${state.collection}`;
    $('#editor-id-field').hidden = false;
    $('#editor-id').value = '';
    $('#editor-json').value = '{\n  \n}';
  } else {
    const doc = state.items.find((d) => d.id === id);
    if (!doc) return notice('That document is gone (deleted elsewhere).', 'info');
    state.editing = { mode: 'edit', id, version: doc.version };
    $('#editor-title').textContent = `Edit ${id}`;
    $('#editor-id-field').hidden = true;
    $('#editor-json').value = JSON.stringify(bodyOf(doc), null, 2);
  }
  editor.showModal();
  const ta = $('#editor-json');
  ta.focus();
  if (state.editing.mode === 'create') ta.setSelectionRange(4, 4);
}

function closeEditor() {
  state.editing = null;
  editor.close();
}

function editorError(text) {
  const e = $('#editor-error');
  e.textContent = text;
  e.hidden = false;
}

// While an edit is open, say so when someone else changes or deletes the document.
function noteEditedDoc(change) {
  const ed = state.editing;
  if (!ed || ed.mode !== 'edit' || !change || change.id !== ed.id) return;
  const stale = $('#editor-stale');
  if (change.type === 'deleted') {
    stale.textContent = 'This document was just deleted elsewhere. Saving will fail.';
    stale.hidden = false;
  } else if (change.type === 'updated') {
    const doc = state.items.find((d) => d.id === ed.id);
    if (doc && doc.version !== ed.version) {
      stale.textContent = `Changed elsewhere while you edit (now version ${doc.version}; you started from ${ed.version}).`;
      stale.hidden = false;
    }
  }
}

function parseEditor() {
  let body;
  try {
    body = JSON.parse($('#editor-json').value);
  } catch (e) {
    editorError(`Not valid JSON: ${e.message}`);
    return null;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    editorError('A document must be a JSON object, like {"name": "value"}.');
    return null;
  }
  return body;
}

async function saveEditor({ overwrite = false } = {}) {
  const ed = state.editing;
  if (!ed) return;
  $('#editor-error').hidden = true;
  const body = parseEditor();
  if (!body) return;
  const col = client.collection(state.collection);
  $('#editor-save').disabled = true;
  try {
    if (ed.mode === 'create') {
      const id = $('#editor-id').value.trim();
      await col.create(body, id ? { id } : {});
    } else {
      let ifMatch = ed.version;
      if (overwrite) {
        const cur = await col.get(ed.id);
        ifMatch = cur.version;
      }
      await col.replace(ed.id, body, { ifMatch });
    }
    closeEditor();
  } catch (e) {
    if (e instanceof HeraldError && e.status === 412 && ed.mode === 'edit') {
      let now = null;
      try {
        now = await col.get(ed.id);
      } catch {}
      editorError(
        now
          ? `Conflict (412): someone else changed this document after you opened it — it is now version ${now.version}, you edited version ${ed.version}. Load the latest version, or overwrite it with yours.`
          : 'Conflict (412): this document was deleted after you opened it.',
      );
      $('#editor-error').dataset.status = '412';
      $('#editor-reload').hidden = !now;
      $('#editor-overwrite').hidden = !now;
    } else if (e instanceof HeraldError && e.status === 409) {
      editorError(`A document with this id already exists (409). Choose another id or leave it empty.`);
    } else {
      editorError(describeError(e));
    }
  } finally {
    $('#editor-save').disabled = false;
  }
}

$('#editor-form').addEventListener('submit', (e) => {
  e.preventDefault();
  saveEditor();
});
$('#editor-cancel').addEventListener('click', closeEditor);
editor.addEventListener('cancel', () => (state.editing = null));
$('#editor-overwrite').addEventListener('click', () => saveEditor({ overwrite: true }));
$('#editor-reload').addEventListener('click', async () => {
  const ed = state.editing;
  if (!ed) return;
  try {
    const doc = await client.collection(state.collection).get(ed.id);
    ed.version = doc.version;
    $('#editor-json').value = JSON.stringify(bodyOf(doc), null, 2);
    $('#editor-error').hidden = true;
    $('#editor-stale').hidden = true;
    $('#editor-reload').hidden = true;
    $('#editor-overwrite').hidden = true;
  } catch (e) {
    editorError(describeError(e));
  }
});
$('#editor-json').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    saveEditor();
  }
});
$('#new-doc').addEventListener('click', () => openEditor());

// ------------------------------------------------------------ delete

const confirmDlg = $('#confirm');
let pendingDelete = null;

function confirmDelete(id) {
  const doc = state.items.find((d) => d.id === id);
  if (!doc) return;
  pendingDelete = { id, version: doc.version, collection: state.collection };
  $('#confirm-text').textContent = `Delete “${id}” (version ${doc.version}) from ${state.collection}? Every open tab will see it go.`;
  confirmDlg.showModal();
  $('#confirm-ok').focus();
}
$('#confirm-cancel').addEventListener('click', () => {
  pendingDelete = null;
  confirmDlg.close();
});
confirmDlg.querySelector('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const p = pendingDelete;
  pendingDelete = null;
  confirmDlg.close();
  if (!p) return;
  try {
    await client.collection(p.collection).remove(p.id, { ifMatch: p.version });
  } catch (err) {
    if (err instanceof HeraldError && err.status === 412) {
      notice(`Not deleted: “${p.id}” changed after you looked at it (412 conflict). Check the new version and try again.`, 'error', { sticky: true });
    } else if (err instanceof HeraldError && err.status === 404) {
      notice(`“${p.id}” was already deleted.`, 'info');
    } else notice(`Delete failed: ${describeError(err)}`);
  }
});

// ------------------------------------------------------------ live event feed

function addFeed(ev) {
  setHead(ev.seq);
  const feed = $('#feed');
  state.feedSeqs.push(ev.seq);
  if (state.feedSeqs.length > 5000) state.feedSeqs.splice(0, 1000);
  const li = el(
    'li',
    { 'data-seq': ev.seq, 'data-type': ev.type, 'data-id': ev.id ?? '', class: 'new' },
    el('span', { class: 'seq mono', text: `#${ev.seq}` }),
    el('span', { class: `type t-${['created', 'updated', 'deleted'].includes(ev.type) ? ev.type : 'custom'}`, text: ev.type }),
    el(
      'span',
      { class: 'what' },
      el('a', { href: `#${ev.collection}`, class: 'coll', text: ev.collection }),
      ev.id ? el('span', { class: 'id mono', title: ev.id, text: shortId(ev.id, 10, 10) }) : null,
    ),
    el('time', { datetime: ev.ts ?? '', class: 'ts mono', text: timeOf(ev.ts) }),
  );
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  $('#feed-empty').hidden = true;
  $('#feed-count').textContent = `${state.feedSeqs.length}`;
}

function addFeedNote(text) {
  const li = el('li', { class: 'note' }, el('span', { text }));
  $('#feed').prepend(li);
  $('#feed-empty').hidden = true;
}

$('#feed-clear').addEventListener('click', () => {
  $('#feed').replaceChildren();
  $('#feed-count').textContent = '';
  $('#feed-empty').hidden = false;
});

state.feed = client.subscribe(
  {},
  (ev) => {
    addFeed(ev);
    if (ev.type === 'created' || ev.type === 'deleted') refreshCollectionsSoon();
    else if (!state.counts.has(ev.collection)) refreshCollectionsSoon();
  },
  {
    onStatus: (status, detail) => {
      showStatus(status, detail);
      // counts may have moved while we were away (or the server was down at load)
      if (status === 'open') refreshCollectionsSoon(0);
    },
    onReset: (info) => {
      addFeedNote(`Fell behind the server's retained log; resumed at #${info.head ?? '?'} (older events skipped).`);
      refreshCollectionsSoon(0);
    },
    onError: (e) => notice(`Live updates stopped: ${describeError(e)}`, 'error', { sticky: true }),
  },
);

// ------------------------------------------------------------ operations view

let opsTimer = null;
function showView(name) {
  for (const b of document.querySelectorAll('.tabs [data-view]')) b.setAttribute('aria-selected', String(b.dataset.view === name));
  $('#view-documents').hidden = name !== 'documents';
  $('#view-operations').hidden = name !== 'operations';
  clearInterval(opsTimer);
  opsTimer = null;
  if (name === 'operations') {
    refreshOps();
    opsTimer = setInterval(refreshOps, 2000);
  }
}
for (const b of document.querySelectorAll('.tabs [data-view]')) b.addEventListener('click', () => showView(b.dataset.view));

function notAvailable(what, e) {
  if (e instanceof HeraldError && (e.status === 404 || e.status === 405 || e.status === 501)) {
    return el('p', { class: 'muted unavailable', 'data-unavailable': 'true' }, `Not available: this server does not offer ${what} (${e.status}).`);
  }
  return el('p', { class: 'error' }, `Could not load ${what}: ${describeError(e)}`);
}

function table(headers, rows) {
  return el(
    'table',
    { class: 'grid' },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows),
  );
}

function listOf(body, ...keys) {
  if (Array.isArray(body)) return body;
  for (const k of keys) if (Array.isArray(body?.[k])) return body[k];
  return [];
}

async function refreshOps() {
  const connBox = $('#ops-connections');
  try {
    const r = await client.request('GET', '/api/_connections');
    const conns = listOf(r.body, 'connections', 'items');
    setHead(r.body?.head);
    const by = {};
    for (const c of conns) by[c.transport] = (by[c.transport] ?? 0) + 1;
    $('#ops-conn-summary').textContent = conns.length
      ? `· ${conns.length} open (${Object.entries(by).map(([t, n]) => `${TRANSPORT_NAMES[t] ?? t} ${n}`).join(', ')})`
      : '';
    if (!conns.length) connBox.replaceChildren(el('p', { class: 'muted' }, 'No open real-time connections.'));
    else
      connBox.replaceChildren(
        table(
          ['transport', 'peer', 'subscriptions', 'last seq', 'lag', 'queued'],
          conns.map((c) =>
            el(
              'tr',
              { 'data-transport': c.transport },
              el('td', {}, el('span', { class: `badge tr-${c.transport}`, text: TRANSPORT_NAMES[c.transport] ?? c.transport })),
              el('td', { class: 'mono', text: c.peer ?? c.remote ?? '' }),
              el('td', { class: 'num', text: String(c.subscriptions ?? '') }),
              el('td', { class: 'num mono', text: String(c.lastSeq ?? '') }),
              el('td', { class: `num ${c.lag > 0 ? 'lagging' : ''}`, text: String(c.lag ?? '') }),
              el('td', { class: 'num', text: c.queued !== undefined ? `${c.queued} B` : '' }),
            ),
          ),
        ),
      );
  } catch (e) {
    $('#ops-conn-summary').textContent = '';
    connBox.replaceChildren(notAvailable('a list of connections (GET /api/_connections)', e));
  }

  const hookBox = $('#ops-webhooks');
  try {
    const r = await client.request('GET', '/api/_webhooks');
    const hooks = listOf(r.body, 'webhooks', 'items');
    if (!hooks.length) {
      hookBox.replaceChildren(el('p', { class: 'muted' }, 'No webhooks registered. POST /api/_webhooks with {"url": …} to add one.'));
    } else {
      const cards = await Promise.all(hooks.map(renderWebhook));
      hookBox.replaceChildren(...cards);
    }
  } catch (e) {
    hookBox.replaceChildren(notAvailable('webhooks (GET /api/_webhooks)', e));
  }
  $('#ops-updated').textContent = `updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
}

async function renderWebhook(h) {
  let attempts = [];
  let attemptsNote = null;
  try {
    const r = await client.request('GET', `/api/_webhooks/${encodeURIComponent(h.id)}/deliveries`, { query: { limit: 5 } });
    attempts = listOf(r.body, 'items', 'deliveries', 'attempts').slice(0, 5);
  } catch (e) {
    attemptsNote = describeError(e);
  }
  const status = h.status ?? (h.enabled === false ? 'disabled' : 'active');
  const badge = { active: 'ok', failing: 'bad', disabled: 'off' }[status] ?? '';
  const filt = [
    h.collections?.length ? h.collections.join(', ') : 'all collections',
    h.types?.length ? h.types.join(', ') : null,
    h.documentId ? `id ${h.documentId}` : null,
    h.payload === 'minimal' ? 'minimal payload' : null,
  ]
    .filter(Boolean)
    .join(' · ');
  const lag = typeof h.cursor === 'number' && state.head !== null ? Math.max(0, state.head - h.cursor) : null;
  return el(
    'div',
    { class: 'hook', 'data-webhook': h.id },
    el(
      'div',
      { class: 'hook-head' },
      el('span', { class: `badge ${badge}`, text: status }),
      el('span', { class: 'mono url', text: h.url ?? '' }),
      el('span', { class: 'muted small', text: filt }),
      el('div', { class: 'spacer' }),
      typeof h.cursor === 'number'
        ? el('span', { class: `small ${lag ? 'lagging' : 'muted'}`, text: `cursor #${h.cursor}${lag !== null ? ` · lag ${lag}` : ''}` })
        : null,
    ),
    h.disabledReason ? el('p', { class: 'small error' }, `Disabled: ${h.disabledReason}`) : null,
    attemptsNote
      ? el('p', { class: 'muted small' }, `Recent attempts unavailable: ${attemptsNote}`)
      : attempts.length
        ? table(
            ['when', 'event', 'attempt', 'result', 'took'],
            attempts.map((a) => {
              const code = a.status ?? a.code ?? null;
              const ok = a.result === 'delivered' || a.ok === true || (typeof code === 'number' && code >= 200 && code < 300);
              const label = [a.result, code].filter((x) => x !== null && x !== undefined && x !== '').join(' ') || (ok ? 'ok' : '—');
              return el(
                'tr',
                { 'data-result': a.result ?? '' },
                el('td', { class: 'mono', title: a.at ?? '', text: timeOf(a.at ?? a.ts) }),
                el('td', { class: 'mono', text: a.seq !== undefined ? `#${a.seq}` : '' }),
                el('td', { class: 'num', text: String(a.attempt ?? '') }),
                el(
                  'td',
                  { class: 'hook-result', title: a.error ?? '' },
                  el('span', { class: `badge ${ok ? 'ok' : a.result === 'reset' ? '' : 'bad'}`, text: label }),
                  a.error ? el('span', { class: 'muted small', text: ` ${a.error}` }) : null,
                ),
                el('td', { class: 'num', text: typeof (a.durationMs ?? a.ms) === 'number' ? `${a.durationMs ?? a.ms} ms` : '' }),
              );
            }),
          )
        : el('p', { class: 'muted small' }, 'No delivery attempts yet.'),
  );
}

// ------------------------------------------------------------ start

renderDocs();
refreshCollections();
const initial = decodeURIComponent(location.hash.slice(1));
if (initial) selectCollection(initial);
