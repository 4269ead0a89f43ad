import { promises as dns } from 'node:dns';
import net from 'node:net';
import os from 'node:os';
import { ConfigError, messageOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

/** Settings every dynamic source shares. */
interface SourceTiming {
  /** Ask again this often. Default 10,000 ms. A failing peer also triggers a new ask (at most once a second). */
  intervalMs?: number;
}

/**
 * A/AAAA records of a name, each address a peer on `port`: a Kubernetes headless Service
 * (`my-app.my-namespace.svc.cluster.local`).
 */
export interface DnsSource extends SourceTiming {
  dns: string;
  /** The port every peer listens on. */
  port: number;
  /** Default `'http'`. */
  protocol?: 'http' | 'https';
  /** 4 (A records, the default) or 6 (AAAA). */
  family?: 4 | 6;
  /** DNS server(s) to ask, e.g. `'10.96.0.10'` or `'127.0.0.1:5353'`. Default: the system's. */
  resolver?: string | string[];
}

/** SRV records of a name (`_http._tcp.my-app.my-namespace.svc.cluster.local`): each target's address and port is a peer. */
export interface SrvSource extends SourceTiming {
  srv: string;
  /** Default `'http'`. */
  protocol?: 'http' | 'https';
  /** Targets are resolved to addresses of this family: 4 (default) or 6. */
  family?: 4 | 6;
  /** DNS server(s) to ask, e.g. `'127.0.0.1:5353'`. Default: the system's. */
  resolver?: string | string[];
}

/** Your own lookup (a service registry, a cloud API): every peer's base URL, self included. */
export interface FunctionSource extends SourceTiming {
  discover: () => Promise<string[]> | string[];
}

/** Where the peer list comes from when it is not a fixed array. */
export type PeerSource = DnsSource | SrvSource | FunctionSource;

/** A {@link PeerSource}, checked, with defaults filled in. */
export interface SourceConfig {
  readonly kind: 'dns' | 'srv' | 'function';
  /** How reports name the source, e.g. `dns peers.test:4000`. */
  readonly label: string;
  readonly intervalMs: number;
  /** The address family and scheme of the peers it finds (self given as a port is built with them). */
  readonly family: 4 | 6;
  readonly protocol: 'http' | 'https';
  /** One lookup: the raw answer as base URLs (not yet checked). */
  readonly lookup: () => Promise<unknown>;
}

export const DISCOVERY_DEFAULTS = Object.freeze({ intervalMs: 10_000, family: 4, protocol: 'http' });
/** More peers than this in one answer is a broken source, not a cluster. */
export const MAX_PEERS = 1024;
/** A lookup still running after this long fails (the DNS resolver has its own, shorter timeouts). */
const LOOKUP_TIMEOUT_MS = 10_000;
/** At most one lookup triggered by failing peers per this long. */
const POKE_MIN_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** True when `peers` is a discovery source rather than a list. */
export function isSource(peers: unknown): peers is PeerSource {
  return typeof peers === 'object' && peers !== null && !Array.isArray(peers);
}

/** Checks a {@link PeerSource} given as option `peers`; throws a ConfigError naming the field and the fix. */
export function checkSource(source: PeerSource): SourceConfig {
  const s = source as unknown as Record<string, unknown>;
  const kinds = ['dns', 'srv', 'discover'].filter((k) => s[k] !== undefined);
  const example =
    "{ dns: 'my-app.default.svc.cluster.local', port: 3000 }, { srv: '_http._tcp.my-app.default.svc.cluster.local' } or { discover: async () => [...urls] }";
  if (kinds.length !== 1)
    throw new ConfigError(
      'peers',
      `must be a non-empty array of base URLs, self included, or one discovery source (${example}); got fields ${JSON.stringify(Object.keys(s))}`,
    );
  const known = {
    dns: ['dns', 'port', 'protocol', 'family', 'resolver', 'intervalMs'],
    srv: ['srv', 'protocol', 'family', 'resolver', 'intervalMs'],
    discover: ['discover', 'intervalMs'],
  }[kinds[0] as 'dns' | 'srv' | 'discover'];
  for (const key of Object.keys(s))
    if (!known.includes(key)) throw new ConfigError(`peers.${key}`, `is not a field of this source; its fields are: ${known.join(', ')}`);
  const intervalMs = s.intervalMs ?? DISCOVERY_DEFAULTS.intervalMs;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 100 || intervalMs > MAX_TIMER_MS) {
    throw new ConfigError('peers.intervalMs', `must be a number of milliseconds from 100 to ${MAX_TIMER_MS}, got ${JSON.stringify(s.intervalMs)}`);
  }
  if (kinds[0] === 'discover') {
    if (typeof s.discover !== 'function')
      throw new ConfigError('peers.discover', "must be a function returning (a promise of) every peer's base URL, self included");
    const discover = s.discover as () => unknown;
    return Object.freeze({
      kind: 'function' as const,
      label: `function ${discover.name || 'discover'}`,
      intervalMs,
      family: 4 as const,
      protocol: 'http' as const,
      lookup: async () => discover(),
    });
  }
  const name = s[kinds[0]];
  if (typeof name !== 'string' || !HOSTNAME.test(name))
    throw new ConfigError(`peers.${kinds[0]}`, `must be a DNS name such as "my-app.default.svc.cluster.local", got ${JSON.stringify(name)}`);
  const protocol = s.protocol ?? DISCOVERY_DEFAULTS.protocol;
  if (protocol !== 'http' && protocol !== 'https') throw new ConfigError('peers.protocol', `must be 'http' or 'https', got ${JSON.stringify(protocol)}`);
  const family = s.family ?? DISCOVERY_DEFAULTS.family;
  if (family !== 4 && family !== 6) throw new ConfigError('peers.family', `must be 4 (A records) or 6 (AAAA records), got ${JSON.stringify(family)}`);
  const resolver = makeResolver(s.resolver);
  if (kinds[0] === 'dns') {
    const port = s.port;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
      throw new ConfigError('peers.port', `must be the port every peer listens on (1-65535), got ${JSON.stringify(port)}`);
    }
    const lookup = async () => (await addresses(resolver, name, family)).map((a) => baseUrl(protocol, a, port as number));
    return Object.freeze({ kind: 'dns' as const, label: `dns ${name}:${port}`, intervalMs, family, protocol, lookup });
  }
  const lookup = async () => srvLookup(resolver, name, family, protocol);
  return Object.freeze({ kind: 'srv' as const, label: `srv ${name}`, intervalMs, family, protocol, lookup });
}

function makeResolver(servers: unknown): dns.Resolver {
  const resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
  if (servers === undefined) return resolver;
  const list = Array.isArray(servers) ? servers : [servers];
  const hint = "must be a DNS server address such as '10.96.0.10' or '127.0.0.1:5353' (or a list of them)";
  if (list.length === 0 || !list.every((x) => typeof x === 'string')) throw new ConfigError('peers.resolver', `${hint}, got ${JSON.stringify(servers)}`);
  try {
    resolver.setServers(list);
  } catch (err) {
    throw new ConfigError('peers.resolver', `${hint}, got ${JSON.stringify(servers)} (${(err as Error).message})`);
  }
  return resolver;
}

async function addresses(resolver: dns.Resolver, name: string, family: 4 | 6): Promise<string[]> {
  return family === 4 ? resolver.resolve4(name) : resolver.resolve6(name);
}

/** Each SRV record as `protocol://address:port`, its target resolved; any malformed record fails the whole answer. */
async function srvLookup(resolver: dns.Resolver, name: string, family: 4 | 6, protocol: string): Promise<string[]> {
  const records = await resolver.resolveSrv(name);
  const urls: string[] = [];
  for (const r of records) {
    // "." is RFC 2782's "no service here"; port 0 cannot be listened on.
    if (!r.name || r.name === '.') throw new Error(`malformed SRV record for ${name}: target "." (no service here) is not a peer`);
    if (!HOSTNAME.test(r.name)) throw new Error(`malformed SRV record for ${name}: target ${JSON.stringify(r.name)} is not a host name`);
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw new Error(`malformed SRV record for ${name}: target ${r.name} has port ${r.port}`);
    let found: string[];
    try {
      found = await addresses(resolver, r.name, family);
    } catch (err) {
      throw new Error(`SRV target ${r.name} of ${name} does not resolve: ${(err as Error).message}`);
    }
    for (const a of found) urls.push(baseUrl(protocol, a, r.port));
  }
  return urls;
}

function baseUrl(protocol: string, address: string, port: number): string {
  return new URL(`${protocol}://${net.isIPv6(address) ? `[${address}]` : address}:${port}`).origin;
}

/**
 * Checks one answer and puts it in the canonical form every peer derives from the same answer:
 * each entry an origin (`http://10.0.0.1:3000`), sorted. Throws an Error saying what is wrong
 * with it: not an array, not base URLs, duplicates, empty, over {@link MAX_PEERS}.
 */
export function canonicalPeers(answer: unknown): string[] {
  if (!Array.isArray(answer)) throw new Error(`the answer is not an array of base URLs: got ${describe(answer)}`);
  if (answer.length === 0) throw new Error('the answer is empty');
  if (answer.length > MAX_PEERS) throw new Error(`the answer has ${answer.length} peers, over the limit of ${MAX_PEERS}`);
  const seen = new Set<string>();
  answer.forEach((entry, i) => {
    const origin = originOf(entry);
    if (origin === undefined) throw new Error(`entry ${i} is not a base URL such as "http://10.0.0.1:3000": ${describe(entry)}`);
    if (seen.has(origin)) throw new Error(`entry ${i} (${origin}) is listed twice`);
    seen.add(origin);
  });
  return [...seen].sort();
}

/** The origin of a base URL (http or https, no path, query or credentials), else undefined. */
export function originOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password || !/^https?:\/\/[^\s/\\?#@]+\/?$/i.test(value)) return undefined;
  return url.origin;
}

function describe(value: unknown): string {
  const text = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/**
 * This process's entry in `peers` when `self` is given as a port: the one entry on that port
 * whose address belongs to this host (an address of one of its interfaces, or within a loopback
 * interface's range). Undefined when none or several match; `why` then says which.
 */
export function findSelf(port: number, peers: readonly string[], interfaces = os.networkInterfaces()): { self?: string; why?: string } {
  const local = new net.BlockList();
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      const type = i.family === 'IPv4' ? 'ipv4' : 'ipv6';
      if (i.internal && i.cidr) local.addSubnet(i.address, Number(i.cidr.split('/')[1]), type);
      else local.addAddress(i.address, type);
    }
  }
  const matches = peers.filter((p) => {
    const url = new URL(p);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const family = net.isIP(host);
    return Number(url.port || (url.protocol === 'https:' ? 443 : 80)) === port && family !== 0 && local.check(host, family === 4 ? 'ipv4' : 'ipv6');
  });
  if (matches.length === 1) return { self: matches[0] };
  if (matches.length === 0) return { why: `no peer in [${peers.join(', ')}] is on port ${port} at an address of this host` };
  return { why: `several peers are on port ${port} at addresses of this host (${matches.join(', ')}): give self as a URL` };
}

/**
 * Self when it is given as a port with a discovery source, before any answer: this host's one
 * non-loopback address of `family` (a pod's, a VM's), on `port`. Undefined when the host has
 * none or several (docker0, a second NIC); `why` then lists them.
 */
export function selfFromInterfaces(
  port: number,
  family: 4 | 6,
  protocol: 'http' | 'https',
  interfaces = os.networkInterfaces(),
): { self?: string; why?: string } {
  const wanted = family === 4 ? 'IPv4' : 'IPv6';
  const addresses = Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal && i.family === wanted && !(family === 6 && i.address.toLowerCase().startsWith('fe80:')))
    .map((i) => i.address);
  const unique = [...new Set(addresses)];
  if (unique.length === 1) return { self: baseUrl(protocol, unique[0], port) };
  return {
    why: unique.length === 0 ? `this host has no non-loopback IPv${family} address` : `this host has several IPv${family} addresses (${unique.join(', ')})`,
  };
}

/** What {@link Discovery} calls. */
export interface DiscoveryHooks {
  /** A new, different, canonical answer. */
  onChange(peers: string[]): void;
  logger: Logger;
}

/**
 * Runs a {@link PeerSource}: asks at once, then every `intervalMs`, and again (at most once a
 * second) when {@link poke}d because a peer failed. Each answer is checked and made canonical
 * (see {@link canonicalPeers}), so every peer that sees the same answer builds the same ring. A
 * failed or bad answer keeps the last good list and is reported once, until the source recovers.
 */
export class Discovery {
  readonly source: SourceConfig;
  /** Counters, for tests and metrics. */
  readonly stats = { lookups: 0, failures: 0, changes: 0 };
  readonly #hooks: DiscoveryHooks;
  #last: string[] | undefined;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastPoke = 0;
  #closed = false;
  #firstAnswer: Promise<void>;
  #resolveFirst!: () => void;

  constructor(source: SourceConfig, hooks: DiscoveryHooks) {
    this.source = source;
    this.#hooks = hooks;
    this.#firstAnswer = new Promise((resolve) => (this.#resolveFirst = resolve));
    void this.#run();
  }

  /** The last good answer, canonical; undefined before the first. */
  get peers(): readonly string[] | undefined {
    return this.#last;
  }

  /** The last lookup's error, or undefined when it succeeded. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Resolves once the first good answer is in (never rejects; see {@link lastError}). */
  whenAnswered(): Promise<void> {
    return this.#firstAnswer;
  }

  /** Asks again soon: a peer failed, so membership may have changed. */
  poke(): void {
    const now = Date.now();
    if (this.#closed || this.#running || now - this.#lastPoke < POKE_MIN_MS) return;
    this.#lastPoke = now;
    clearTimeout(this.#timer);
    void this.#run();
  }

  /** Looks up now; resolves when done (a lookup already running is joined). */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    clearTimeout(this.#timer);
    return this.#running ?? this.#run();
  }

  /** Stops asking; the last list stays as it is. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #run(): Promise<void> {
    this.#running = this.#lookupOnce().finally(() => {
      this.#running = undefined;
      if (this.#closed) return;
      this.#timer = setTimeout(() => void this.#run(), this.source.intervalMs);
      this.#timer.unref();
    });
    return this.#running;
  }

  async #lookupOnce(): Promise<void> {
    this.stats.lookups++;
    let peers: string[];
    try {
      peers = canonicalPeers(await withTimeout(this.source.lookup(), LOOKUP_TIMEOUT_MS));
    } catch (err) {
      if (this.#closed) return;
      this.stats.failures++;
      const message = `geecache: peer discovery (${this.source.label}) failed: ${messageOf(err)}; ${
        this.#last ? `keeping the last good list of ${this.#last.length} peers` : 'serving alone until it answers'
      }`;
      if (message !== this.#lastError) this.#hooks.logger.warn(message);
      this.#lastError = message;
      return;
    }
    if (this.#closed) return;
    if (this.#lastError) this.#hooks.logger.info?.(`geecache: peer discovery (${this.source.label}) answers again: ${peers.length} peers`);
    this.#lastError = undefined;
    const changed = !this.#last || this.#last.join('\n') !== peers.join('\n');
    this.#last = peers;
    if (changed) {
      this.stats.changes++;
      try {
        this.#hooks.onChange(peers);
      } catch (err) {
        this.#hooks.logger.warn(`geecache: peer discovery (${this.source.label}): could not apply the answer: ${messageOf(err)}`);
      }
    }
    this.#resolveFirst();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
