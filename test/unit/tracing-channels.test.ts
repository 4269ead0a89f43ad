// What geecache's tracing channels (node:diagnostics_channel tracingChannel) tell a subscriber that
// is not OpenTelemetry, over two real peers in this process: a get, the request to its owner, the
// owner serving it with the trace context the asker's subscriber set, the getter run; and which
// trace contexts the owner keeps.
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import { expect } from 'chai';
import { GET_TRACE, LOAD_TRACE, PEER_TRACE, SERVE_TRACE, traceContextOf } from '../../lib/common/diagnostics.js';
import { OwnerLoadError } from '../../lib/index.js';
import { closePeers, type InProcessPeer, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'a-long-test-secret-for-tracing';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

type Event = { channel: string; event: string; context: Record<string, unknown> };

describe('tracing channels', () => {
  let peers: InProcessPeer[] = [];
  const events: Event[] = [];
  const unsubscribers: (() => void)[] = [];
  /** What the getter saw as current in a store the subscribers bind through `within`. */
  const store = new AsyncLocalStorage<string>();
  const seenInGetter: (string | undefined)[] = [];

  before(async () => {
    for (const name of [GET_TRACE, LOAD_TRACE, PEER_TRACE, SERVE_TRACE]) {
      const channel = diagnostics_channel.tracingChannel(name);
      const record = (event: string) => (context: object) => events.push({ channel: name, event, context: { ...context } });
      const handlers = {
        start: (context: Record<string, unknown>) => {
          record('start')(context);
          // What an APM does at start: its own context for the peer hop, and its span current for the work.
          if (name === PEER_TRACE) context.traceparent = TRACEPARENT;
          context.within = <T>(work: () => T) => store.run(`${name}:${String(context.key)}`, work);
        },
        end: record('end'),
        asyncStart: record('asyncStart'),
        asyncEnd: record('asyncEnd'),
        error: record('error'),
      };
      channel.subscribe(handlers as never);
      unsubscribers.push(() => channel.unsubscribe(handlers as never));
    }
    peers = await startInProcessPeers(2, (self, urls) => ({
      self,
      peers: urls,
      secret: SECRET,
      groups: {
        scores: {
          maxBytes: 1 << 20,
          getter: (key) => {
            seenInGetter.push(store.getStore());
            if (key.startsWith('fail:')) throw new Error(`no ${key}`);
            return `value:${key}`;
          },
        },
      },
    }));
  });

  after(async () => {
    for (const unsubscribe of unsubscribers) unsubscribe();
    await closePeers(peers);
  });

  beforeEach(() => {
    events.length = 0;
    seenInGetter.length = 0;
  });

  /** A key `peers[owner]` owns. */
  function keyOwnedBy(owner: number, prefix = 'k'): string {
    for (let i = 0; ; i++) {
      const key = `${prefix}:${i}`;
      if (peers[0].cache.pool?.ownerOf(key) === peers[owner].url) return key;
    }
  }
  const of = (channel: string, event: string) => events.filter((e) => e.channel === channel && e.event === event).map((e) => e.context);

  it('a get of a key another peer owns: the get, the request to the owner, the owner serving it in the asker trace, and the getter run inside it', async () => {
    const key = keyOwnedBy(1);
    expect((await peers[0].cache.group('scores').get(key)).toString()).to.equal(`value:${key}`);
    const [get] = of(GET_TRACE, 'asyncEnd');
    expect(get).to.include({ group: 'scores', key, hit: false, source: 'peer', peer: peers[1].url });
    const [request] = of(PEER_TRACE, 'asyncEnd');
    expect(request).to.include({
      operation: 'get',
      group: 'scores',
      key,
      method: 'GET',
      status: 200,
      peer: peers[1].url,
      address: '127.0.0.1',
      port: peers[1].port,
    });
    const [served] = of(SERVE_TRACE, 'asyncEnd');
    expect(served).to.include({ operation: 'get', method: 'GET', group: 'scores', key, status: 200, traceparent: TRACEPARENT, port: peers[1].port });
    expect(of(LOAD_TRACE, 'asyncEnd')).to.have.length(1);
    // The owner's getter ran inside its getter-run trace's `within`.
    expect(seenInGetter).to.deep.equal([`${LOAD_TRACE}:${key}`]);
  });

  it('a hit: one get trace saying where it hit, and no request to any peer', async () => {
    const key = keyOwnedBy(0, 'hit');
    await peers[0].cache.group('scores').get(key);
    events.length = 0;
    await peers[0].cache.group('scores').get(key);
    expect(of(GET_TRACE, 'start')).to.have.length(1);
    expect(of(GET_TRACE, 'asyncEnd')[0]).to.include({ hit: true, source: 'main' });
    expect(of(PEER_TRACE, 'start')).to.have.length(0);
  });

  it("a getter's failure: an error on the owner's getter run, the served get answered 500, the asker's request and get", async () => {
    const key = keyOwnedBy(1, 'fail');
    const err = await peers[0].cache
      .group('scores')
      .get(key)
      .catch((e) => e);
    expect(err).to.be.instanceOf(OwnerLoadError);
    expect(of(LOAD_TRACE, 'error')).to.have.length(1);
    expect(of(SERVE_TRACE, 'asyncEnd')[0]).to.include({ status: 500 });
    expect(of(PEER_TRACE, 'error')[0]).to.include({ status: 500 });
    expect(of(GET_TRACE, 'error')).to.have.length(1);
  });

  it('gets of one turn travel in one batch, each with its own trace context and its own result', async () => {
    const keys = [keyOwnedBy(1, 'b1'), keyOwnedBy(1, 'b2'), keyOwnedBy(1, 'fail')];
    await Promise.allSettled(keys.map((key) => peers[0].cache.group('scores').get(key)));
    const requests = of(PEER_TRACE, 'start').length;
    expect(requests).to.equal(3);
    const served = of(SERVE_TRACE, 'asyncEnd');
    expect(served.map((s) => [s.key, s.method, s.status, s.traceparent])).to.have.deep.members([
      [keys[0], 'POST', 200, TRACEPARENT],
      [keys[1], 'POST', 200, TRACEPARENT],
      [keys[2], 'POST', 500, TRACEPARENT],
    ]);
    // asyncEnd ends every trace, failed or not (a failed one has had its error event before).
    const answered = of(PEER_TRACE, 'asyncEnd');
    expect(of(PEER_TRACE, 'error').map((r) => r.key)).to.deep.equal([keys[2]]);
    expect(answered.map((r) => [r.key, r.method, r.status])).to.have.deep.members([
      [keys[0], 'POST', 200],
      [keys[1], 'POST', 200],
      [keys[2], 'POST', 500],
    ]);
  });

  it('keeps a trace context only when it has exactly the W3C shape', () => {
    expect(traceContextOf(TRACEPARENT, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')).to.deep.equal({
      traceparent: TRACEPARENT,
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    });
    expect(traceContextOf(TRACEPARENT, undefined)).to.deep.equal({ traceparent: TRACEPARENT });
    for (const bad of [
      TRACEPARENT.toUpperCase(),
      `${TRACEPARENT}-extra`,
      TRACEPARENT.replace('4bf92f3577b34da6a3ce929d0e0e4736', '0'.repeat(32)),
      TRACEPARENT.replace('00f067aa0ba902b7', '0'.repeat(16)),
      TRACEPARENT.replace(/^00/, 'ff'),
      `${TRACEPARENT}, ${TRACEPARENT}`,
      'x'.repeat(100_000),
      '',
    ])
      expect(traceContextOf(bad, 'a=b'), bad.slice(0, 80)).to.deep.equal({});
    // A malformed tracestate is dropped, the traceparent kept.
    for (const bad of ['a=b\r\nx: y', `a=${'v'.repeat(600)}`, Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','), 'UPPER=x', 'a=b=c', ','])
      expect(traceContextOf(TRACEPARENT, bad), bad.slice(0, 80)).to.deep.equal({ traceparent: TRACEPARENT });
  });
});
