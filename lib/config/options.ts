/**
 * options.ts turns what the application passed to geecache() into the checked, complete settings
 * every part is built from ({@link Config}), or a ConfigError naming the option and the fix. It
 * checks each option once; a group's options are checked by cache/groupoptions.ts, a discovery
 * source by cluster/discovery.ts, with the same rules (common/checks.ts).
 */

import { type GroupConfig, resolveGroup } from '../cache/groupoptions.js';
import type { PeerTls, TransportName } from '../client/transport.js';
import { loadUndici } from '../client/undici.js';
import { checkSource, findSelf, isSource, type SourceConfig, selfFromInterfaces } from '../cluster/discovery.js';
import { checkKnown, checkPeers, checkPeerUrl, flag, MAX_TIMER_MS, originOf, positive, suggest } from '../common/checks.js';
import { DEFAULTS } from '../common/defaults.js';
import { ConfigError } from '../common/errors.js';
import { type FullLogger, resolveLogger } from '../common/logger.js';
import type { RingOption } from '../ring/types.js';
import { checkTls } from './tls.js';
import type { GeecacheOptions } from './types.js';

/** {@link GeecacheOptions}, checked, with defaults filled in; frozen. */
export interface Config {
  readonly self: string;
  readonly peers: readonly string[];
  /** undefined: a lone peer without one (its peer route answers 403). */
  readonly secret: string | false | undefined;
  /** Each group's options, checked once here: the groups are made from these as they are. */
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
  /** The `tls` option's client half (config/tls.ts); undefined: Node's defaults. */
  readonly tls: PeerTls | undefined;
  /** Refuse peer requests without a verified client certificate (`tls.requireClientCert`). */
  readonly requireClientCert: boolean;
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
  'tls',
  'logger',
];
/** Keys JavaScript orders before all others in an object: array indices. */
const INTEGER_LIKE = /^(0|[1-9][0-9]{0,9})$/;
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
  const ring: RingOption = options.ring ?? DEFAULTS.ring;
  if (ring !== 'default' && ring !== 'groupcache' && ring !== 'maglev' && ring !== 'bounded' && typeof ring !== 'function') {
    throw new ConfigError('ring', `must be 'default', 'groupcache', 'maglev', 'bounded' or a function returning a Ring, got ${JSON.stringify(ring)}`);
  }
  const groups = checkGroups(options.groups);
  const tls = checkTls(options.tls, self);
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
    backoffMs: positive(options.backoffMs, 'backoffMs', DEFAULTS.backoffMs, true, MAX_TIMER_MS),
    maxSockets: positive(options.maxSockets, 'maxSockets', DEFAULTS.maxSockets),
    batch: flag(options.batch, 'batch', DEFAULTS.batch),
    fastPath: flag(options.fastPath, 'fastPath', DEFAULTS.fastPath),
    handoffMs: positive(options.handoffMs, 'handoffMs', DEFAULTS.handoffMs, true, MAX_TIMER_MS),
    drainOnSigterm: flag(options.drainOnSigterm, 'drainOnSigterm', DEFAULTS.drainOnSigterm),
    transport: checkTransport(options.transport),
    tls: tls.client,
    requireClientCert: tls.requireClientCert,
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

function checkLogger(value: unknown): GeecacheOptions['logger'] {
  if (value === undefined || value === false) return value;
  if (typeof value !== 'object' || value === null || typeof (value as { warn?: unknown }).warn !== 'function') {
    throw new ConfigError('logger', `must be an object with a warn method (console, pino, winston), or false to silence geecache; got ${typeof value}`);
  }
  return value as GeecacheOptions['logger'];
}
