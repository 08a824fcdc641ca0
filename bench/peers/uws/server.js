// uWebSockets.js peer for herald's benchmarks: WebSocket subscribers on
// /ws (each subscribed to topic "bench" on open) and POST /publish, which
// publishes the request body as one text message to the topic.
// usage: node server.js <port>   (prints "listening <port>" when ready)
'use strict';
const uWS = require('@trufflesuite/uws-js-unofficial');
const port = Number(process.argv[2] || 9002);
const TOPIC = 'bench';

const app = uWS.App();
app.ws('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 0,
  open: (ws) => { ws.subscribe(TOPIC); },
  message: () => {},
});
app.post('/publish', (res) => {
  const chunks = [];
  res.onAborted(() => { res.aborted = true; });
  res.onData((ab, isLast) => {
    chunks.push(Buffer.from(ab.slice(0)));
    if (!isLast) return;
    const body = Buffer.concat(chunks);
    app.publish(TOPIC, body, false);
    if (!res.aborted) res.writeStatus('202 Accepted').end('{"ok":true}');
  });
});
app.get('/healthz', (res) => { res.end('ok'); });
app.listen('127.0.0.1', port, (tok) => {
  if (!tok) { console.error('uws: cannot listen on ' + port); process.exit(1); }
  console.log('listening ' + port);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
