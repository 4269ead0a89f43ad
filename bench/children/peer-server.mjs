// A geecache peer for the peer-serve, end-to-end and stampede rows: an Express 5 app with app.use(geecache(...)), group "scores"
// whose getter returns valueFor(key) after getterDelayMs and counts its calls.
//   GET /ping          -> "ok" (a first non-peer request attaches the fast path)
//   GET /get?key=k     -> await req.cache.get(k), the value's bytes
//   GET /rawfetch?key= -> the value fetched straight from the owner's peer route with node-fetch
//                         (no group, no cache): what the network hop alone costs
//   GET /rawhttp?key=  -> the same with node:http's client instead of node-fetch
// IPC: cpu, loads, stats.
import http from 'node:http';
import express from 'express';
import { geecache } from 'geecache';
import fetch from 'node-fetch';
import { RequestSigner } from '../../dist/auth.js';
import { AUTH_HEADER, decodeGetResponse, encodeSegment } from '../../dist/wire.js';
import { config, cpuSample, ready, serve, valueFor } from './ipc.mjs';

const loads = new Map();
let loaderCalls = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cache = geecache({
  self: config.self,
  peers: config.peers ?? [config.self],
  secret: config.secret,
  fastPath: config.fastPath ?? true,
  ...(config.batch === undefined ? {} : { batch: config.batch }),
  groups: {
    scores: {
      maxBytes: config.maxBytes ?? 64 << 20,
      hotCacheFraction: config.hotCacheFraction,
      getter: async (key) => {
        loaderCalls++;
        loads.set(key, (loads.get(key) ?? 0) + 1);
        if (config.getterDelayMs) await sleep(config.getterDelayMs);
        return valueFor(key, config.valueBytes);
      },
    },
  },
});

const signer = config.secret ? new RequestSigner(config.secret) : undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 32 });

const app = express();
app.use(cache);
app.get('/ping', (_req, res) => {
  res.send('ok');
});
app.get('/get', async (req, res) => {
  try {
    const value = await req.cache.get(String(req.query.key));
    res.type('application/octet-stream').send(value.byteSlice());
  } catch (err) {
    res.status(500).send(`error: ${err instanceof Error ? err.message : err}`);
  }
});
app.get('/rawfetch', async (req, res) => {
  try {
    const key = String(req.query.key);
    const owner = cache.pool.ownerOf(key);
    const path = `/_geecache/scores/${encodeSegment(key)}`;
    const headers = { 'x-geecache-peer': '1' };
    if (signer) headers[AUTH_HEADER] = signer.sign('GET', path);
    const r = await fetch(owner + path, { headers, agent });
    if (r.status !== 200) throw new Error(`owner answered ${r.status}`);
    const value = decodeGetResponse(Buffer.from(await r.arrayBuffer()));
    res.type('application/octet-stream').send(Buffer.from(value));
  } catch (err) {
    res.status(500).send(`error: ${err instanceof Error ? err.message : err}`);
  }
});

let server;
// The same hop with node's own http client: how much of the hop is node-fetch.
const rawGet = (url, headers) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent }, (r) => {
        const chunks = [];
        r.on('data', (c) => chunks.push(c));
        r.on('end', () => (r.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`owner answered ${r.statusCode}`))));
        r.on('error', reject);
      })
      .on('error', reject);
  });
app.get('/rawhttp', async (req, res) => {
  try {
    const key = String(req.query.key);
    const path = `/_geecache/scores/${encodeSegment(key)}`;
    const headers = { 'x-geecache-peer': '1' };
    if (signer) headers[AUTH_HEADER] = signer.sign('GET', path);
    const value = decodeGetResponse(await rawGet(cache.pool.ownerOf(key) + path, headers));
    res.type('application/octet-stream').send(Buffer.from(value));
  } catch (err) {
    res.status(500).send(`error: ${err instanceof Error ? err.message : err}`);
  }
});

// Peer HTTP requests received, counted by a listener put ahead of the fast path on first use
// (after the fast path attached, or attach would hide peer requests from it).
let peerHttp = 0;
let counting = false;
const countPeerHttp = () => {
  if (!counting) {
    counting = true;
    server.prependListener('request', (req) => {
      if (req.url.startsWith('/_geecache/')) peerHttp++;
    });
  }
  return { peerHttp, served: cache.group('scores').stats.serverRequests };
};

serve({
  cpu: () => cpuSample(),
  peerHttp: () => countPeerHttp(),
  // True once the peer route runs ahead of Express (the app is no longer the 'request' listener).
  fastPath: () => server.listeners('request').length === 1 && server.listeners('request')[0] !== app,
  loads: ({ key }) => ({ total: loaderCalls, key: key === undefined ? undefined : (loads.get(key) ?? 0) }),
  stats: () => ({ stats: cache.group('scores').stats, cache: cache.group('scores').cacheStats() }),
});

const port = Number(new URL(config.self).port);
server = app.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => ready({ port: server.address().port }));
server.keepAliveTimeout = 60_000;
