/**
 * discovery.ts finds the cluster's peers from a source that follows the deployment (DNS A/AAAA or SRV
 * records, or the application's own function): the source option, its checks, and the loop that asks it.
 */

import { promises as dns } from 'node:dns';
import { checkKnown, MAX_TIMER_MS } from '../common/checks.js';
import { DEFAULTS } from '../common/defaults.js';
import { ConfigError, messageOf } from '../common/errors.js';
import { type Logger, Notices } from '../common/logger.js';
import { AnswerError, baseUrl, canonicalPeers, neverPeer, type Refusal, reasonOf, withoutNonPeers } from './peeranswer.js';

export { canonicalPeers, MAX_PEERS } from './peeranswer.js';
export { findSelf, selfFromInterfaces } from './selfaddress.js';

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
  /**
   * One lookup: the raw answer as base URLs (not yet checked). A DNS record that is never a peer
   * (see peeranswer.ts) is left out and handed to `refuse`, named as the warning names it.
   */
  readonly lookup: (refuse: (refusal: Refusal) => void) => Promise<unknown>;
}

/** A lookup still running after this long fails (the DNS resolver has its own, shorter timeouts). */
const LOOKUP_TIMEOUT_MS = 10_000;
/** Longest error text of a failed lookup kept and logged: a source's errors may be long, or anyone's text. */
const MAX_ERROR_TEXT = 300;
/** At most one lookup triggered by failing peers per this long. */
const POKE_MIN_MS = 1_000;
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
  checkKnown(s, known, 'peers.');
  const intervalMs = s.intervalMs ?? DEFAULTS.discovery.intervalMs;
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
  const protocol = s.protocol ?? DEFAULTS.discovery.protocol;
  if (protocol !== 'http' && protocol !== 'https') throw new ConfigError('peers.protocol', `must be 'http' or 'https', got ${JSON.stringify(protocol)}`);
  const family = s.family ?? DEFAULTS.discovery.family;
  if (family !== 4 && family !== 6) throw new ConfigError('peers.family', `must be 4 (A records) or 6 (AAAA records), got ${JSON.stringify(family)}`);
  const resolver = makeResolver(s.resolver);
  if (kinds[0] === 'dns') {
    const port = s.port;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
      throw new ConfigError('peers.port', `must be the port every peer listens on (1-65535), got ${JSON.stringify(port)}`);
    }
    const record = family === 4 ? 'A' : 'AAAA';
    const lookup = async (refuse: (refusal: Refusal) => void) =>
      admitted(await addresses(resolver, name, family), (a) => `${record} record ${a} of ${name}`, refuse).map((a) => baseUrl(protocol, a, port as number));
    return Object.freeze({ kind: 'dns' as const, label: `dns ${name}:${port}`, intervalMs, family, protocol, lookup });
  }
  const lookup = async (refuse: (refusal: Refusal) => void) => srvLookup(resolver, name, family, protocol, refuse);
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

/**
 * Each SRV record as `protocol://address:port`, its target resolved. A malformed record (target
 * ".", RFC 2782's "no service here", or not a host name) or a target that does not resolve fails
 * the whole answer; a record on port 0, or a target address that is never a peer, is refused.
 */
async function srvLookup(resolver: dns.Resolver, name: string, family: 4 | 6, protocol: string, refuse: (refusal: Refusal) => void): Promise<string[]> {
  const records = await resolver.resolveSrv(name);
  const urls: string[] = [];
  for (const r of records) {
    if (!r.name || r.name === '.') throw new AnswerError('EBADRECORD', `malformed SRV record for ${name}: target "." (no service here) is not a peer`);
    if (!HOSTNAME.test(r.name))
      throw new AnswerError('EBADRECORD', `malformed SRV record for ${name}: target ${JSON.stringify(r.name.slice(0, 253))} is not a host name`);
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) {
      refuse({ record: `SRV record ${r.name}:${r.port} of ${name}`, cause: 'port 0' });
      continue;
    }
    let found: string[];
    try {
      found = await addresses(resolver, r.name, family);
    } catch (err) {
      throw new AnswerError('EUNRESOLVED', `SRV target ${r.name} of ${name} does not resolve: ${messageOf(err)}`);
    }
    for (const a of admitted(found, (address) => `address ${address} of SRV target ${r.name} of ${name}`, refuse)) urls.push(baseUrl(protocol, a, r.port));
  }
  return urls;
}

/** The `addresses` a peer may have; each other one is handed to `refuse`, named by `record`. */
function admitted(addresses: string[], record: (address: string) => string, refuse: (refusal: Refusal) => void): string[] {
  return addresses.filter((address) => {
    const cause = neverPeer(address);
    if (cause !== undefined) refuse({ record: record(address), cause });
    return cause === undefined;
  });
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
 * (see {@link canonicalPeers}), so every peer that sees the same answer builds the same ring;
 * records that are never a peer (an unspecified, broadcast, multicast or reserved address, port
 * 0) are left out. A failed or bad answer keeps the last good list. Warnings are grouped by
 * cause — an error's name and code, not its text, which may change on every call — and each
 * cause is warned about once, then counted (see Notices), with its text cut to 300 characters.
 */
export class Discovery {
  readonly source: SourceConfig;
  /** Counters, for tests and metrics. */
  readonly stats = { lookups: 0, failures: 0, changes: 0, refused: 0 };
  readonly #hooks: DiscoveryHooks;
  readonly #notices: Notices;
  /** Whether the failure since the last good answer was logged: its recovery is then logged too. */
  #failureLogged = false;
  #last: string[] | undefined;
  /** The last answer that was good, as it came, with what its checks found: the same answer again is not checked again. */
  #lastGood: { raw: unknown[]; refused: Refusal[]; peers: string[] } | undefined;
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
    this.#notices = new Notices(hooks.logger);
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
    const label = this.source.label;
    let peers: string[];
    try {
      const refused: Refusal[] = [];
      const raw = await withTimeout(
        this.source.lookup((refusal) => refused.push(refusal)),
        LOOKUP_TIMEOUT_MS,
      );
      // An answer the same as the last good one (the usual case: records rarely change) is not
      // checked again: at 1,000 peers the checks parse thousands of URLs, on every peer, every interval.
      const again = this.#lastGood && sameEntries(raw, this.#lastGood.raw) ? this.#lastGood : undefined;
      const checked = again ? { answer: raw, refused: again.refused } : withoutNonPeers(raw);
      refused.push(...checked.refused);
      if (this.#closed) return;
      this.#refused(refused);
      if (refused.length > 0 && Array.isArray(checked.answer) && checked.answer.length === 0)
        throw new AnswerError('EREFUSED', `every record was refused (${refused[0].record}: ${reasonOf(refused[0].cause)})`);
      peers = again ? again.peers : canonicalPeers(checked.answer);
      if (!again && Array.isArray(raw)) this.#lastGood = { raw: [...raw], refused: checked.refused, peers };
    } catch (err) {
      if (this.#closed) return;
      this.stats.failures++;
      const keeping = this.#last ? `keeping the last good list of ${this.#last.length} peers` : 'serving alone until it answers';
      const message = `peer discovery (${label}) failed: ${bounded(messageOf(err))}; ${keeping}`;
      if (this.#notices.warn(`failed:${causeOf(err)}`, () => message)) this.#failureLogged = true;
      this.#lastError = `geecache: ${message}`;
      return;
    }
    if (this.#closed) return;
    if (this.#lastError && this.#failureLogged) this.#hooks.logger.info?.(`geecache: peer discovery (${label}) answers again: ${peers.length} peers`);
    this.#lastError = undefined;
    this.#failureLogged = false;
    const changed = !this.#last || this.#last.join('\n') !== peers.join('\n');
    this.#last = peers;
    if (changed) {
      this.stats.changes++;
      try {
        this.#hooks.onChange(peers);
      } catch (err) {
        this.#notices.warn(`apply:${causeOf(err)}`, () => `peer discovery (${label}): could not apply the answer: ${bounded(messageOf(err))}`);
      }
    }
    this.#resolveFirst();
  }

  /** Warns about refused records, once per cause (naming the first record refused for it), and counts them. */
  #refused(refused: Refusal[]): void {
    this.stats.refused += refused.length;
    for (const { record, cause } of refused) {
      this.#notices.warn(
        `refused:${cause}`,
        () =>
          `peer discovery (${this.source.label}) refused ${bounded(record)}: ${reasonOf(cause)}, so it is never a peer; the answer's other records are used`,
      );
    }
  }
}

/** True when `answer` is an array of the same entries, in the same order, as `last`. */
function sameEntries(answer: unknown, last: unknown[]): boolean {
  if (!Array.isArray(answer) || answer.length !== last.length) return false;
  for (let i = 0; i < last.length; i++) if (answer[i] !== last[i]) return false;
  return true;
}

/** `text`, cut to {@link MAX_ERROR_TEXT} characters. */
const bounded = (text: string): string => (text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text);

/**
 * What a failed lookup's warnings are grouped by: the error's name and code (ENOTFOUND, a
 * {@link AnswerError}'s), never its message, which may change on every call (a request id, a
 * time). A name or code that is not a short token counts as none.
 */
function causeOf(err: unknown): string {
  const token = (read: () => unknown) => {
    try {
      const value = read();
      return typeof value === 'string' && /^[\w$.-]{1,64}$/.test(value) ? value : '';
    } catch {
      return '';
    }
  };
  return `${token(() => (err as { name?: unknown }).name)}:${token(() => (err as { code?: unknown }).code)}`;
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AnswerError('ETIMEOUT', `no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
