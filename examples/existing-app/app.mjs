// An existing Express app, before and after geecache: the adoption is the app.use() line (and
// the options it takes). Run several copies behind a load balancer, each with its own SELF and
// all with the SAME secret (made once: a secret per copy makes every peer refuse the others):
//   export GEECACHE_SECRET=$(openssl rand -hex 32)
//   SELF=http://127.0.0.1:3001 PORT=3001 PEERS=http://127.0.0.1:3001,http://127.0.0.1:3002 node examples/existing-app/app.mjs
// ADMIN_TOKEN=... turns on the dashboard at /geecache/ for requests with "Authorization: Bearer <token>".
// Or let DNS say who the peers are (a Kubernetes headless Service; see examples/kubernetes/):
//   POD_IP=10.0.0.7 PEERS_DNS=existing-app-peers.default.svc.cluster.local GEECACHE_SECRET=... node app.mjs
import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import { geecache } from 'geecache';

const port = Number(process.env.PORT ?? 3000);
const self = process.env.SELF ?? `http://${process.env.POD_IP ?? '127.0.0.1'}:${port}`;
// Every replica asks DNS for the name's A records and runs the same ring over the answer; the
// list follows scale-ups, restarts and scale-downs. PEERS_DNS_RESOLVER picks the DNS server.
const peers = process.env.PEERS_DNS
  ? { dns: process.env.PEERS_DNS, port, resolver: process.env.PEERS_DNS_RESOLVER }
  : (process.env.PEERS?.split(',') ?? [self]);

// Stands in for the app's database call.
async function lookupScore(name, { signal }) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  signal.throwIfAborted();
  return String(name.length * 100);
}

const cache = geecache({
  self,
  peers,
  secret: process.env.GEECACHE_SECRET,
  groups: { scores: { maxBytes: 64 << 20, getter: lookupScore } },
  // On SIGTERM (a rolling deploy, a scale-down) leave the cluster first: peers are told "leaving"
  // and go to the next owner at once, gets in flight finish, then the process exits.
  drainOnSigterm: true,
});
const app = express();
app.use(cache);

// Before: res.send(await lookupScore(req.params.name)). After: one read per key across the fleet.
// Errors go to next(): safe on Express 4 (which does not catch a rejected promise) and 5.
app.get('/score/:name', (req, res, next) => {
  req.cache.get(req.params.name).then((score) => res.send(score.toString()), next);
});
// Readiness (the Deployment's probe): this replica's own view — serving, membership known, no
// peer it skips as down — read locally: no peer is asked, however often it is called. Only the
// status goes out: the whole report names every peer, which anonymous callers must not learn
// (operators see the peers on the dashboard, behind ADMIN_TOKEN).
const ready = async (_req, res) => {
  const { status, body } = await cache.health();
  res.status(status).json({ status: body.status });
};
app.get('/healthz', ready);
app.get('/ready', ready);

// The dashboard shows every peer's address and figures: only behind the app's own auth.
if (process.env.ADMIN_TOKEN) {
  const digest = (text) => createHash('sha256').update(text).digest();
  const expected = digest(`Bearer ${process.env.ADMIN_TOKEN}`);
  const requireAdmin = (req, res, next) => (timingSafeEqual(digest(req.get('authorization') ?? ''), expected) ? next() : res.sendStatus(401));
  app.use('/geecache', requireAdmin, cache.dashboard());
}

// HOST: the address to listen on (default: every interface).
app.listen(port, process.env.HOST, () => console.log(`listening on ${port} as ${self}`));
