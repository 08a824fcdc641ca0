// Long-poll wake-up latency for herald (benchmark tool, not a test).
// usage: node longpoll.cjs <port> [pollers=10] [rounds=20]
// Each round: read the head, park <pollers> requests on
// GET /api/_changes?wait=30&since=<head>, wait until they are parked, POST
// one document, and record for every poller the time from the POST's 201
// (and from the POST being sent) to its answer. Prints one JSON line.
'use strict';
const http = require('node:http');
const port = Number(process.argv[2]);
const pollers = Number(process.argv[3] || 10);
const rounds = Number(process.argv[4] || 20);
const agent = new http.Agent({ keepAlive: true, maxSockets: pollers + 4 });

function req(method, path, body) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, agent,
      headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), at: process.hrtime.bigint() }));
    });
    r.setTimeout(35000, () => r.destroy(new Error('timeout')));
    r.on('error', reject);
    if (body) r.write(body);
    r.end();
  });
}

const pct = (a, p) => a[Math.min(a.length - 1, Math.floor(p * a.length))];

(async () => {
  const fromAck = [], fromSend = [];
  let errors = 0;
  const deadline = Date.now() + 120000;
  for (let i = 0; i < rounds && Date.now() < deadline; i++) {
    const head = JSON.parse((await req('GET', '/healthz')).body).head;
    const waits = [];
    for (let k = 0; k < pollers; k++) waits.push(req('GET', `/api/bench/_changes?wait=30&since=${head}`));
    await new Promise((r) => setTimeout(r, 30)); // let them park
    const sent = process.hrtime.bigint();
    const post = await req('POST', '/api/bench', JSON.stringify({ round: i, t: Date.now() }));
    if (post.status !== 201) errors++;
    for (const w of await Promise.all(waits)) {
      if (w.status !== 200 || JSON.parse(w.body).events.length === 0) { errors++; continue; }
      fromAck.push(Number(w.at - post.at) / 1000);
      fromSend.push(Number(w.at - sent) / 1000);
    }
  }
  fromAck.sort((a, b) => a - b);
  fromSend.sort((a, b) => a - b);
  console.log(JSON.stringify({
    wakeups: fromAck.length, errors,
    from_201_p50_us: Math.round(pct(fromAck, 0.5)), from_201_p99_us: Math.round(pct(fromAck, 0.99)),
    from_201_max_us: Math.round(fromAck[fromAck.length - 1]),
    from_send_p50_us: Math.round(pct(fromSend, 0.5)), from_send_p99_us: Math.round(pct(fromSend, 0.99)),
  }));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
