/**
 * A worker thread of bench/subscriptions.ts (plain JavaScript: worker threads load it without tsx): opens `connections` graphql-ws connections to the
 * service, one `storagesChanged(namespace)` subscription each, and records for every MODIFIED
 * event its resourceVersion and arrival time (epoch ms, `performance.timeOrigin + now()`, the
 * same clock as the main thread's raw watch). Messages are read with a light parse (the fields
 * are located in the text) so the client's own CPU distorts the figures as little as it can.
 */
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const { url, connections, namespace } = workerData;
const query = `subscription S($ns: String) { storagesChanged(namespace: $ns) { type resourceVersion storage { name namespace phase lastSyncTime mountedBy } } }`;
let cap = 1 << 20;
let rvs = new Float64Array(cap);
let at = new Float64Array(cap);
let n = 0;
let added = 0;
let errors = 0;
const sockets = [];
const now = () => performance.timeOrigin + performance.now();

function record(rv, t) {
  if (n === cap) {
    cap *= 2;
    const r2 = new Float64Array(cap);
    r2.set(rvs);
    rvs = r2;
    const a2 = new Float64Array(cap);
    a2.set(at);
    at = a2;
  }
  rvs[n] = rv;
  at[n++] = t;
}

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
    sockets.push(ws);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    ws.on('message', (buf) => {
      const t = now();
      const s = buf.toString();
      if (s.startsWith('{"type":"connection_ack"') || s.includes('"type":"connection_ack"')) {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables: { ns: namespace } } }));
        resolve();
        return;
      }
      const ti = s.indexOf('"type":"', s.indexOf('storagesChanged'));
      if (ti < 0) {
        if (s.includes('"type":"error"') || s.includes('"errors"')) errors++;
        return;
      }
      const type = s.slice(ti + 8, s.indexOf('"', ti + 8));
      if (type === 'ADDED') {
        added++;
        return;
      }
      const ri = s.indexOf('"resourceVersion":"', ti);
      if (ri < 0 || type !== 'MODIFIED') return;
      record(Number(s.slice(ri + 19, s.indexOf('"', ri + 19))), t);
    });
    ws.on('error', (e) => {
      errors++;
      reject(e);
    });
  });
}

parentPort.on('message', async (m) => {
  if (m.cmd === 'open') {
    for (let i = 0; i < connections; i += 50) await Promise.all(Array.from({ length: Math.min(50, connections - i) }, open));
    parentPort.postMessage({ opened: sockets.length });
  } else if (m.cmd === 'added') {
    parentPort.postMessage({ added, errors });
  } else if (m.cmd === 'reset') {
    n = 0;
    parentPort.postMessage({ reset: true });
  } else if (m.cmd === 'stop') {
    for (const ws of sockets) ws.close();
    const r = rvs.slice(0, n);
    const a = at.slice(0, n);
    const cpu = process.threadCpuUsage();
    parentPort.postMessage({ rvs: r, at: a, added, errors, cpuSeconds: (cpu.user + cpu.system) / 1e6 }, [r.buffer, a.buffer]);
  }
});
