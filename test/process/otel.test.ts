// geecache/otel with the real OpenTelemetry SDK over three peers, each in its own process with an
// Express front (test/fixtures/traced-peer.mjs), every span sent back over IPC and put together
// here: a request that misses at the front and loads at the owner is one trace, nested front
// request -> cache.get -> peer CLIENT -> owner SERVER -> cache.load (-> the getter's own span);
// a batched get of 20 keys gives each key its own chain under its own cache.get; a hit makes no
// peer span; a failing getter marks the spans on both sides as errors.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { geecache } from '../../lib/index.js';
import { type ChildHandle, freePorts, stopAll, until, whenReady } from '../helpers/index.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/traced-peer.mjs', import.meta.url));
const SECRET = 'test-secret-for-tracing-0123';

interface ExportedSpan {
  name: string;
  kind: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  status: 'error' | 'unset';
  events: string[];
  process: string;
}

describe('geecache/otel: one trace across peers, with the OpenTelemetry SDK', function () {
  this.timeout(60_000);
  let peers: ChildHandle[] = [];
  let urls: string[] = [];
  const spans: ExportedSpan[] = [];
  let ownerOf: (key: string) => string | undefined = () => undefined;
  let closeRing = () => {};

  before(async () => {
    const ports = await freePorts(3);
    urls = ports.map((port) => `http://127.0.0.1:${port}`);
    peers = await Promise.all(
      ports.map((port, i) => {
        const child = spawn(process.execPath, [FIXTURE, JSON.stringify({ port, self: urls[i], peers: urls, secret: SECRET })], {
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        child.on('message', (message: { span?: ExportedSpan }) => {
          if (message.span) spans.push(message.span);
        });
        return whenReady(child, `traced peer ${urls[i]}`, { url: urls[i] });
      }),
    );
    // The same ring the peers use, to pick keys by owner.
    const ring = geecache({ self: urls[0], peers: urls, secret: SECRET, groups: { scores: { maxBytes: 1 << 20, getter: () => '' } } });
    ownerOf = (key) => ring.pool.ownerOf(key);
    closeRing = () => ring.close();
  });

  after(async () => {
    closeRing();
    await stopAll(peers);
  });

  /** `n` keys starting with `prefix` that peer `owner` owns. */
  function keysOwnedBy(owner: number, prefix: string, n = 1): string[] {
    const found: string[] = [];
    for (let i = 0; found.length < n; i++) if (ownerOf(`${prefix}${i}`) === urls[owner]) found.push(`${prefix}${i}`);
    return found;
  }

  /** The front's request span for `query`, once ended (it ends after the answer is sent). */
  async function frontSpan(query: string): Promise<ExportedSpan> {
    let found: ExportedSpan | undefined;
    await until(`the front span of ${query}`, () => {
      found = spans.find((s) => s.kind === 'SERVER' && s.attributes['url.query'] === query);
      return found !== undefined;
    });
    return found as ExportedSpan;
  }

  /** The spans of `traceId`, once `count` of them arrived (spans are exported as they end, in any order). */
  async function traceOf(traceId: string, count: number): Promise<ExportedSpan[]> {
    const of = () => spans.filter((s) => s.traceId === traceId);
    await until(`${count} spans of trace ${traceId}`, () => of().length >= count, { state: () => of().map((s) => s.name) });
    return of();
  }

  const child = (all: ExportedSpan[], parent: ExportedSpan, name: string | RegExp, key?: string) => {
    const found = all.filter(
      (s) =>
        s.parentSpanId === parent.spanId &&
        (typeof name === 'string' ? s.name === name : name.test(s.name)) &&
        (key === undefined || s.attributes['cache.key'] === key),
    );
    expect(
      found,
      `children "${name}" of ${parent.name} (${key ?? ''}) in ${JSON.stringify(all.map((s) => [s.name, s.attributes['cache.key']]))}`,
    ).to.have.length(1);
    return found[0];
  };

  it('a get that misses at the front and loads at the owner is one trace: front request -> cache.get -> CLIENT -> owner SERVER -> cache.load', async () => {
    const [key] = keysOwnedBy(1, 'one:');
    const query = `key=${key}`;
    expect(await (await fetch(`${urls[0]}/get?${query}`)).text()).to.equal(`value:${key}`);
    const front = await frontSpan(query);
    expect(front.parentSpanId).to.equal(undefined);
    const all = await traceOf(front.traceId, 6);
    const get = child(all, front, 'cache.get');
    expect(get.process).to.equal(urls[0]);
    expect(get.attributes).to.include({ 'cache.group': 'scores', 'cache.key': key, 'cache.hit': false, 'cache.source': 'peer', 'cache.peer': urls[1] });
    const client = child(all, get, 'GET /_geecache/{group}/{key}');
    expect(client.kind).to.equal('CLIENT');
    expect(client.attributes).to.include({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': Number(new URL(urls[1]).port),
      'http.response.status_code': 200,
    });
    const server = child(all, client, 'GET /_geecache/{group}/{key}');
    expect(server.kind).to.equal('SERVER');
    expect(server.process).to.equal(urls[1]);
    expect(server.attributes).to.include({ 'http.route': '/_geecache/{group}/{key}', 'http.response.status_code': 200, 'cache.group': 'scores' });
    const load = child(all, server, 'cache.load');
    expect(load.process).to.equal(urls[1]);
    // The getter's own span (its "database read") nests under its run.
    child(all, load, 'db.read');
    // One trace: nothing of this get went elsewhere.
    expect(spans.filter((s) => s.attributes['cache.key'] === key && s.traceId !== front.traceId)).to.deep.equal([]);
    expect(all).to.have.length(6);
  });

  it('a batched get of 20 keys owned by two peers: each key has its own CLIENT, SERVER and cache.load under its own cache.get', async () => {
    const keys = [...keysOwnedBy(1, 'batch:', 10), ...keysOwnedBy(2, 'batch:', 10)];
    const query = `keys=${encodeURIComponent(JSON.stringify(keys))}`;
    expect(await (await fetch(`${urls[0]}/multi?${query}`)).json()).to.deep.equal(keys.map((k) => `value:${k}`));
    const front = await frontSpan(query);
    const all = await traceOf(front.traceId, 1 + 20 * 5);
    for (const key of keys) {
      const get = child(all, front, 'cache.get', key);
      const client = child(all, get, /^POST /, key);
      expect(client.attributes).to.include({
        'http.request.method': 'POST',
        'http.response.status_code': 200,
        'server.port': Number(new URL(ownerOf(key) as string).port),
      });
      const server = child(all, client, /^POST /, key);
      expect(server.process).to.equal(ownerOf(key));
      const load = child(all, server, 'cache.load', key);
      expect(load.process).to.equal(ownerOf(key));
    }
  });

  it('a hit makes a cache.get span and no peer span', async () => {
    const [owned] = keysOwnedBy(0, 'hit:');
    const [remote] = keysOwnedBy(2, 'hit:');
    for (const key of [owned, remote]) await fetch(`${urls[0]}/get?key=${key}&warm=1`);
    for (const [key, source] of [
      [owned, 'main'],
      [remote, 'hot'],
    ]) {
      const query = `key=${key}`;
      expect(await (await fetch(`${urls[0]}/get?${query}`)).text()).to.equal(`value:${key}`);
      const front = await frontSpan(query);
      const [get] = await traceOf(front.traceId, 2).then((all) => all.filter((s) => s.name === 'cache.get'));
      expect(get.attributes).to.include({ 'cache.hit': true, 'cache.source': source });
      expect(spans.filter((s) => s.traceId === front.traceId && (s.kind === 'CLIENT' || s.kind === 'SERVER') && s !== front)).to.deep.equal([]);
    }
  });

  it('a failing getter marks the spans as errors on both sides', async () => {
    const [key] = keysOwnedBy(1, 'fail:');
    const query = `key=${key}`;
    expect((await fetch(`${urls[0]}/get?${query}`)).status).to.equal(500);
    const front = await frontSpan(query);
    const all = await traceOf(front.traceId, 5);
    const get = child(all, front, 'cache.get');
    const client = child(all, get, /^GET /);
    const server = child(all, client, /^GET /);
    const load = child(all, server, 'cache.load');
    for (const span of [get, client, server, load]) expect(span.status, span.name).to.equal('error');
    expect(load.events).to.include('exception');
    expect(client.attributes).to.include({ 'http.response.status_code': 500, 'error.type': '500' });
    expect(server.attributes).to.include({ 'http.response.status_code': 500, 'error.type': '500' });
    expect(server.process).to.equal(urls[1]);
  });
});
