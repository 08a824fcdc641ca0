// Summarizes bench/results/{run,rest}.jsonl as Markdown: the median of the
// repetitions per workload and server, and herald/peer ratios.
// usage: node report.cjs <results dir>
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2] || path.join(__dirname, 'results');
const lines = (f) => fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const runs = lines(path.join(dir, 'run.jsonl'));
const rest = lines(path.join(dir, 'rest.jsonl'));
const median = (a) => { const s = a.filter((x) => x !== undefined && !Number.isNaN(x)).sort((x, y) => x - y); if (!s.length) return NaN; const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (v, d = 0) => Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–';
const ms = (us) => Number.isFinite(us) ? (us >= 100000 ? fmt(us / 1000, 0) : fmt(us / 1000, 2)) + ' ms' : '–';
const servers = ['herald', 'nchan', 'uws'];
const names = { herald: 'herald', nchan: 'nginx + nchan', uws: 'uWebSockets.js' };
const out = [];

if (rest.length) {
  out.push('### REST (herald, wrk -t2)', '', '| benchmark | connections | req/s | p50 | p99 | errors |', '|---|---:|---:|---:|---:|---|');
  for (const r of rest) {
    if (r.bench === 'longpoll_wakeup') continue;
    out.push(`| ${r.bench} | ${r.conns} | ${fmt(r.req_per_s)} | ${r.p50} | ${r.p99} | ${r.errors} |`);
  }
  const lp = rest.find((r) => r.bench === 'longpoll_wakeup');
  if (lp) {
    const x = lp.result;
    out.push('', `Long-poll wake-up (${x.wakeups} wake-ups, ${x.errors} errors): from the POST's 201 to the answer p50 ${ms(x.from_201_p50_us)}, p99 ${ms(x.from_201_p99_us)}, max ${ms(x.from_201_max_us)}; from sending the POST p50 ${ms(x.from_send_p50_us)}, p99 ${ms(x.from_send_p99_us)}.`);
  }
  out.push('');
}

function table(wl, title, cols) {
  const rs = runs.filter((r) => r.workload === wl);
  if (!rs.length) return;
  const present = servers.filter((s) => rs.some((r) => r.server === s));
  const med = {};
  for (const s of present) {
    med[s] = {};
    for (const c of cols) med[s][c.key] = median(rs.filter((r) => r.server === s).map(c.get));
  }
  const reps = Math.max(...present.map((s) => rs.filter((r) => r.server === s).length));
  out.push(`### ${title}`, '', `Median of ${reps} runs.`, '');
  out.push('| | ' + present.map((s) => names[s]).join(' | ') + ' | ' + present.filter((s) => s !== 'herald').map((s) => `herald / ${names[s]}`).join(' | ') + ' |');
  out.push('|---|' + present.map(() => '---:').join('|') + '|' + present.filter((s) => s !== 'herald').map(() => '---:').join('|') + '|');
  for (const c of cols) {
    const cells = present.map((s) => c.show(med[s][c.key]));
    const ratios = present.filter((s) => s !== 'herald').map((s) => {
      const h = med.herald ? med.herald[c.key] : NaN, p = med[s][c.key];
      return c.ratio === false || !Number.isFinite(h) || !Number.isFinite(p) || p === 0 ? '' : fmt(h / p, 2) + '×';
    });
    out.push(`| ${c.label} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  out.push('');
}

const fanCols = [
  { key: 'dps', label: 'deliveries/s', get: (r) => r.sub.deliveries_per_s, show: (v) => fmt(v) },
  { key: 'deliv', label: 'deliveries (of expected)', get: (r) => r.sub.deliveries, show: (v) => fmt(v), ratio: false },
  { key: 'p50', label: 'latency p50', get: (r) => r.sub.p50_us, show: ms },
  { key: 'p99', label: 'latency p99', get: (r) => r.sub.p99_us, show: ms },
  { key: 'max', label: 'latency max', get: (r) => r.sub.max_us, show: ms },
  { key: 'ready', label: 'connections established', get: (r) => r.sub.ready, show: (v) => fmt(v), ratio: false },
  { key: 'err', label: 'errors (connect/closed)', get: (r) => r.sub.errors, show: (v) => fmt(v), ratio: false },
  { key: 'prps', label: 'publish req/s', get: (r) => r.pub.req_per_s, show: (v) => fmt(v) },
  { key: 'cpu', label: 'server CPU s (during publish + delivery)', get: (r) => r.server_cpu_s, show: (v) => fmt(v, 1) },
  { key: 'cpm', label: 'server CPU µs per delivery', get: (r) => r.sub.deliveries ? r.server_cpu_s * 1e6 / r.sub.deliveries : NaN, show: (v) => fmt(v, 2) },
];
table('a', 'a) 10,000 WebSocket subscribers, 20 events/s for 10 s', fanCols);
table('b', 'b) 15,000 idle subscribed WebSocket connections', [
  { key: 'ready', label: 'connections established', get: (r) => r.sub.ready, show: (v) => fmt(v), ratio: false },
  { key: 'before', label: 'server RSS before (KiB)', get: (r) => r.rss_before_kib, show: (v) => fmt(v), ratio: false },
  { key: 'after', label: 'server RSS with the connections (KiB)', get: (r) => r.rss_after_kib, show: (v) => fmt(v), ratio: false },
  { key: 'per', label: 'bytes per connection', get: (r) => r.bytes_per_conn, show: (v) => fmt(v) },
]);
table('c', 'c) burst of 20,000 events to 1,000 WebSocket subscribers', fanCols);
table('c-sse', 'c, SSE) burst of 20,000 events to 1,000 SSE subscribers', fanCols);
process.stdout.write(out.join('\n') + '\n');
