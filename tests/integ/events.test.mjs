// POST /api/_events: custom events published into the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T, startHerald, req, expectStatus, expectProblem, head, create, RFC3339_MS } from './lib/harness.mjs';

test('POST /api/_events → 202 {seq}; the event appears in _changes with its type and data', T, async (t) => {
  const s = await startHerald({ t });
  await create(s, 'chat', { text: 'hi' });
  const r = await req(`${s.url}/api/_events`, {
    method: 'POST',
    body: { collection: 'chat', type: 'typing', data: { user: 'ann', n: [1, 2] } },
  });
  expectStatus(r, 202, 'publish');
  assert.deepEqual(Object.keys(r.json), ['seq']);
  assert.equal(r.json.seq, 2);
  assert.equal(await head(s), 2, 'head advanced to the event');
  const c = await req(`${s.url}/api/_changes?since=1`);
  expectStatus(c, 200);
  assert.equal(c.json.events.length, 1, JSON.stringify(c.json));
  const e = c.json.events[0];
  assert.equal(e.seq, 2);
  assert.equal(e.collection, 'chat');
  assert.equal(e.type, 'typing');
  assert.deepEqual(e.data, { user: 'ann', n: [1, 2] });
  assert.match(e.ts, RFC3339_MS);
  // filters apply to custom types too
  const byType = await req(`${s.url}/api/_changes?since=0&types=typing`);
  assert.deepEqual(byType.json.events.map((x) => x.seq), [2]);
  const byColl = await req(`${s.url}/api/chat/_changes?since=0`);
  assert.deepEqual(byColl.json.events.map((x) => x.type), ['created', 'typing']);
  // a custom event does not create a document
  const list = await req(`${s.url}/api/chat`);
  assert.equal(list.json.items.length, 1);
});

test('POST /api/_events to a never-written collection is fine and creates no document', T, async (t) => {
  const s = await startHerald({ t });
  const r = await req(`${s.url}/api/_events`, { method: 'POST', body: { collection: 'signals', type: 'ping', data: null } });
  expectStatus(r, 202);
  assert.equal(r.json.seq, 1);
  const list = await req(`${s.url}/api/signals`);
  expectStatus(list, 200);
  assert.deepEqual(list.json.items, []);
});

test('POST /api/_events rejects CRUD types, unknown fields and bad values with 400', T, async (t) => {
  const s = await startHerald({ t });
  const bad = [
    ['type created', { collection: 'c', type: 'created', data: {} }],
    ['type updated', { collection: 'c', type: 'updated', data: {} }],
    ['type deleted', { collection: 'c', type: 'deleted', data: {} }],
    ['unknown field', { collection: 'c', type: 'x', data: {}, extra: 1 }],
    ['missing type', { collection: 'c', data: {} }],
    ['missing collection', { type: 'x', data: {} }],
    ['empty type', { collection: 'c', type: '', data: {} }],
    ['type not a string', { collection: 'c', type: 5, data: {} }],
    ['bad collection name', { collection: 'Bad!', type: 'x', data: {} }],
    ['reserved collection name', { collection: '_ws', type: 'x', data: {} }],
    ['not an object', [1, 2]],
  ];
  for (const [what, body] of bad) {
    expectProblem(await req(`${s.url}/api/_events`, { method: 'POST', body }), 400, what);
  }
  assert.equal(await head(s), 0, 'nothing was published');
});
