// geecache/prometheus: the collectors on a prom-client registry, then a real Prometheus server
// (Debian's package) scraping a 3-peer child-process cluster, read back through its HTTP API.
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { ENTRY_OVERHEAD_BYTES } from '../../lib/cache/lru.js';
import { geecache } from '../../lib/index.js';
import { registerMetrics } from '../../lib/prometheus.js';
import { needs, type Prometheus, pollQuery, startCluster, startPrometheus } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

describe('geecache/prometheus', () => {
  it('exposes group, cache and peer figures with Prometheus names, read at scrape time', async () => {
    const down = 'http://127.0.0.1:1';
    const self = 'http://127.0.0.1:2';
    const cache = geecache({
      self,
      peers: [self, down],
      secret: SECRET,
      logger: false,
      groups: { scores: { maxBytes: 1 << 20, getter: (key) => `v:${key}` } },
    });
    const registry = new Registry();
    registerMetrics(cache, { registry, labels: { app: 'test' } });
    try {
      const owned = (owner: string) => Array.from({ length: 100 }, (_, i) => `k${i}`).filter((k) => cache.pool.ownerOf(k) === owner);
      const [m1, m2] = owned(self);
      const [theirs] = owned(down);
      for (const key of [m1, m2, theirs, m1, m2]) await cache.get(key);
      const bytes = [m1, m2, theirs].reduce((n, k) => n + ENTRY_OVERHEAD_BYTES + k.length * 2 + 2, 0); // overhead + key + "v:" + key
      const text = await registry.metrics();
      const line = (name: string) => text.split('\n').find((l) => l.startsWith(name)) ?? `${name} missing`;
      expect(line('geecache_gets_total{app="test",group="scores"}')).to.match(/ 5$/);
      expect(line('geecache_cache_hits_total{app="test",group="scores",cache="main"}')).to.match(/ 2$/);
      expect(line('geecache_local_loads_total{app="test",group="scores"}')).to.match(/ 3$/);
      expect(line('geecache_cache_items{app="test",group="scores",cache="main"}')).to.match(/ 3$/);
      expect(line('geecache_cache_bytes{app="test",group="scores",cache="main"}')).to.match(new RegExp(` ${bytes}$`));
      expect(line('geecache_getter_duration_seconds_count{app="test",group="scores"}')).to.match(/ 3$/);
      expect(line('geecache_getter_duration_seconds_bucket{app="test",group="scores",le="+Inf"}')).to.match(/ 3$/);
      expect(line(`geecache_peer_up{app="test",peer="${down}"}`)).to.match(/ 0$/);
      // The key owned by the dead peer was asked for there once, refused, then loaded here.
      const asked = cache.pool.getters().get(down)?.monitor.requests ?? -1;
      expect(asked).to.be.greaterThan(0);
      expect(line(`geecache_peer_requests_total{app="test",peer="${down}"}`)).to.match(new RegExp(` ${asked}$`));
      expect(line(`geecache_peer_request_errors_total{app="test",peer="${down}",cause="refused"}`)).to.match(new RegExp(` ${asked}$`));
      // Naming: counters end in _total, durations are in seconds, sizes in bytes.
      const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name, type]);
      expect(types.length).to.be.greaterThan(15);
      for (const [name, type] of types) {
        expect(name).to.match(/^geecache_[a-z_]+$/);
        if (type === 'counter') expect(name).to.match(/_total$/);
        if (type === 'histogram') expect(name).to.match(/_seconds$/);
      }
      expect(() => registerMetrics(cache, { registry })).to.throw(
        /already has geecache_gets_total; register each cache on its own registry, or pass a distinct prefix/,
      );
      expect(() => registerMetrics(cache, {} as never)).to.throw(/needs a prom-client Registry/);
      expect(() => registerMetrics(cache, { registry: new Registry(), prefx: 'x_' } as never)).to.throw(
        /option "registerMetrics.prefx" is not an option \(did you mean "prefix"\?\); options are: registry, prefix, labels/,
      );
    } finally {
      cache.close();
    }
  });

  describe('scraped by a real Prometheus', function () {
    this.timeout(90_000);
    let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
    let prometheus: Prometheus | undefined;

    before(async function () {
      needs(this, 'prometheus');
      cluster = await startCluster(3);
      prometheus = await startPrometheus(cluster.urls.map((u) => new URL(u).host));
    });
    after(async () => {
      await prometheus?.stop();
      await cluster?.stop();
    });

    it('reads back every peer, group and peer-to-peer series through the HTTP API', async () => {
      if (!cluster || !prometheus) throw new Error('not started');
      const p = prometheus;
      const keys = Array.from({ length: 30 }, (_, i) => `prom-${i}`);
      // Every peer asks for every key: each key is loaded once, by its owner; the others fetch it.
      for (const peer of cluster.urls) {
        const statuses = await Promise.all(keys.map((key) => fetch(`${peer}/get?key=${key}`).then((r) => r.status)));
        expect(statuses.every((s) => s === 200)).to.equal(true);
      }
      const single = async (promql: string, want: (v: number) => boolean) => {
        const result = await pollQuery(p, promql, (r) => r.length === 1 && want(Number(r[0].value[1])));
        expect(result, `${promql}\n${p.output()}`).to.have.length(1);
        return Number(result[0].value[1]);
      };
      expect(await single('count(up{job="geecache"} == 1)', (v) => v === 3)).to.equal(3);
      expect(await single('sum(geecache_local_loads_total{group="scores"})', (v) => v === 30)).to.equal(30);
      expect(await single('sum(geecache_getter_duration_seconds_count{group="scores"})', (v) => v === 30)).to.equal(30);
      expect(await single('sum(geecache_cache_items{group="scores",cache="main"})', (v) => v === 30)).to.equal(30);
      expect(await single('count(geecache_gets_total{group="scores"})', (v) => v === 3)).to.equal(3);
      expect(await single('sum(geecache_gets_total{group="scores"})', (v) => v >= 90)).to.be.at.least(90);
      const peerLoads = await single('sum(geecache_peer_loads_total{group="scores"})', (v) => v >= 60);
      expect(peerLoads).to.equal(60); // the two non-owners of each key fetched it once
      expect(await single('count(geecache_peer_requests_total)', (v) => v === 6)).to.equal(6); // 3 peers × 2 others
      const requests = await single('sum(geecache_peer_requests_total)', (v) => v > 0);
      expect(await single('sum(geecache_peer_request_duration_seconds_count)', (v) => v === requests)).to.equal(requests);
      expect(await single('sum(geecache_peer_request_duration_seconds_bucket{le="+Inf"})', (v) => v === requests)).to.equal(requests);
      expect(await single('sum(geecache_peer_request_errors_total)', () => true)).to.equal(0);
      expect(await single('min(geecache_peer_up)', (v) => v === 1)).to.equal(1);
      // Byte sizes are in bytes: each entry costs key length + value length ("value:" + key) + the per-entry overhead.
      const expectedBytes = keys.reduce((n, k) => n + ENTRY_OVERHEAD_BYTES + k.length + `value:${k}`.length, 0);
      expect(await single('sum(geecache_cache_bytes{group="scores",cache="main"})', (v) => v === expectedBytes)).to.equal(expectedBytes);
      // The per-instance view a dashboard would show: one series per target.
      const perInstance = await p.query('geecache_server_requests_total{group="scores"}');
      expect(perInstance.map((r) => r.metric.instance).sort()).to.deep.equal(cluster.urls.map((u) => new URL(u).host).sort());
    });
  });
});
