/**
 * `geecache/prometheus`: exposes a geecache instance's figures on a prom-client registry.
 *
 *   import { Registry } from 'prom-client';
 *   import { registerMetrics } from 'geecache/prometheus';
 *   const registry = new Registry();
 *   registerMetrics(cache, { registry });
 *   app.get('/metrics', async (req, res) => res.type(registry.contentType).send(await registry.metrics()));
 *
 * Every value is read at scrape time from the counters geecache keeps anyway (group stats, the
 * LRUs, each peer's monitor and histograms), so metrics add no cost to a get. The collectors
 * are plain objects with the shape prom-client's registry reads (name, help, type, get()):
 * prom-client's own Counter and Histogram can only be incremented and observed, not set from
 * counts kept elsewhere. prom-client itself is therefore needed only for its Registry.
 */
import type { Registry } from 'prom-client';
import type { Group } from './cache/group.js';
import { PEER_ERROR_CAUSES } from './client/peermonitor.js';
import { checkKnown } from './common/checks.js';
import type { HistogramSnapshot } from './common/histogram.js';
import type { GeecacheMiddleware } from './middleware.js';

type Labels = Record<string, string>;
interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}
type MetricType = 'counter' | 'gauge' | 'histogram';

/** A metric whose samples are computed when the registry is scraped. */
class LazyMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    readonly collect: () => Sample[],
  ) {}

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: this.collect(), aggregator: this.aggregator };
  }

  /** Values are owned by geecache; a registry reset cannot zero them. */
  reset(): void {}
}

/** Options of {@link registerMetrics}. */
export interface MetricsOptions {
  /** The prom-client registry to register on (e.g. `new Registry()`, or prom-client's `register`). */
  registry: Registry;
  /** Prefix of every metric name. Default `geecache_`. */
  prefix?: string;
  /** Labels added to every sample, e.g. `{ app: 'shop' }` when one registry holds several caches. */
  labels?: Labels;
}

/** The samples of a histogram: `_bucket` per bound and `+Inf`, `_sum`, `_count`. */
function histogramSamples(name: string, labels: Labels, h: HistogramSnapshot): Sample[] {
  const samples: Sample[] = h.buckets.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le: String(le) }, value: h.cumulative[i] }));
  samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  samples.push({ metricName: `${name}_sum`, labels, value: h.sum });
  samples.push({ metricName: `${name}_count`, labels, value: h.count });
  return samples;
}

/**
 * Registers geecache's metrics for `cache` on `options.registry`. Names follow Prometheus'
 * conventions (`_total` counters, seconds, bytes); the metric list is in docs/operations.md. Throws if
 * the registry already has them (register each cache on its own registry, or give each a
 * distinct `prefix`).
 */
export function registerMetrics(cache: Pick<GeecacheMiddleware, 'registry' | 'pool'>, options: MetricsOptions): void {
  if (options && typeof options === 'object') checkKnown(options, ['registry', 'prefix', 'labels'], 'registerMetrics.');
  if (!options || typeof options.registry?.registerMetric !== 'function') {
    throw new TypeError('geecache/prometheus: registerMetrics(cache, { registry }) needs a prom-client Registry, e.g. new Registry() from prom-client');
  }
  const prefix = options.prefix ?? 'geecache_';
  const extra = options.labels ?? {};
  const groups = () => cache.registry.groups();
  const getters = () => [...cache.pool.getters().values()];
  const metrics: LazyMetric[] = [];
  const add = (name: string, help: string, type: MetricType, labelNames: string[], collect: () => Sample[]) =>
    metrics.push(new LazyMetric(prefix + name, help, type, labelNames, collect));

  /** One sample per group of a GroupStats counter. */
  const perGroup = (name: string, help: string, read: (g: Group) => number) =>
    add(name, help, 'counter', ['group'], () => groups().map((g) => ({ labels: { ...extra, group: g.name }, value: read(g) })));
  /** One sample per group and cache (main, hot) of an LRU figure. */
  const perCache = (name: string, help: string, type: MetricType, read: (s: ReturnType<Group['cacheStats']>['main']) => number) =>
    add(name, help, type, ['group', 'cache'], () =>
      groups().flatMap((g) => {
        const caches = g.cacheStats();
        return (['main', 'hot'] as const).map((c) => ({ labels: { ...extra, group: g.name, cache: c }, value: read(caches[c]) }));
      }),
    );

  perGroup('gets_total', 'Gets, including those answered for other peers.', (g) => g.stats.gets);
  perCache(
    'cache_hits_total',
    'Gets answered from this process: main cache (keys it owns) or hot cache (copies of hot keys owned by others).',
    'counter',
    (s) => s.hits,
  );
  perGroup('loads_total', 'Gets that missed the cache, before concurrent gets of one key were merged.', (g) => g.stats.loads);
  perGroup('loads_deduped_total', 'Loads left after concurrent gets of one key were merged.', (g) => g.stats.loadsDeduped);
  perGroup('peer_loads_total', 'Values fetched from their owner peer.', (g) => g.stats.peerLoads);
  perGroup(
    'peer_load_errors_total',
    'Fetches from an owner peer that failed (the value is then loaded here, unless the owner getter failed).',
    (g) => g.stats.peerErrors,
  );
  perGroup('local_loads_total', 'Successful getter runs in this process.', (g) => g.stats.localLoads);
  perGroup('local_load_errors_total', 'Failed getter runs in this process.', (g) => g.stats.localLoadErrs);
  perGroup('server_requests_total', 'Gets served to other peers.', (g) => g.stats.serverRequests);
  perCache('cache_evictions_total', 'Entries evicted to stay within maxBytes.', 'counter', (s) => s.evictions);
  perCache('cache_bytes', 'Bytes held (key length + value length + 256 bytes of overhead per entry).', 'gauge', (s) => s.bytes);
  perCache('cache_items', 'Entries held.', 'gauge', (s) => s.items);
  add('getter_duration_seconds', 'Time each getter run took.', 'histogram', ['group'], () =>
    groups().flatMap((g) => histogramSamples(`${prefix}getter_duration_seconds`, { ...extra, group: g.name }, g.getterLatency.snapshot())),
  );

  add('peer_requests_total', 'Requests sent to each other peer.', 'counter', ['peer'], () =>
    getters().map((p) => ({ labels: { ...extra, peer: p.peer }, value: p.monitor.requests })),
  );
  add('peer_request_errors_total', 'Failed requests to each other peer, by cause.', 'counter', ['peer', 'cause'], () =>
    getters().flatMap((p) => PEER_ERROR_CAUSES.map((cause) => ({ labels: { ...extra, peer: p.peer, cause }, value: p.monitor.errors[cause] ?? 0 }))),
  );
  add('peer_request_duration_seconds', 'Time from sending a request to another peer to reading its answer.', 'histogram', ['peer'], () =>
    getters().flatMap((p) => histogramSamples(`${prefix}peer_request_duration_seconds`, { ...extra, peer: p.peer }, p.monitor.latency.snapshot())),
  );
  add('peer_up', '1 when requests go to the peer, 0 while it is skipped after a refused connection or a timeout (backoffMs).', 'gauge', ['peer'], () =>
    getters().map((p) => ({ labels: { ...extra, peer: p.peer }, value: p.isDown ? 0 : 1 })),
  );
  add(
    'peer_clock_skew_seconds',
    "The peer's clock less this one's, measured from its answers (a peer appears once it has sent a value that expires).",
    'gauge',
    ['peer'],
    () => getters().flatMap((p) => (p.monitor.clock.ms === undefined ? [] : [{ labels: { ...extra, peer: p.peer }, value: p.monitor.clock.ms / 1000 }])),
  );

  const taken = metrics.find((m) => options.registry.getSingleMetric(m.name));
  if (taken) throw new Error(`geecache/prometheus: the registry already has ${taken.name}; register each cache on its own registry, or pass a distinct prefix`);
  // The registry reads name, help, type, get() and reset(); see the module comment.
  for (const metric of metrics) options.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
