// Misconfiguration is caught at start-up: geecache() throws a ConfigError naming the option (and
// saying how to fix it) before any request is served. pool.set() checks a new peer list the same
// way and, refused, leaves the old ring in place.
import { expect } from 'chai';
import { MAX_TTL_MS } from '../../lib/cache/freshness.js';
import { resolveOptions } from '../../lib/config/options.js';
import { ConfigError, ConsistentHashRing, type GeecacheMiddleware, type GeecacheOptions, geecache, RendezvousRing } from '../../lib/index.js';

const SELF = 'http://10.0.0.1:3000';
const OTHER = 'http://10.0.0.2:3000';
const SECRET = 'a-long-test-secret-123';
const getter = (key: string) => `value:${key}`;

/** A valid two-peer configuration, with `patch` applied (a key set to undefined is removed). */
function config(patch: Record<string, unknown> = {}): GeecacheOptions {
  const options: Record<string, unknown> = { self: SELF, peers: [SELF, OTHER], secret: SECRET, groups: { scores: { maxBytes: 1 << 20, getter } }, ...patch };
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete options[k];
  return options as unknown as GeecacheOptions;
}

/** A configuration whose `scores` group has `patch` applied. */
const group = (patch: Record<string, unknown>) => config({ groups: { scores: { maxBytes: 1 << 20, getter, ...patch } } });

const started: GeecacheMiddleware[] = [];
function start(options: GeecacheOptions): GeecacheMiddleware {
  const cache = geecache(options);
  started.push(cache);
  return cache;
}
afterEach(() => {
  for (const c of started.splice(0)) c.close();
});

/** Expects geecache(options) to throw a ConfigError about `option` whose message matches `also`. */
function expectConfigError(options: unknown, option: string, also?: RegExp): ConfigError {
  let caught: unknown;
  try {
    start(options as GeecacheOptions);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'geecache() should have thrown').to.be.instanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err).to.be.instanceOf(TypeError);
  expect(err.name).to.equal('ConfigError');
  expect(err.message).to.include(`geecache: option "${option}" `);
  if (also) expect(err.message).to.match(also);
  // resolveOptions, the check behind geecache(), gives the same answer.
  expect(() => resolveOptions(options as GeecacheOptions)).to.throw(ConfigError, err.message);
  return err;
}

describe('configuration errors at start-up', () => {
  describe('the options object', () => {
    for (const bad of [undefined, null, 'http://a:1', 42]) {
      it(`refuses ${JSON.stringify(bad)} as the options`, () => expectConfigError(bad, 'options', /must be an object/));
    }
  });

  describe('self', () => {
    const cases: [string, unknown, RegExp][] = [
      ['missing', undefined, /must be a base URL such as "http:\/\/10\.0\.0\.1:3000", got undefined/],
      ['empty', '', /must be a base URL/],
      ['not a string', 3000, /got 3000/],
      ['without a scheme (host:port)', 'localhost:3000', /\(http or https\), got "localhost:3000"/],
      ['without a scheme (ip:port)', '10.0.0.1:3000', /must be a base URL/],
      ['an ftp: URL', 'ftp://10.0.0.1:3000', /\(http or https\)/],
      ['a file: URL', 'file:///tmp/sock', /\(http or https\)/],
      ['a URL with a path', 'http://10.0.0.1:3000/app', /with no path, query or credentials/],
      ['a URL with a dot path', 'http://10.0.0.1:3000/.', /with no path, query or credentials/],
      ['a URL with a query', 'http://10.0.0.1:3000?x=1', /with no path, query or credentials/],
      ['a URL with an empty query', 'http://10.0.0.1:3000?', /with no path, query or credentials/],
      ['a URL with a fragment', 'http://10.0.0.1:3000#top', /with no path, query or credentials/],
      ['a URL with an empty fragment', 'http://10.0.0.1:3000#', /with no path, query or credentials/],
      ['a URL with credentials', 'http://user:pw@10.0.0.1:3000', /with no path, query or credentials/],
      ['a URL with only a password', 'http://:pw@10.0.0.1:3000', /with no path, query or credentials/],
      ['a URL with spaces around it', ' http://10.0.0.1:3000 ', /with no path, query or credentials/],
      ['a URL with a newline inside', 'http://10.0.0.1:\n3000', /with no path, query or credentials/],
      ['a URL with backslashes', 'http:\\\\10.0.0.1:3000', /with no path, query or credentials/],
      ['a URL with no host', 'http://', /must be a base URL/],
    ];
    for (const [what, self, message] of cases) {
      it(`refuses self ${what}`, () => expectConfigError(config({ self, peers: typeof self === 'string' ? [self, OTHER] : [SELF, OTHER] }), 'self', message));
    }

    it('accepts http and https base URLs, with or without a trailing slash', () => {
      for (const self of ['http://10.0.0.1:3000', 'http://10.0.0.1:3000/', 'https://cache-1.internal', 'http://[::1]:3000', 'http://localhost:8080']) {
        const cache = start(config({ self, peers: [self, OTHER] }));
        expect(cache.pool.self).to.equal(self.replace(/\/$/, ''));
        expect(cache.pool.peers()).to.deep.equal([self.replace(/\/$/, ''), OTHER]);
      }
    });
  });

  describe('peers', () => {
    it('refuses peers that do not include self, naming the fix', () => {
      expectConfigError(
        config({ peers: [OTHER, 'http://10.0.0.3:3000'] }),
        'peers',
        /must include self \(http:\/\/10\.0\.0\.1:3000\): every peer lists the whole cluster, itself included/,
      );
    });
    it('refuses self spelled differently in peers (the ring hashes the strings)', () => {
      expectConfigError(
        config({ self: 'http://LOCALHOST:3000', peers: ['http://localhost:3000', OTHER] }),
        'peers',
        /lists self as "http:\/\/localhost:3000" but self is "http:\/\/LOCALHOST:3000": spell it the same way in both/,
      );
      expectConfigError(config({ self: 'http://10.0.0.1:80', peers: ['http://10.0.0.1', OTHER] }), 'peers', /spell it the same way/);
    });
    it('accepts self with a trailing slash and peers without (and the reverse)', () => {
      expect(start(config({ self: `${SELF}/`, peers: [SELF, OTHER] })).pool.peers()).to.deep.equal([SELF, OTHER]);
      expect(start(config({ self: SELF, peers: [`${SELF}/`, `${OTHER}/`] })).pool.peers()).to.deep.equal([SELF, OTHER]);
    });
    for (const [what, peers] of [
      ['a string', SELF],
      ['an empty array', []],
      ['an object', { 0: SELF }],
    ] as [string, unknown][]) {
      it(`refuses peers as ${what}`, () => expectConfigError(config({ peers }), 'peers', /must be a non-empty array of base URLs, self included/));
    }
    for (const [what, bad, message] of [
      ['a number', 3000, /got 3000/],
      ['no scheme', '10.0.0.2:3000', /must be a base URL/],
      ['ftp:', 'ftp://10.0.0.2:3000', /\(http or https\)/],
      ['a path', 'http://10.0.0.2:3000/cache', /with no path, query or credentials/],
      ['a query', 'http://10.0.0.2:3000/?a=b', /with no path, query or credentials/],
      ['credentials', 'http://admin:secret@10.0.0.2:3000', /with no path, query or credentials/],
    ] as [string, unknown, RegExp][]) {
      it(`refuses a peer with ${what}, naming its index`, () => expectConfigError(config({ peers: [SELF, bad] }), 'peers[1]', message));
    }
    for (const [what, peers, index, of] of [
      ['listed twice', [SELF, OTHER, OTHER], 2, 1],
      ['listed with and without a trailing slash', [SELF, OTHER, `${OTHER}/`], 2, 1],
      ['listed in another case', [SELF, 'http://cache-2:3000', 'http://CACHE-2:3000'], 2, 1],
      ['listed with its default port spelled out', [SELF, 'http://cache-2', 'http://cache-2:80'], 2, 1],
      ['self listed twice', [SELF, OTHER, SELF], 2, 0],
    ] as [string, string[], number, number][]) {
      it(`refuses a peer ${what}`, () =>
        expectConfigError(config({ peers }), `peers[${index}]`, new RegExp(`duplicates peers\\[${of}\\] .*; list each peer once`)));
    }
  });

  describe('fastPath and batch', () => {
    for (const option of ['fastPath', 'batch'] as const) {
      it(`refuses a ${option} that is not a boolean`, () =>
        expectConfigError(config({ [option]: 'yes' } as never), option, /must be true or false, got "yes"/));
      it(`accepts ${option}: false`, () => expect(start(config({ [option]: false })).pool.peers()).to.have.length(2));
    }
  });

  describe('secret', () => {
    it('is required once peers lists another app, and the message says how to fix it', () => {
      for (const secret of [undefined, '']) {
        expectConfigError(
          config({ secret }),
          'secret',
          /is required when peers lists other apps: set the same random string \(e\.g\. process\.env\.GEECACHE_SECRET\) on every peer, or secret: false on a private network/,
        );
      }
    });
    it('must be at least 16 characters', () => {
      expectConfigError(config({ secret: 'short' }), 'secret', /must be at least 16 characters: use a random string, e\.g\. `openssl rand -hex 32`/);
      expectConfigError(config({ secret: 'x'.repeat(15) }), 'secret', /at least 16/);
      expectConfigError(config({ secret: ' '.repeat(20) }), 'secret', /at least 16/);
      expect(start(config({ secret: 'x'.repeat(16) })).pool.peers()).to.have.length(2);
    });
    for (const [what, secret, got] of [
      ['a number', 1234567890123456, 'number'],
      ['true', true, 'boolean'],
      ['a Buffer', Buffer.from(SECRET), 'object'],
      ['an object', { value: SECRET }, 'object'],
      ['null', null, 'object'],
    ] as [string, unknown, string][]) {
      it(`refuses ${what} as the secret`, () => expectConfigError(config({ secret }), 'secret', new RegExp(`must be a string or false, got ${got}`)));
    }
    it('accepts secret: false with other peers (authentication off)', () => {
      expect(resolveOptions(config({ secret: false })).secret).to.equal(false);
      expect(start(config({ secret: false })).pool.peers()).to.deep.equal([SELF, OTHER]);
    });
    it('accepts no secret when self is the only peer (the peer route is then closed)', () => {
      for (const peers of [undefined, [SELF], [`${SELF}/`]]) {
        const resolved = resolveOptions(config({ secret: undefined, peers }));
        expect(resolved.secret).to.equal(undefined);
        expect(resolved.peers).to.deep.equal([SELF]);
        expect(start(config({ secret: undefined, peers })).pool.peers()).to.deep.equal([SELF]);
      }
    });
  });

  describe('groups', () => {
    for (const [what, groups] of [
      ['missing', undefined],
      ['empty', {}],
      ['null', null],
      ['a string', 'scores'],
    ] as [string, unknown][]) {
      it(`refuses groups ${what}, with an example`, () =>
        expectConfigError(
          config({ groups }),
          'groups',
          /must name at least one group: groups: \{ scores: \{ maxBytes: 64 << 20, getter: async \(key\) => \.\.\. \} \}/,
        ));
    }
    for (const groups of [[], [{ maxBytes: 1024, getter }]]) {
      it(`refuses groups given as an array (${groups.length} items), with an example`, () =>
        expectConfigError(config({ groups }), 'groups', /must be an object of groups by name, not an array: groups: \{ scores: /));
    }
    it('refuses a group that is not an object', () => {
      expectConfigError(config({ groups: { scores: null } }), 'groups.scores', /must be an object: \{ maxBytes, getter \}/);
      expectConfigError(config({ groups: { scores: getter } }), 'groups.scores', /must be an object/);
    });
    for (const maxBytes of ['64MB', '1024', NaN, undefined, null, Infinity, -Infinity, 1.5, 2 ** 53, [1024], { bytes: 1 }]) {
      const shown = typeof maxBytes === 'number' ? String(maxBytes) : JSON.stringify(maxBytes);
      it(`refuses maxBytes ${shown}`, () => {
        expectConfigError(group({ maxBytes }), 'groups.scores.maxBytes', /must be a whole number of bytes \(e\.g\. 64 << 20; 0 disables caching\), got /);
      });
    }
    it('accepts maxBytes 0 and below (caching off) and large whole numbers', () => {
      for (const maxBytes of [0, -1, 1, 1 << 30, 2 ** 40]) expect(() => start(group({ maxBytes }))).not.to.throw();
    });
    for (const bad of [undefined, 'getter', {}, 42, null]) {
      it(`refuses getter ${JSON.stringify(bad) ?? 'undefined'}`, () => {
        expectConfigError(group({ getter: bad }), 'groups.scores.getter', /must be a function \(key, \{ signal \}\) => value/);
      });
    }
    for (const name of ['', 'a b', 'a/b', 'a%2Fb', 'a?b', 'a#b', 'scores!', 'ünïcode', '.', '..', 'x'.repeat(129), 'tab\t', 'new\nline']) {
      it(`refuses the group name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}...(${name.length})` : name)}`, () => {
        expectConfigError(
          config({ groups: { [name]: { maxBytes: 1, getter } } }),
          `groups.${name}`,
          /has an invalid name: use 1-128 letters, digits, '\.', '_', '~' or '-'/,
        );
      });
    }
    it('accepts group names made of letters, digits and . _ ~ -', () => {
      const names = ['scores', 'A-Z_0~9', 'v1.2', '...', '.hidden', '__proto__', 'x'.repeat(128)];
      const cache = start(config({ groups: Object.fromEntries(names.map((n) => [n, { maxBytes: 1, getter }])) }));
      for (const n of names) expect(cache.group(n).name).to.equal(n);
    });
    for (const [option, bad] of [
      ['loadTimeoutMs', -1],
      ['loadTimeoutMs', 0],
      ['loadTimeoutMs', NaN],
      ['loadTimeoutMs', '30s'],
      ['loadTimeoutMs', Infinity],
      ['loadTimeoutMs', 2 ** 31], // a Node timer this long fires after 1 ms: every load would time out
      ['maxKeyLength', 0],
      ['maxKeyLength', -5],
      ['maxKeyLength', NaN],
      ['hotCacheFraction', -0.1],
      ['hotCacheFraction', 1],
      ['hotCacheFraction', 1.5],
      ['hotCacheFraction', NaN],
      ['hotCacheFraction', '0.1'],
      ['ttlMs', -1],
      ['ttlMs', '60s'],
      ['ttlMs', NaN],
      ['ttlJitter', 1],
      ['ttlJitter', -0.1],
      ['staleMs', -1],
      ['staleMs', Infinity],
      ['hotTtlMs', -5],
      ['notFoundTtlMs', 'yes'],
    ] as [string, unknown][]) {
      it(`refuses ${option} ${typeof bad === 'number' ? bad : JSON.stringify(bad)}`, () =>
        expectConfigError(group({ [option]: bad }), `groups.scores.${option}`));
    }
    for (const option of ['ttlMs', 'staleMs', 'hotTtlMs', 'notFoundTtlMs']) {
      it(`takes ${option} up to MAX_TTL_MS (100 years, what the wire's int64 Unix nanoseconds leave room for) and refuses more, naming the bound`, () => {
        expect(() => start(group({ [option]: MAX_TTL_MS }))).not.to.throw();
        for (const over of [MAX_TTL_MS + 1, 8e12, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity]) {
          expectConfigError(group({ [option]: over }), `groups.scores.${option}`, new RegExp(`must be at most ${MAX_TTL_MS} ms`));
        }
      });
    }
    it('says ttlJitter needs ttlMs', () => {
      expectConfigError(group({ ttlJitter: 0.1 }), 'groups.scores.ttlJitter', /needs ttlMs/);
    });
    it('says what hotCacheFraction may be', () => {
      expectConfigError(group({ hotCacheFraction: 1 }), 'groups.scores.hotCacheFraction', /must be a number from 0 up to \(not including\) 1, got 1/);
      for (const hotCacheFraction of [0, 0.5, 0.999]) expect(() => start(group({ hotCacheFraction }))).not.to.throw();
    });
    it('names the group in a message about its options', () => {
      const options = config({ groups: { scores: { maxBytes: 1, getter }, posts: { maxBytes: 1, getter: 'nope' } } });
      expectConfigError(options, 'groups.posts.getter');
    });
  });

  describe('basePath, ring and the numeric options', () => {
    for (const basePath of [
      '_geecache/',
      '/_geecache',
      'geecache',
      '/',
      '//',
      '/a//b/',
      '/a b/',
      '/a?b/',
      '/%2F/',
      '/../',
      '/./',
      '/a/../',
      '/a/./b/',
      42,
      '',
    ]) {
      it(`refuses basePath ${JSON.stringify(basePath)}`, () =>
        expectConfigError(config({ basePath }), 'basePath', /must look like "\/_geecache\/" \(slashes at both ends\), got /));
    }
    it('accepts basePaths such as /_groupcache/ and /a/b/', () => {
      for (const basePath of ['/_groupcache/', '/a/b/', '/v1.0/cache~x/']) expect(resolveOptions(config({ basePath })).basePath).to.equal(basePath);
    });

    for (const ring of ['consistent', 'rendezvous', 42, {}, [], true]) {
      it(`refuses ring ${JSON.stringify(ring)}`, () =>
        expectConfigError(config({ ring }), 'ring', /must be 'default', 'groupcache', 'maglev', 'bounded' or a function returning a Ring/));
    }
    it("accepts ring 'default', 'groupcache', 'maglev', 'bounded' and a function", () => {
      for (const ring of ['default', 'groupcache', 'maglev', 'bounded', () => new RendezvousRing(), () => new ConsistentHashRing(10)]) {
        expect(start(config({ ring })).pool.peers()).to.deep.equal([SELF, OTHER]);
      }
    });

    for (const [option, bad] of [
      ['timeoutMs', -1],
      ['timeoutMs', 0],
      ['timeoutMs', NaN],
      ['timeoutMs', Infinity],
      ['timeoutMs', '2000'],
      ['timeoutMs', 2 ** 31],
      ['maxResponseBytes', -1],
      ['maxResponseBytes', 0],
      ['maxResponseBytes', NaN],
      ['backoffMs', -1],
      ['backoffMs', NaN],
      ['backoffMs', -Infinity],
      ['backoffMs', 2 ** 31],
      ['handoffMs', 2 ** 31],
      ['maxSockets', 0],
      ['maxSockets', -1],
      ['maxSockets', NaN],
    ] as [string, unknown][]) {
      it(`refuses ${option} ${typeof bad === 'number' ? bad : JSON.stringify(bad)}`, () =>
        expectConfigError(config({ [option]: bad }), option, /must be a (positive|non-negative) number|must be at most 2147483647/));
    }
    it('accepts backoffMs 0 (never skip a failed peer) and fills in defaults', () => {
      const resolved = resolveOptions(config({ backoffMs: 0 }));
      expect(resolved).to.include({
        backoffMs: 0,
        basePath: '/_geecache/',
        ring: 'default',
        timeoutMs: 2000,
        maxResponseBytes: 64 << 20,
        maxSockets: 32,
        fastPath: true,
      });
    });
  });
});

describe('unknown options and the default group', () => {
  afterEach(() => {
    for (const cache of started.splice(0)) cache.close();
  });

  for (const [patch, option, hint] of [
    [{ peer: [SELF, OTHER] }, 'peer', 'peers'],
    [{ timeout: 100 }, 'timeout', 'timeoutMs'],
    [{ basepath: '/x/' }, 'basepath', 'basePath'],
    [{ secrets: SECRET }, 'secrets', 'secret'],
  ] as [Record<string, unknown>, string, string][]) {
    it(`refuses the unknown option ${option} and suggests ${hint}`, () => {
      expectConfigError(config(patch), option, new RegExp(`is not an option \\(did you mean "${hint}"\\?\\); options are: self, peers, `));
    });
  }

  it('refuses an unknown group option, naming the group, and suggests the nearest', () => {
    expectConfigError(group({ expiry: 1000 }), 'groups.scores.expiry', /is not an option; options are: maxBytes, getter, /);
    expectConfigError(group({ ttl: 1000 }), 'groups.scores.ttl', /did you mean "ttlMs"\?/);
    expectConfigError(group({ maxbytes: 10 }), 'groups.scores.maxbytes', /did you mean "maxBytes"\?/);
    expectConfigError(group({ getter: undefined, getr: getter }), 'groups.scores.getr', /did you mean "getter"\?/);
  });

  it('makes no suggestion for a name far from every option', () => {
    const err = expectConfigError(config({ zzzzzzzzzzzz: 1 }), 'zzzzzzzzzzzz');
    expect(err.message).to.not.include('did you mean');
  });

  it("serves req.cache from the group written first, not from an integer-like name JavaScript moves ahead ('2024')", async () => {
    const groups = { scores: { maxBytes: 1 << 20, getter: (k: string) => `scores:${k}` }, 2024: { maxBytes: 1 << 20, getter: (k: string) => `2024:${k}` } };
    const err = expectConfigError({ self: SELF, groups }, 'defaultGroup', /is required: .*"2024" looks like an integer.*set defaultGroup/);
    expect(err.message).to.include('scores');
    const cache = start({ self: SELF, groups, defaultGroup: 'scores' });
    expect((await cache.get('x')).toString()).to.equal('scores:x');
    expect((await start({ self: SELF, groups, defaultGroup: '2024' }).get('x')).toString()).to.equal('2024:x');
  });

  it('uses the only group, or the first of several with ordinary names, when defaultGroup is not set', async () => {
    const a = { maxBytes: 1 << 20, getter: (k: string) => `a:${k}` };
    const b = { maxBytes: 1 << 20, getter: (k: string) => `b:${k}` };
    expect((await start({ self: SELF, groups: { b, a } }).get('x')).toString()).to.equal('b:x');
    expect((await start({ self: SELF, groups: { 2024: a } }).get('x')).toString()).to.equal('a:x');
  });

  it('refuses a defaultGroup that names no group, suggesting the nearest', () => {
    expectConfigError(config({ defaultGroup: 'score' }), 'defaultGroup', /must name one of the groups \(scores\), got "score" \(did you mean "scores"\?\)/);
    expectConfigError(config({ defaultGroup: 7 }), 'defaultGroup', /must name one of the groups/);
  });
});

describe('pool.set() with a bad peer list', () => {
  const C = 'http://10.0.0.3:3000';
  const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);

  it('throws a ConfigError and leaves the old ring and getters working', () => {
    const cache = start(config());
    const pool = cache.pool;
    const owners = keys.map((k) => pool.ownerOf(k));
    expect(new Set(owners)).to.deep.equal(new Set([SELF, OTHER]));
    const otherKey = keys.find((k) => pool.ownerOf(k) === OTHER)!;
    const getter = pool.pickPeer(otherKey);
    expect(getter?.peer).to.equal(OTHER);

    const bad: [unknown[], string, RegExp][] = [
      [[], 'peers', /non-empty array/],
      [[OTHER, C], 'peers', /must include self/],
      [[SELF, 'ftp://10.0.0.3:3000'], 'peers[1]', /http or https/],
      [[SELF, 'http://10.0.0.3:3000/cache'], 'peers[1]', /no path/],
      [[SELF, 'not a url'], 'peers[1]', /must be a base URL/],
      [[SELF, 42], 'peers[1]', /got 42/],
      [[SELF, OTHER, `${OTHER}/`], 'peers[2]', /duplicates peers\[1\]/],
      [['http://10.0.0.1:3000/', OTHER, C, SELF], 'peers[3]', /duplicates peers\[0\]/],
      [['HTTP://10.0.0.1:3000', C], 'peers', /spell it the same way/],
    ];
    for (const [peers, option, message] of bad) {
      expect(() => pool.set(...(peers as string[])), JSON.stringify(peers))
        .to.throw(ConfigError, `option "${option}"`)
        .with.property('message')
        .that.matches(message);
      expect(pool.peers()).to.deep.equal([SELF, OTHER]);
      expect(keys.map((k) => pool.ownerOf(k))).to.deep.equal(owners);
      expect(pool.pickPeer(otherKey), 'the getter of a kept peer is kept').to.equal(getter);
    }

    // A good list still works afterwards, and keeps the getter of a peer that stays.
    pool.set(SELF, OTHER, C);
    expect(pool.peers()).to.deep.equal([SELF, OTHER, C]);
    const stillOther = keys.find((k) => pool.ownerOf(k) === OTHER)!;
    expect(pool.pickPeer(stillOther)).to.equal(getter);
  });

  it('refuses other peers for a pool started without a secret', () => {
    const cache = start(config({ secret: undefined, peers: [SELF] }));
    expect(() => cache.pool.set(SELF, OTHER)).to.throw(
      ConfigError,
      'option "secret" is required once the pool has other peers: pass secret to geecache(), or secret: false on a private network',
    );
    expect(cache.pool.peers()).to.deep.equal([SELF]);
    expect(cache.pool.pickPeer('anything')).to.equal(undefined);
    cache.pool.set(SELF); // the same single-peer list is fine
    expect(cache.pool.peers()).to.deep.equal([SELF]);
  });

  it('accepts other peers for a pool with secret: false', () => {
    const cache = start(config({ secret: false, peers: [SELF] }));
    cache.pool.set(SELF, OTHER);
    expect(cache.pool.peers()).to.deep.equal([SELF, OTHER]);
  });
});
