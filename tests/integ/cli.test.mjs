// Command line: --help, --version, bad flags, the startup line, environment variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { T, runHerald, startHerald, req, expectStatus, tmpDir, health } from './lib/harness.mjs';

test('--help exits 0 and prints usage naming the flags', T, async () => {
  const r = await runHerald(['--help']);
  assert.equal(r.code, 0, `exit code; stderr=${r.stderr}`);
  assert.match(r.stdout, /usage/i, `stdout: ${r.stdout}`);
  for (const flag of ['--listen', '--db', '--threads', '--retain-events', '--max-body', '--log-level']) {
    assert.ok(r.stdout.includes(flag), `--help does not mention ${flag}:\n${r.stdout}`);
  }
});

test('--version prints "herald <version>" and exits 0', T, async () => {
  const r = await runHerald(['--version']);
  assert.equal(r.code, 0, `exit code; stderr=${r.stderr}`);
  assert.match(r.stdout.trim(), /^herald \d+\.\d+\.\d+\S*$/, `stdout: ${JSON.stringify(r.stdout)}`);
});

for (const args of [['--threads', 'abc'], ['--nope'], ['--threads'], ['--max-body', 'lots'], ['--listen', 'nowhere']]) {
  test(`bad flag "${args.join(' ')}" exits 2 with a one-line error on stderr`, T, async () => {
    const dir = tmpDir();
    const r = await runHerald(['--db', path.join(dir, 'h.db'), ...args]);
    assert.equal(r.code, 2, `exit code for ${args.join(' ')}: stdout=${r.stdout} stderr=${r.stderr}`);
    const err = r.stderr.trim();
    assert.ok(err.length > 0, 'stderr is empty');
    assert.equal(err.split('\n').length, 1, `error should be one line: ${JSON.stringify(r.stderr)}`);
    assert.ok(!/listening on/.test(r.stdout), 'must not start serving');
  });
}

test('startup line has the documented shape and agrees with /healthz', T, async (t) => {
  const s = await startHerald({ t, args: ['--threads', '3'] });
  const m = /^herald listening on (http:\/\/127\.0\.0\.1:(\d+)) db=(\S+) epoch=([0-9a-f]+) threads=(\d+)$/.exec(s.startLine);
  assert.ok(m, `startup line: ${JSON.stringify(s.startLine)}`);
  assert.ok(Number(m[2]) > 0, 'an ephemeral port was chosen');
  assert.equal(path.resolve(m[3]), path.resolve(s.dbPath), 'db= names the database file');
  assert.equal(m[5], '3', 'threads= reflects --threads');
  const h = await health(s);
  assert.equal(h.status, 'ok');
  assert.equal(h.epoch, m[4], 'epoch in the startup line equals /healthz epoch');
});

test('HERALD_LISTEN is honoured when --listen is not given', T, async (t) => {
  const s = await startHerald({ t, listen: false, env: { HERALD_LISTEN: '127.0.0.1:0' } });
  assert.ok(s.port > 0 && s.port !== 8080, `listened on ${s.url}`);
  expectStatus(await req(`${s.url}/healthz`), 200);
});

test('HERALD_DB is honoured when --db is not given', T, async (t) => {
  const dir = tmpDir();
  const dbPath = path.join(dir, 'env-only.db');
  const s = await startHerald({ t, dbFlag: false, dbDir: dir, env: { HERALD_DB: dbPath } });
  assert.ok(s.startLine.includes(`db=${dbPath}`), `startup line should name ${dbPath}: ${s.startLine}`);
  expectStatus(await req(`${s.url}/healthz`), 200);
});

test('a flag wins over its environment variable', T, async (t) => {
  const dir = tmpDir();
  const s = await startHerald({ t, env: { HERALD_DB: path.join(dir, 'env.db'), HERALD_THREADS: '1' }, args: ['--threads', '2'] });
  assert.ok(s.startLine.includes(`db=${s.dbPath}`), `--db should win over HERALD_DB: ${s.startLine}`);
  assert.match(s.startLine, /threads=2\b/, `--threads should win over HERALD_THREADS: ${s.startLine}`);
});

test('a second herald on the same port exits 1 before touching any database', T, async (t) => {
  const s = await startHerald({ t });
  const dir = tmpDir();
  const r = await runHerald(['--listen', `127.0.0.1:${s.port}`, '--db', path.join(dir, 'other.db')]);
  assert.equal(r.code, 1, `exit code: stdout=${r.stdout} stderr=${r.stderr}`);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: address already in use/);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${JSON.stringify(r.stderr)}`);
  assert.ok(!/listening on/.test(r.stdout), 'must not start serving');
  // The first server still answers every request (no one joined its port).
  for (let i = 0; i < 20; i++) expectStatus(await req(`${s.url}/healthz`), 200);
});

test('a second herald on the same database exits 1 and leaves it intact', T, async (t) => {
  const s = await startHerald({ t });
  expectStatus(await req(`${s.url}/api/a`, { method: 'POST', body: { x: 1 } }), 201);
  const r = await runHerald(['--listen', '127.0.0.1:0', '--db', s.dbPath]);
  assert.equal(r.code, 1, `exit code: stdout=${r.stdout} stderr=${r.stderr}`);
  assert.match(r.stderr, /in use by another herald process/);
  assert.ok(!/listening on/.test(r.stdout), 'must not start serving');
  const h = await health(s);
  assert.equal(h.head, 1);
});
