// Discovery sources for `peers`: a user function and real DNS (dnsmasq on a loopback port, A and
// SRV records). The ring follows each answer, canonically; junk and failures keep the last good
// list and are reported once; start-up checks name the option and the fix.
import os from 'node:os';
import { expect } from 'chai';
import { canonicalPeers, findSelf, MAX_PEERS, selfFromInterfaces } from '../../lib/cluster/discovery.js';
import { ConfigError, type GeecacheMiddleware, type GeecacheOptions, geecache, type Logger } from '../../lib/index.js';
import { Dnsmasq, freePort, needs, sleep, until } from '../helpers/index.js';

const SECRET = 'discovery-test-secret-0123';
const groups = { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } };

/** A logger that keeps what it is told. */
function recorder(): Logger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, warn: (m) => warnings.push(m), info: (m) => infos.push(m) };
}

/** Polls `check` until it returns true (bounded); fails with `what` and the last state. */

function expectConfigError(options: unknown, option: string, also?: RegExp): void {
  let caught: unknown;
  try {
    geecache(options as GeecacheOptions);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'geecache() should have thrown').to.be.instanceOf(ConfigError);
  expect((caught as Error).message).to.include(`"${option}"`);
  if (also) expect((caught as Error).message).to.match(also);
}

describe('discovery: canonical answers', () => {
  it('sorts origins, so every peer given the same answer in any order builds the same list', () => {
    const a = canonicalPeers(['http://127.0.0.3:80', 'http://127.0.0.2:4000/', 'HTTP://127.0.0.10:4000']);
    const b = canonicalPeers(['http://127.0.0.10:4000', 'http://127.0.0.3', 'http://127.0.0.2:4000']);
    expect(a).to.deep.equal(['http://127.0.0.10:4000', 'http://127.0.0.2:4000', 'http://127.0.0.3']);
    expect(b).to.deep.equal(a);
  });

  it('refuses junk with a message that says what is wrong', () => {
    expect(() => canonicalPeers('http://127.0.0.2:1')).to.throw(/not an array of base URLs/);
    expect(() => canonicalPeers([])).to.throw(/empty/);
    expect(() => canonicalPeers(['http://127.0.0.2:1', 'not a url'])).to.throw(/entry 1 is not a base URL.*"not a url"/);
    expect(() => canonicalPeers(['http://127.0.0.2:1/path'])).to.throw(/entry 0 is not a base URL/);
    expect(() => canonicalPeers(['ftp://127.0.0.2:1'])).to.throw(/entry 0 is not a base URL/);
    expect(() => canonicalPeers([42])).to.throw(/entry 0 is not a base URL.*42/);
    expect(() => canonicalPeers(['http://127.0.0.2:1', 'http://127.0.0.2:1/'])).to.throw(/entry 1 \(http:\/\/127.0.0.2:1\) is listed twice/);
    const many = Array.from({ length: 10_000 }, (_, i) => `http://127.0.${i >> 8}.${i & 255}:4000`);
    expect(() => canonicalPeers(many)).to.throw(new RegExp(`10000 peers, over the limit of ${MAX_PEERS}`));
  });
});

describe('discovery: self as a port', () => {
  it('is the entry on that port at an address of this host (all of 127.0.0.0/8 is loopback)', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const peers = [`http://127.0.0.2:${p1}`, `http://127.0.0.3:${p2}`];
    expect(findSelf(p2, peers)).to.deep.equal({ self: `http://127.0.0.3:${p2}` });
    const cache = geecache({ self: p1, peers, secret: SECRET, groups });
    try {
      expect(cache.pool.self).to.equal(`http://127.0.0.2:${p1}`);
    } finally {
      cache.close();
    }
  });

  it('fails at start-up, naming the fix, when no entry or several match', () => {
    expectConfigError({ self: 4001, peers: ['http://127.0.0.2:4002'], secret: SECRET, groups }, 'self', /got 4001, but no peer .* is on port 4001/);
    expectConfigError(
      { self: 4001, peers: ['http://127.0.0.2:4001', 'http://127.0.0.3:4001'], secret: SECRET, groups },
      'self',
      /several peers .*give self as a URL/,
    );
    expectConfigError({ self: 70000, peers: ['http://127.0.0.2:4001'], secret: SECRET, groups }, 'self', /port \(1-65535\)/);
  });
});

describe('discovery: start-up checks', () => {
  const base = { self: 'http://127.0.0.2:4000', secret: SECRET, groups };
  it('names the bad field of a source and the fix', () => {
    expectConfigError({ ...base, peers: {} }, 'peers', /one discovery source/);
    expectConfigError({ ...base, peers: { dns: 'a.test', srv: '_x._tcp.a.test', port: 1 } }, 'peers', /one discovery source/);
    expectConfigError({ ...base, peers: { dns: 'a.test' } }, 'peers.port', /port every peer listens on/);
    expectConfigError({ ...base, peers: { dns: 'bad name!', port: 4000 } }, 'peers.dns', /DNS name/);
    expectConfigError({ ...base, peers: { dns: 'a.test', port: 4000, resolver: 'nonsense:::x' } }, 'peers.resolver', /DNS server address/);
    expectConfigError({ ...base, peers: { dns: 'a.test', port: 4000, intervalMs: 0 } }, 'peers.intervalMs', /from 100/);
    expectConfigError({ ...base, peers: { dns: 'a.test', port: 4000, family: 5 } }, 'peers.family', /4 \(A records\) or 6/);
    expectConfigError({ ...base, peers: { dns: 'a.test', port: 4000, protocol: 'ftp' } }, 'peers.protocol', /'http' or 'https'/);
    expectConfigError(
      { ...base, peers: { dns: 'a.test', port: 4000, interval: 5 } },
      'peers.interval',
      /is not an option \(did you mean "intervalMs"\?\); options are: dns, port, /,
    );
    expectConfigError({ ...base, peers: { discover: 'http://x' } }, 'peers.discover', /must be a function/);
  });

  it('requires a secret with a source, and self spelled as discovery spells peers', () => {
    expectConfigError({ self: base.self, groups, peers: { discover: () => [] } }, 'secret', /discovery source/);
    expectConfigError({ ...base, self: 'http://127.0.0.2:80', peers: { discover: () => [] } }, 'self', /"http:\/\/127.0.0.2"/);
    expectConfigError({ ...base, logger: { log() {} }, peers: { discover: () => [] } }, 'logger', /warn method/);
  });
});

describe('discovery: self as a port with a discovery source', () => {
  it("is this host's one non-loopback address on that port, or a ConfigError naming the fix", () => {
    const v4 = [
      ...new Set(
        Object.values(os.networkInterfaces())
          .flatMap((l) => l ?? [])
          .filter((i) => !i.internal && i.family === 'IPv4')
          .map((i) => i.address),
      ),
    ];
    const options = { self: 4000, secret: SECRET, groups, logger: recorder(), peers: { discover: () => ['http://127.0.0.2:4000'], intervalMs: 60_000 } };
    if (v4.length === 1) {
      const cache = geecache(options);
      try {
        expect(cache.pool.self).to.equal(`http://${v4[0]}:4000`);
      } finally {
        void cache.close();
      }
    } else {
      expectConfigError(options, 'self', /is port 4000, but this host has .*give self as a URL, e.g. `http:\/\/\$\{process.env.POD_IP\}:4000`/);
    }
  });

  it('names the addresses when a host has several, and uses the one a pod has', () => {
    const nic = (address: string, internal = false) => ({
      address,
      netmask: '255.255.255.0',
      family: 'IPv4' as const,
      mac: '00:00:00:00:00:00',
      internal,
      cidr: `${address}/24`,
    });
    expect(selfFromInterfaces(3000, 4, 'http', { lo: [nic('127.0.0.1', true)], eth0: [nic('10.1.2.3')] })).to.deep.equal({ self: 'http://10.1.2.3:3000' });
    expect(selfFromInterfaces(3000, 4, 'http', { eth0: [nic('10.1.2.3')], docker0: [nic('172.17.0.1')] }).why).to.match(
      /several IPv4 addresses \(10.1.2.3, 172.17.0.1\)/,
    );
    expect(selfFromInterfaces(3000, 4, 'http', { lo: [nic('127.0.0.1', true)] }).why).to.match(/no non-loopback IPv4 address/);
  });
});

describe('discovery: a function source', () => {
  const self = 'http://127.0.0.2:4000';
  let cache: GeecacheMiddleware | undefined;
  afterEach(() => cache?.close());

  it('follows the answer; junk, a throw or nothing keep the last good list, reported once each', async () => {
    const logger = recorder();
    let answer: () => unknown = () => ['http://127.0.0.3:4000', self];
    cache = geecache({ self, secret: SECRET, groups, logger, peers: { discover: async () => answer() as string[], intervalMs: 100 } });
    const pool = cache.pool;
    expect(pool.peers(), 'before the first answer: self alone').to.deep.equal([self]);
    await until('first answer applied', () => pool.peers().length === 2, { state: () => pool.peers() });
    expect(pool.peers()).to.deep.equal([self, 'http://127.0.0.3:4000']);

    answer = () => ['http://127.0.0.4:4000', 'http://127.0.0.3:4000', self];
    await until('second answer applied', () => pool.peers().length === 3, { state: () => pool.peers() });
    const good = pool.peers();
    expect(good).to.deep.equal(['http://127.0.0.2:4000', 'http://127.0.0.3:4000', 'http://127.0.0.4:4000']);

    const bad: [() => unknown, RegExp][] = [
      [() => ['http://127.0.0.3:4000', 'http://127.0.0.3:4000'], /listed twice/],
      [() => ['mailto:x@y'], /not a base URL/],
      [() => Array.from({ length: 10_000 }, (_, i) => `http://127.1.${i >> 8}.${i & 255}:4000`), /10000 peers, over the limit/],
      [
        () => {
          throw new Error('registry down');
        },
        /registry down/,
      ],
      [() => null, /not an array/],
      [() => [], /empty/],
    ];
    for (const [make, message] of bad) {
      answer = make;
      const warned = logger.warnings.length;
      await until(`a warning matching ${message}`, () => logger.warnings.length > warned, { state: () => logger.warnings });
      const last = logger.warnings.at(-1) ?? '';
      expect(last)
        .to.match(message)
        .and.to.match(/function discover.*keeping the last good list of 3 peers/);
      expect(pool.peers(), 'the last good list is kept').to.deep.equal(good);
      // The same failure again is not reported again.
      const lookups = cache.discovery!.stats.lookups;
      await until('another lookup', () => cache!.discovery!.stats.lookups > lookups + 1);
      expect(logger.warnings.length).to.equal(warned + 1);
    }
    expect(cache.discovery!.stats.failures).to.be.at.least(bad.length);

    answer = () => [self];
    await until('recovery', () => pool.peers().length === 1, { state: () => pool.peers() });
    expect(
      logger.infos.some((m) => /answers again: 1 peers/.test(m)),
      'the recovery is reported',
    ).to.equal(true);
  });

  it('leaves out entries that are never a peer (unspecified, broadcast, multicast or reserved address, port 0), warning once per cause, naming the entry', async () => {
    const logger = recorder();
    const good = ['http://127.0.0.3:4000', self];
    const never = [
      'http://0.0.0.0:4000',
      'http://0:4001',
      'http://255.255.255.255:4000',
      'http://4294967295:4001',
      'http://224.0.0.1:4000',
      'http://[ff02::1]:4000',
      'http://[::ffff:239.1.2.3]:4000',
      'http://[::]:4000',
      'http://240.0.0.1:4000',
      'http://127.0.0.4:0',
    ];
    cache = geecache({ self, secret: SECRET, groups, logger, peers: { discover: () => [...never, ...good], intervalMs: 100 } });
    await cache.discovery!.whenAnswered();
    const lookups = cache.discovery!.stats.lookups;
    await until('two more lookups', () => cache!.discovery!.stats.lookups > lookups + 1);
    expect(cache.pool.peers()).to.deep.equal([self, 'http://127.0.0.3:4000']);
    const refusals = logger.warnings.filter((m) => m.includes('refused'));
    for (const [cause, first] of [
      [/unspecified address/, 'entry 0 (http://0.0.0.0:4000)'],
      [/broadcast address/, 'entry 2 (http://255.255.255.255:4000)'],
      [/multicast address/, 'entry 4 (http://224.0.0.1:4000)'],
      [/reserved address/, 'entry 8 (http://240.0.0.1:4000)'],
      [/port 0 cannot be listened on/, 'entry 9 (http://127.0.0.4:0)'],
    ] as [RegExp, string][]) {
      const warned = refusals.filter((m) => cause.test(m));
      expect(warned, `${cause}: ${JSON.stringify(refusals)}`).to.have.length(1);
      expect(warned[0]).to.include(`function discover) refused ${first}`);
    }
    expect(refusals).to.have.length(5);
    expect(cache.discovery!.stats.refused).to.be.at.least(never.length * 2);
    expect(logger.warnings.filter((m) => m.includes('failed'))).to.deep.equal([]);
  });

  it('an answer of only such entries fails as a whole: the last good list is kept', async () => {
    const logger = recorder();
    let answer = [self, 'http://127.0.0.3:4000'];
    cache = geecache({ self, secret: SECRET, groups, logger, peers: { discover: () => answer, intervalMs: 100 } });
    await cache.discovery!.whenAnswered();
    answer = ['http://0.0.0.0:4000', 'http://255.255.255.255:4000'];
    await until('the failure reported', () => logger.warnings.some((m) => /failed: every record was refused/.test(m)), { state: () => logger.warnings });
    expect(cache.pool.peers()).to.deep.equal([self, 'http://127.0.0.3:4000']);
  });

  it('a discover() whose error text changes on every call is warned about once, the text cut short; each new cause once more', async () => {
    const logger = recorder();
    let calls = 0;
    let fail = (n: number): never => {
      throw new Error(`registry down (request ${n}) ${'x'.repeat(100_000)}`);
    };
    cache = geecache({ self, secret: SECRET, groups, logger, peers: { discover: () => fail(++calls), intervalMs: 100 } });
    await until('ten lookups', () => calls >= 10);
    expect(logger.warnings).to.have.length(1);
    expect(logger.warnings[0]).to.match(/function discover\) failed: registry down \(request 1\) x+…; serving alone until it answers/);
    expect(logger.warnings[0].length).to.be.below(600);
    expect(cache.discovery!.lastError!.length).to.be.below(600);
    // Another cause (a name or code) is another warning, once.
    fail = (n) => {
      throw Object.assign(new Error(`timed out after ${n} ms`), { code: 'ETIMEDOUT' });
    };
    const seen = calls;
    await until('ten more lookups', () => calls >= seen + 10);
    expect(logger.warnings).to.have.length(2);
    expect(logger.warnings[1]).to.match(/failed: timed out after \d+ ms/);
  });

  it('keeps self in the ring when the answer does not list it yet, and says so once', async () => {
    const logger = recorder();
    cache = geecache({ self, secret: SECRET, groups, logger, peers: { discover: () => ['http://127.0.0.4:4000', 'http://127.0.0.3:4000'], intervalMs: 100 } });
    await cache.discovery!.whenAnswered();
    expect(cache.pool.peers()).to.deep.equal([self, 'http://127.0.0.3:4000', 'http://127.0.0.4:4000']);
    expect(logger.infos.filter((m) => m.includes('not in the discovery answer yet'))).to.have.length(1);
  });

  it('stops asking on close()', async () => {
    let calls = 0;
    cache = geecache({
      self,
      secret: SECRET,
      groups,
      logger: recorder(),
      peers: {
        discover: () => {
          calls++;
          return [self];
        },
        intervalMs: 100,
      },
    });
    await cache.discovery!.whenAnswered();
    cache.close();
    const after = calls;
    await sleep(350);
    expect(calls).to.equal(after);
  });
});

describe('discovery: DNS through a real dnsmasq', function () {
  this.timeout(60_000);
  let dns: Dnsmasq;
  let cache: GeecacheMiddleware | undefined;
  before(async function () {
    needs(this, 'dnsmasq');
    dns = await Dnsmasq.start({});
  });
  after(() => dns?.stop());
  afterEach(() => cache?.close());

  it('A records of a name with a port: follows changes, keeps the last good list when the name stops resolving', async () => {
    const port = 4000;
    const url = (n: number) => `http://127.0.0.${n}:${port}`;
    await dns.update({ a: { 'peers.test': ['127.0.0.3', '127.0.0.2'] } });
    const logger = recorder();
    cache = geecache({ self: url(2), secret: SECRET, groups, logger, peers: { dns: 'peers.test', port, resolver: dns.address, intervalMs: 100 } });
    const pool = cache.pool;
    await until('first answer', () => pool.peers().length === 2, { state: () => pool.peers() });
    expect(pool.peers()).to.deep.equal([url(2), url(3)]);

    await dns.update({ a: { 'peers.test': ['127.0.0.4', '127.0.0.2', '127.0.0.3'] } });
    await until('scale up applied', () => pool.peers().length === 3, { state: () => pool.peers() });
    expect(pool.peers()).to.deep.equal([url(2), url(3), url(4)]);

    await dns.update({ a: { 'peers.test': [] } });
    await until('NXDOMAIN reported', () => logger.warnings.length > 0);
    expect(logger.warnings[0]).to.match(/dns peers\.test:4000\) failed: .*ENOTFOUND.*keeping the last good list of 3 peers/);
    expect(pool.peers()).to.deep.equal([url(2), url(3), url(4)]);

    await dns.update({ a: { 'peers.test': ['127.0.0.2', '127.0.0.4'] } });
    await until('scale down applied', () => pool.peers().length === 2, { state: () => pool.peers() });
    expect(pool.peers()).to.deep.equal([url(2), url(4)]);
  });

  it('A and AAAA records of an unspecified, broadcast, multicast or reserved address are refused, one warning per cause naming the record; the rest become members', async () => {
    const port = 4000;
    await dns.update({ a: { 'peers.test': ['127.0.0.2', '0.0.0.0', '255.255.255.255', '224.0.0.1', '239.255.255.250', '240.0.0.1', '127.0.0.3'] } });
    const logger = recorder();
    cache = geecache({
      self: 'http://127.0.0.2:4000',
      secret: SECRET,
      groups,
      logger,
      peers: { dns: 'peers.test', port, resolver: dns.address, intervalMs: 100 },
    });
    await cache.discovery!.whenAnswered();
    const lookups = cache.discovery!.stats.lookups;
    await until('two more lookups', () => cache!.discovery!.stats.lookups > lookups + 1);
    expect(cache.pool.peers()).to.deep.equal(['http://127.0.0.2:4000', 'http://127.0.0.3:4000']);
    const refusals = logger.warnings.filter((m) => m.includes('refused'));
    expect(refusals, JSON.stringify(refusals)).to.have.length(4);
    expect(refusals.find((m) => m.includes('A record 0.0.0.0 of peers.test'))).to.match(
      /dns peers\.test:4000\) refused A record 0\.0\.0\.0 of peers\.test: an unspecified address/,
    );
    expect(refusals.find((m) => m.includes('A record 255.255.255.255 of peers.test'))).to.match(/the broadcast address/);
    expect(refusals.find((m) => /A record 2(24\.0\.0\.1|39\.255\.255\.250) of peers\.test/.test(m))).to.match(/a multicast address/);
    expect(refusals.find((m) => m.includes('A record 240.0.0.1 of peers.test'))).to.match(/a reserved address/);
    cache.close();

    await dns.update({ a: { 'six.peers.test': ['::1', '::', 'ff02::1', '::ffff:224.0.0.9'] } });
    const six = recorder();
    cache = geecache({
      self: 'http://[::1]:4000',
      secret: SECRET,
      groups,
      logger: six,
      peers: { dns: 'six.peers.test', family: 6, port, resolver: dns.address, intervalMs: 100 },
    });
    await cache.discovery!.whenAnswered();
    expect(cache.pool.peers()).to.deep.equal(['http://[::1]:4000']);
    const refused6 = six.warnings.filter((m) => m.includes('refused'));
    expect(refused6, JSON.stringify(refused6)).to.have.length(2);
    expect(refused6.find((m) => m.includes('AAAA record :: of six.peers.test'))).to.match(/an unspecified address/);
    expect(refused6.find((m) => /AAAA record (ff02::1|::ffff:224\.0\.0\.9|::ffff:e000:9) of six\.peers\.test/.test(m))).to.match(/a multicast address/);
  });

  it('SRV: a record on port 0 and a target address that is never a peer are refused; the other records are used', async () => {
    const srv = '_geecache._tcp.peers.test';
    const a = { 'p1.peers.test': ['127.0.0.2'], 'p2.peers.test': ['127.0.0.3'], 'group.peers.test': ['224.0.0.251'] };
    await dns.update({
      a,
      srv: {
        [srv]: [
          { target: 'p1.peers.test', port: 4001 },
          { target: 'p2.peers.test', port: 0 },
          { target: 'group.peers.test', port: 4002 },
        ],
      },
    });
    const logger = recorder();
    cache = geecache({ self: 'http://127.0.0.2:4001', secret: SECRET, groups, logger, peers: { srv, resolver: dns.address, intervalMs: 100 } });
    await cache.discovery!.whenAnswered();
    expect(cache.pool.peers()).to.deep.equal(['http://127.0.0.2:4001']);
    const refusals = logger.warnings.filter((m) => m.includes('refused'));
    expect(refusals, JSON.stringify(refusals)).to.have.length(2);
    expect(refusals.find((m) => m.includes('SRV record p2.peers.test:0 of _geecache._tcp.peers.test'))).to.match(/port 0 cannot be listened on/);
    expect(refusals.find((m) => m.includes('address 224.0.0.251 of SRV target group.peers.test'))).to.match(/a multicast address/);
  });

  it('SRV records: each target address on its own port; a malformed answer keeps the last good list', async () => {
    const srv = '_geecache._tcp.peers.test';
    const a = { 'p1.peers.test': ['127.0.0.2'], 'p2.peers.test': ['127.0.0.3'] };
    await dns.update({ a, srv: { [srv]: [{ target: 'p1.peers.test', port: 4001 }] } });
    const logger = recorder();
    cache = geecache({ self: 'http://127.0.0.2:4001', secret: SECRET, groups, logger, peers: { srv, resolver: dns.address, intervalMs: 100 } });
    const pool = cache.pool;
    await cache.discovery!.whenAnswered();
    expect(pool.peers()).to.deep.equal(['http://127.0.0.2:4001']);

    await dns.update({
      a,
      srv: {
        [srv]: [
          { target: 'p1.peers.test', port: 4001 },
          { target: 'p2.peers.test', port: 4002 },
        ],
      },
    });
    await until('second target added', () => pool.peers().length === 2, { state: () => pool.peers() });
    expect(pool.peers()).to.deep.equal(['http://127.0.0.2:4001', 'http://127.0.0.3:4002']);

    // A target with no address: the whole answer is refused. (Changing SRV restarts dnsmasq, so a
    // lookup may also meet a refused connection first: that is reported too, and keeps the list.)
    await dns.update({
      a,
      srv: {
        [srv]: [
          { target: 'p1.peers.test', port: 4001 },
          { target: 'gone.peers.test', port: 4003 },
        ],
      },
    });
    const unresolved = /srv _geecache\._tcp\.peers\.test\) failed: SRV target gone\.peers\.test .* does not resolve.*keeping the last good list of 2 peers/;
    await until('bad target reported', () => logger.warnings.some((m) => unresolved.test(m)), { state: () => logger.warnings });
    expect(pool.peers()).to.deep.equal(['http://127.0.0.2:4001', 'http://127.0.0.3:4002']);

    // RFC 2782's "no service": target ".".
    await dns.update({ a, srv: {}, raw: [`srv-host=${srv}`] });
    await until('"." target reported', () => logger.warnings.some((m) => /malformed SRV record .*target "\."/.test(m)), { state: () => logger.warnings });
    expect(pool.peers()).to.deep.equal(['http://127.0.0.2:4001', 'http://127.0.0.3:4002']);
  });
});
