// CPU per remote get, both sides together: two geecache peers in this process (each an http.Server
// with Express, the middleware and its fast path, signed with a secret) on loopback; peer A's ring
// sends every key to B and its hot cache is off, so every get is a peer request answered by B.
// Half the keys are new (B runs its getter, A and B an HMAC each), half repeat 50 hot keys.
//   node bench/transport/remote-get-cpu.mjs [gets=20000] [concurrency=1] [root=.]
// concurrency 1: each get is a plain GET; more: gets of one turn travel as one batch request.
// TRANSPORT=undici for the other peer client. `root` is a checkout whose dist/ to measure (an older
// build, for before/after runs alternated on a shared machine). Prints one JSON line: µs of CPU
// (user + system) per get, and the wall time.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const gets = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 1);
const root = path.resolve(process.argv[4] ?? '.');
const requireFrom = createRequire(path.join(root, 'package.json'));
const express = requireFrom('express');
/** @type {typeof import('geecache')} */
const { geecache } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);

/** @param {http.Server} server */
const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port)));
const servers = [http.createServer(), http.createServer()];
const [a, b] = (await Promise.all(servers.map(listen))).map((port) => `http://127.0.0.1:${port}`);
const value = Buffer.alloc(100, 'v');
/** @type {import('geecache').Ring} */
const ring = { add() {}, remove() {}, get: () => b, peers: () => [a, b] };
const transport = process.env.TRANSPORT === 'undici' ? 'undici' : undefined;
const caches = [a, b].map((self) =>
  geecache({
    self,
    peers: [a, b],
    secret: 'a-long-bench-secret-1234567890',
    logger: false,
    ring: () => ring,
    transport,
    groups: { scores: { maxBytes: 64 << 20, hotCacheFraction: 0, getter: () => value } },
  }),
);
for (const [i, server] of servers.entries()) {
  const app = express();
  app.use(caches[i]);
  server.on('request', app);
  caches[i].attach(server);
}
const group = caches[0].group('scores');
for (let i = 0; i < 500; i++) await group.get(`warm${i}`);

const cpu = process.cpuUsage();
const start = performance.now();
let next = 0;
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < gets) {
      const n = next++;
      await group.get(n % 2 ? `hot${n % 50}` : `key${n}`);
    }
  }),
);
const used = process.cpuUsage(cpu);
const wallMs = performance.now() - start;
console.log(
  JSON.stringify({
    gets,
    concurrency,
    transport: transport ?? 'node-fetch',
    usCpuPerGet: Math.round((used.user + used.system) / gets),
    wallMs: Math.round(wallMs),
  }),
);
for (const cache of caches) await cache.close();
for (const server of servers) {
  server.closeAllConnections();
  server.close();
}
