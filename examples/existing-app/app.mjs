// An existing Express app, before and after geecache: the adoption is the app.use() line (and
// the options it takes). Run several copies behind a load balancer, each with its own SELF:
//   SELF=http://127.0.0.1:3001 PORT=3001 PEERS=http://127.0.0.1:3001,http://127.0.0.1:3002 \
//   GEECACHE_SECRET=$(openssl rand -hex 32) node examples/existing-app/app.mjs
import express from 'express';
import { geecache } from 'geecache';

const port = Number(process.env.PORT ?? 3000);
const self = process.env.SELF ?? `http://127.0.0.1:${port}`;

// Stands in for the app's database call.
async function lookupScore(name, { signal }) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  signal.throwIfAborted();
  return String(name.length * 100);
}

const app = express();
app.use(
  geecache({
    self,
    peers: process.env.PEERS?.split(',') ?? [self],
    secret: process.env.GEECACHE_SECRET,
    groups: { scores: { maxBytes: 64 << 20, getter: lookupScore } },
  }),
);

// Before: res.send(await lookupScore(req.params.name)). After: one read per key across the fleet.
app.get('/score/:name', async (req, res) => res.send((await req.cache.get(req.params.name)).toString()));

app.listen(port, () => console.log(`listening on ${port} as ${self}`));
