// One peer of the demo cluster: an Express app on its own port that is also a geecache peer.
// With --api it also runs the public API front end (GeeCache's main.go -api=1).
//   node examples/demo/peer.mjs <port> <peer,peer,...> [apiPort]
import express from 'express';
import { geecache, NotFoundError } from 'geecache';

const [port, peerList, apiPort] = process.argv.slice(2);
const self = `http://127.0.0.1:${port}`;

// The slow "database" of the seed. A name it does not have is a NotFoundError: every peer's get
// then rejects with it (status 404), whichever peer ran the getter.
const db = new Map([
  ['Tom', '630'],
  ['Jack', '589'],
  ['Sam', '567'],
]);
async function slowDbGet(key) {
  console.log(`[SlowDB] search key ${key}`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (!db.has(key)) throw new NotFoundError(`${key} not found in the database`);
  return db.get(key);
}

const cache = geecache({
  self,
  peers: peerList.split(','),
  secret: process.env.GEECACHE_SECRET ?? 'demo-secret-change-me-in-production',
  groups: { scores: { maxBytes: 2 << 10, getter: slowDbGet } },
});

const app = express();
app.use(cache);
// The dashboard. The demo listens on 127.0.0.1 only; a real app mounts it behind its own auth
// (see docs/operations.md): it shows every peer's address and figures.
app.use('/geecache', cache.dashboard());
app.get('/', (_req, res) => res.send(`geecache peer ${self}\n`));
app.listen(Number(port), '127.0.0.1', () => console.log(`geecache is running at ${self}`));

if (apiPort) {
  const api = express();
  api.get('/api', async (req, res) => {
    try {
      res.type('application/octet-stream').send((await cache.get(String(req.query.key ?? ''))).byteSlice());
    } catch (err) {
      // A getter's error keeps its status on every peer: 404 for a NotFoundError.
      res.status(err.status ?? 500).send(err.message);
    }
  });
  api.listen(Number(apiPort), '127.0.0.1', () => console.log(`frontend server is running at http://127.0.0.1:${apiPort}`));
}
