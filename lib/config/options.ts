import { MAX_TTL_MS } from '../cache/freshness.js';
import type { Getter, GroupOptions } from '../cache/groupoptions.js';
import type { TransportName } from '../client/transport.js';
import { loadUndici } from '../client/undici.js';
import { checkSource, findSelf, isSource, originOf, type SourceConfig, selfFromInterfaces } from '../cluster/discovery.js';
import { ConfigError } from '../common/errors.js';
import { type FullLogger, resolveLogger } from '../common/logger.js';
import type { RingOption } from '../ring/types.js';
import type { GeecacheOptions } from './types.js';

/**
 * Every default of {@link GeecacheOptions} and {@link GroupOptions}, in one table: the README's
 * option table is this one.
 */
export const DEFAULTS = Object.freeze({
  basePath: '/_geecache/',
  ring: 'default' as RingOption,
  timeoutMs: 2_000,
  maxResponseBytes: 64 << 20,
  backoffMs: 5_000,
  maxSockets: 32,
  batch: true,
  fastPath: true,
  handoffMs: 60_000,
  drainOnSigterm: false,
  transport: 'node-fetch' as TransportName,
  group: Object.freeze({
    loadTimeoutMs: 30_000,
    maxKeyLength: 1024,
    hotCacheFraction: 1 / 8,
    /** 0: values never expire (groupcache's immutable model). */
    ttlMs: 0,
    ttlJitter: 0,
    /** 0: an expired value is never served. */
    staleMs: 0,
    /**
     * Copies of other peers' values (and values loaded here because the owner could not be asked)
     * live at most this long: the bound on a peer that missed a remove. 30 s, not 5: copies that
     * are read are renewed every hotTtlMs / 2 anyway, and at 5 s a front with 10,000 uniform keys
     * spent 13.6% of its CPU on renewals and on refetching copies that expired unread, and ran
     * at 0.81-0.88× of an Express + Redis front; at 30 s, 1.17× (BENCHMARKS.md, vs-redis).
     */
    hotTtlMs: 30_000,
    /** 0: NotFoundError is not cached. */
    notFoundTtlMs: 0,
  }),
});

/** One group's options, checked, with defaults filled in. */
export interface GroupConfig {
  readonly name: string;
  readonly maxBytes: number;
  readonly getter: Getter;
  readonly loadTimeoutMs: number;
  readonly maxKeyLength: number;
  readonly hotCacheFraction: number;
  readonly ttlMs: number;
  readonly ttlJitter: number;
  readonly staleMs: number;
  readonly hotTtlMs: number;
  readonly notFoundTtlMs: number;
}

/** {@link GeecacheOptions}, checked, with defaults filled in; frozen. */
export interface Config {
  readonly self: string;
  readonly peers: readonly string[];
  /** undefined: a lone peer without one (its peer route answers 403). */
  readonly secret: string | false | undefined;
  readonly groups: readonly GroupConfig[];
  readonly defaultGroup: string;
  readonly basePath: string;
  readonly ring: RingOption;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly backoffMs: number;
  readonly maxSockets: number;
  readonly batch: boolean;
  readonly fastPath: boolean;
  readonly handoffMs: number;
  readonly drainOnSigterm: boolean;
  readonly transport: TransportName;
  /** Set when `peers` is a discovery source; `peers` is then `[self]` until it answers. */
  readonly discovery: SourceConfig | undefined;
  readonly logger: FullLogger;
}

const OPTIONS = [
  'self',
  'peers',
  'secret',
  'groups',
  'defaultGroup',
  'basePath',
  'ring',
  'timeoutMs',
  'maxResponseBytes',
  'backoffMs',
  'maxSockets',
  'batch',
  'fastPath',
  'handoffMs',
  'drainOnSigterm',
  'transport',
  'logger',
];
const GROUP_OPTIONS = ['maxBytes', 'getter', 'loadTimeoutMs', 'maxKeyLength', 'hotCacheFraction', 'ttlMs', 'ttlJitter', 'staleMs', 'hotTtlMs', 'notFoundTtlMs'];
const GROUP_NAME = /^[A-Za-z0-9._~-]{1,128}$/;
/** Keys JavaScript orders before all others in an object: array indices. */
const INTEGER_LIKE = /^(0|[1-9][0-9]{0,9})$/;
/** Longest delay a Node timer takes; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks `options` and fills in defaults; throws a {@link ConfigError} naming the first bad option. */
export function resolveOptions(options: GeecacheOptions): Config {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError('options', 'must be an object: geecache({ self, peers, secret, groups })');
  }
  checkKnown(options, OPTIONS, '');
  const discovery = isSource(options.peers) ? checkSource(options.peers) : undefined;
  const self = resolveSelf(options.self, options.peers, discovery);
  const peers = discovery ? [self] : checkPeers(options.peers ?? [self], self);
  if (discovery && (options.secret === undefined || options.secret === '')) {
    throw new ConfigError(
      'secret',
      'is required with a discovery source (other peers will join): set the same random string (e.g. process.env.GEECACHE_SECRET) on every peer, or secret: false on a private network',
    );
  }
  const secret = checkSecret(options.secret, peers, self);
  const basePath = options.basePath ?? DEFAULTS.basePath;
  if (typeof basePath !== 'string' || !/^\/([\w.~-]+\/)+$/.test(basePath) || /\/\.{1,2}\//.test(basePath)) {
    throw new ConfigError('basePath', `must look like "/_geecache/" (slashes at both ends), got ${JSON.stringify(basePath)}`);
  }
  const ring = options.ring ?? DEFAULTS.ring;
  if (ring !== 'default' && ring !== 'groupcache' && typeof ring !== 'function') {
    throw new ConfigError('ring', `must be 'default', 'groupcache' or a function returning a Ring, got ${JSON.stringify(ring)}`);
  }
  const groups = checkGroups(options.groups);
  return Object.freeze({
    self,
    peers: Object.freeze(peers),
    secret,
    groups: Object.freeze(groups),
    defaultGroup: checkDefaultGroup(options.defaultGroup, groups),
    basePath,
    ring,
    timeoutMs: positive(options.timeoutMs, 'timeoutMs', DEFAULTS.timeoutMs, false, MAX_TIMER_MS),
    maxResponseBytes: positive(options.maxResponseBytes, 'maxResponseBytes', DEFAULTS.maxResponseBytes),
    backoffMs: positive(options.backoffMs, 'backoffMs', DEFAULTS.backoffMs, true),
    maxSockets: positive(options.maxSockets, 'maxSockets', DEFAULTS.maxSockets),
    batch: flag(options.batch, 'batch', DEFAULTS.batch),
    fastPath: flag(options.fastPath, 'fastPath', DEFAULTS.fastPath),
    handoffMs: positive(options.handoffMs, 'handoffMs', DEFAULTS.handoffMs, true, MAX_TIMER_MS),
    drainOnSigterm: flag(options.drainOnSigterm, 'drainOnSigterm', DEFAULTS.drainOnSigterm),
    transport: checkTransport(options.transport),
    discovery,
    logger: resolveLogger(checkLogger(options.logger)),
  });
}

function checkTransport(value: unknown): TransportName {
  if (value === undefined) return DEFAULTS.transport;
  if (value !== 'node-fetch' && value !== 'undici')
    throw new ConfigError('transport', `must be 'node-fetch' (the default) or 'undici', got ${JSON.stringify(value)}`);
  if (value === 'undici') loadUndici(); // throws a ConfigError naming the fix when undici is not installed
  return value;
}

/**
 * `self` as given, or, given as a port, the entry of the static `peers` on that port at an
 * address of this host. (With a discovery source `self` must be a URL, spelled as the source
 * spells peers: an origin such as `http://10.0.0.1:3000`.)
 */
function resolveSelf(self: unknown, peers: unknown, discovery: SourceConfig | undefined): string {
  const discovered = discovery !== undefined;
  if (typeof self === 'number') {
    if (!Number.isInteger(self) || self < 1 || self > 65535) throw new ConfigError('self', `must be a base URL or a port (1-65535), got ${self}`);
    if (discovery) {
      // Before any answer: the one address this host has (a pod's), so one config serves every replica.
      const found = selfFromInterfaces(self, discovery.family, discovery.protocol);
      if (!found.self) {
        throw new ConfigError('self', `is port ${self}, but ${found.why}: give self as a URL, e.g. \`http://\${process.env.POD_IP}:${self}\``);
      }
      return found.self;
    }
    if (!Array.isArray(peers)) throw new ConfigError('self', `given as a port needs peers (a list or a discovery source) to find this peer's address in`);
    const listed = peers.map((p, i) => checkPeerUrl(p, `peers[${i}]`));
    const found = findSelf(self, listed);
    if (!found.self) throw new ConfigError('self', `must be a base URL, or the port of the one peer at an address of this host; got ${self}, but ${found.why}`);
    return found.self;
  }
  const url = checkPeerUrl(self, 'self');
  if (!discovered) return url;
  if (originOf(url) !== url) {
    throw new ConfigError(
      'self',
      `must be spelled as discovered peers are, ${JSON.stringify(originOf(url))}, got ${JSON.stringify(self)}: every peer hashes the same strings`,
    );
  }
  return url;
}

function checkGroups(groups: unknown): GroupConfig[] {
  const example = 'groups: { scores: { maxBytes: 64 << 20, getter: async (key) => ... } }';
  if (Array.isArray(groups)) throw new ConfigError('groups', `must be an object of groups by name, not an array: ${example}`);
  if (typeof groups !== 'object' || groups === null || Object.keys(groups).length === 0)
    throw new ConfigError('groups', `must name at least one group: ${example}`);
  return Object.entries(groups).map(([name, group]) => resolveGroup(name, group, `groups.${name}`));
}

function checkDefaultGroup(value: unknown, groups: GroupConfig[]): string {
  const names = groups.map((g) => g.name);
  if (value === undefined) {
    const integerLike = names.find((n) => INTEGER_LIKE.test(n));
    if (names.length > 1 && integerLike !== undefined) {
      throw new ConfigError(
        'defaultGroup',
        `is required: groups has several groups and "${integerLike}" looks like an integer, which JavaScript lists first whatever the written order; set defaultGroup to the group req.cache.get should use (one of ${names.join(', ')})`,
      );
    }
    return names[0];
  }
  if (typeof value !== 'string' || !names.includes(value)) {
    throw new ConfigError('defaultGroup', `must name one of the groups (${names.join(', ')}), got ${JSON.stringify(value)}${suggest(value, names)}`);
  }
  return value;
}

/** Checks one group's options and fills in its defaults; `option` is how messages name it. */
export function resolveGroup(name: string, group: GroupOptions, option = 'group'): GroupConfig {
  if (!GROUP_NAME.test(name) || name === '.' || name === '..') {
    throw new ConfigError(option, `has an invalid name: use 1-128 letters, digits, '.', '_', '~' or '-' (not "." or "..", which URLs drop)`);
  }
  if (typeof group !== 'object' || group === null || Array.isArray(group)) throw new ConfigError(option, 'must be an object: { maxBytes, getter }');
  checkKnown(group, GROUP_OPTIONS, `${option}.`);
  if (!Number.isSafeInteger(group.maxBytes)) {
    const got = typeof group.maxBytes === 'number' ? group.maxBytes : JSON.stringify(group.maxBytes);
    throw new ConfigError(`${option}.maxBytes`, `must be a whole number of bytes (e.g. 64 << 20; 0 disables caching), got ${got}`);
  }
  if (typeof group.getter !== 'function') throw new ConfigError(`${option}.getter`, 'must be a function (key, { signal }) => value that loads a missing value');
  const hot = group.hotCacheFraction ?? DEFAULTS.group.hotCacheFraction;
  if (!(typeof hot === 'number' && hot >= 0 && hot < 1)) {
    throw new ConfigError(`${option}.hotCacheFraction`, `must be a number from 0 up to (not including) 1, got ${JSON.stringify(hot)}`);
  }
  const jitter = group.ttlJitter ?? DEFAULTS.group.ttlJitter;
  if (!(typeof jitter === 'number' && jitter >= 0 && jitter < 1)) {
    throw new ConfigError(
      `${option}.ttlJitter`,
      `must be a fraction from 0 up to (not including) 1 (0.1: each TTL is cut by up to 10%), got ${JSON.stringify(jitter)}`,
    );
  }
  const ttlMs = ttlOption(group.ttlMs, `${option}.ttlMs`, DEFAULTS.group.ttlMs, '; 0 means values never expire');
  if (jitter > 0 && ttlMs === 0) throw new ConfigError(`${option}.ttlJitter`, 'needs ttlMs: set ttlMs (e.g. 60_000), or drop ttlJitter');
  return Object.freeze({
    name,
    maxBytes: group.maxBytes,
    getter: group.getter,
    loadTimeoutMs: positive(group.loadTimeoutMs, `${option}.loadTimeoutMs`, DEFAULTS.group.loadTimeoutMs, false, MAX_TIMER_MS),
    maxKeyLength: positive(group.maxKeyLength, `${option}.maxKeyLength`, DEFAULTS.group.maxKeyLength),
    hotCacheFraction: hot,
    ttlMs,
    ttlJitter: jitter,
    staleMs: ttlOption(group.staleMs, `${option}.staleMs`, DEFAULTS.group.staleMs),
    hotTtlMs: ttlOption(group.hotTtlMs, `${option}.hotTtlMs`, DEFAULTS.group.hotTtlMs),
    notFoundTtlMs: ttlOption(group.notFoundTtlMs, `${option}.notFoundTtlMs`, DEFAULTS.group.notFoundTtlMs),
  });
}

/** Checks a peer list: each a valid URL, no duplicates, `self` among them. */
export function checkPeers(peers: unknown, self: string): string[] {
  if (!Array.isArray(peers) || peers.length === 0) throw new ConfigError('peers', 'must be a non-empty array of base URLs, self included');
  const checked = peers.map((p, i) => checkPeerUrl(p, `peers[${i}]`));
  const seen = new Map<string, number>();
  checked.forEach((p, i) => {
    const origin = new URL(p).origin;
    if (seen.has(origin)) throw new ConfigError(`peers[${i}]`, `duplicates peers[${seen.get(origin)}] (${p}); list each peer once`);
    seen.set(origin, i);
  });
  const selfIndex = seen.get(new URL(self).origin);
  if (selfIndex === undefined) throw new ConfigError('peers', `must include self (${self}): every peer lists the whole cluster, itself included`);
  // The ring hashes the strings: self spelled differently would own no keys and fetch its own over HTTP.
  if (checked[selfIndex] !== self) {
    throw new ConfigError('peers', `lists self as ${JSON.stringify(checked[selfIndex])} but self is ${JSON.stringify(self)}: spell it the same way in both`);
  }
  return checked;
}

/** Throws for a key of `options` that is not in `known`, suggesting the nearest one: plain JavaScript gets TypeScript's check. */
function checkKnown(options: object, known: string[], prefix: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ConfigError(`${prefix}${key}`, `is not an option${suggest(key, known)}; options are: ${known.join(', ')}`);
  }
}

/** ` (did you mean "x"?)` for the known name nearest to `given`, when one is near enough. */
function suggest(given: unknown, known: string[]): string {
  if (typeof given !== 'string') return '';
  const scored = known.map((k) => ({ k, d: distance(given.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  return scored.length > 0 && scored[0].d <= Math.max(2, Math.floor(scored[0].k.length / 3)) ? ` (did you mean "${scored[0].k}"?)` : '';
}

/** Levenshtein distance: how many one-character edits turn `a` into `b`. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function checkPeerUrl(value: unknown, option: string): string {
  const hint = 'must be a base URL such as "http://10.0.0.1:3000"';
  if (typeof value !== 'string') throw new ConfigError(option, `${hint}, got ${JSON.stringify(value)}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(option, `${hint}, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(option, `${hint} (http or https), got ${JSON.stringify(value)}`);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password || !/^https?:\/\/[^\s/\\?#@]+\/?$/i.test(value)) {
    throw new ConfigError(option, `${hint} with no path, query or credentials, got ${JSON.stringify(value)}`);
  }
  // The ring hashes the string itself, so keep it as given (golang/groupcache does): only a
  // trailing slash is dropped.
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

function checkSecret(secret: unknown, peers: string[], self: string): string | false | undefined {
  if (secret === false) return false;
  if (secret === undefined || secret === '') {
    if (peers.some((p) => new URL(p).origin !== new URL(self).origin)) {
      throw new ConfigError(
        'secret',
        'is required when peers lists other apps: set the same random string (e.g. process.env.GEECACHE_SECRET) on every peer, or secret: false on a private network',
      );
    }
    return undefined;
  }
  if (typeof secret !== 'string') throw new ConfigError('secret', `must be a string or false, got ${typeof secret}`);
  if (secret.trim().length < 16) throw new ConfigError('secret', 'must be at least 16 characters: use a random string, e.g. `openssl rand -hex 32`');
  return secret;
}

function positive(value: unknown, option: string, fallback: number, allowZero = false, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(option, `must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(value)}`);
  }
  if (value > max) throw new ConfigError(option, `must be at most ${max}, got ${value}`);
  return value;
}

/**
 * A group's TTL option (ttlMs, staleMs, hotTtlMs, notFoundTtlMs): 0 or a positive number of ms
 * up to MAX_TTL_MS (100 years; see cache/freshness.ts: an expiry must fit the wire's int64 Unix
 * nanoseconds). A larger one is refused, not clamped.
 */
function ttlOption(value: unknown, option: string, fallback: number, zero = ''): number {
  if (typeof value === 'number' && value > MAX_TTL_MS) {
    throw new ConfigError(
      option,
      `must be at most ${MAX_TTL_MS} ms (100 years: expiries travel between peers as int64 Unix nanoseconds, which end in 2262)${zero}, got ${value}`,
    );
  }
  return positive(value, option, fallback, true);
}

function checkLogger(value: unknown): GeecacheOptions['logger'] {
  if (value === undefined || value === false) return value;
  if (typeof value !== 'object' || value === null || typeof (value as { warn?: unknown }).warn !== 'function') {
    throw new ConfigError('logger', `must be an object with a warn method (console, pino, winston), or false to silence geecache; got ${typeof value}`);
  }
  return value as GeecacheOptions['logger'];
}

function flag(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(option, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}
