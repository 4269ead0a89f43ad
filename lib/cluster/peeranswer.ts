/**
 * What a discovery answer may contain: base URLs, each at most once, each a place a peer can
 * listen. Addresses that are never a peer (unspecified, broadcast, multicast, reserved) and port
 * 0 are refused one record at a time, so one such record in a DNS answer neither joins the ring
 * nor blocks the rest of the answer.
 */

import net from 'node:net';
import { originOf } from '../common/checks.js';
import { describe } from '../common/describe.js';

/** More peers than this in one answer is a broken source, not a cluster. */
export const MAX_PEERS = 1024;

/** Why a record is never a peer: the cause its warnings are grouped by, and the words they use. */
export type RefusalCause = 'unspecified' | 'broadcast' | 'multicast' | 'reserved' | 'port 0';

const REASONS: Record<RefusalCause, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8, ::) names no host',
  broadcast: 'the broadcast address 255.255.255.255 names every host of a network',
  multicast: 'a multicast address (224.0.0.0/4, ff00::/8) names a group, not a host',
  reserved: 'a reserved address (240.0.0.0/4) is routed nowhere',
  'port 0': 'port 0 cannot be listened on',
};

/** Why a record of `cause` is refused, for a warning. */
export const reasonOf = (cause: RefusalCause): string => REASONS[cause];

/** One refused record: how warnings name it, and why. */
export interface Refusal {
  record: string;
  cause: RefusalCause;
}

/** A subnet list that is filled once here and only read afterwards. */
function ranges(v4: [string, number][], v6: [string, number][]): net.BlockList {
  const list = new net.BlockList();
  for (const [address, prefix] of v4) list.addSubnet(address, prefix, 'ipv4');
  for (const [address, prefix] of v6) list.addSubnet(address, prefix, 'ipv6');
  return list;
}

/**
 * Ranges that are never a peer, checked in this order (255.255.255.255 lies inside 240.0.0.0/4).
 * Read-only after this line: BlockList.check matches IPv4-mapped IPv6 (::ffff:224.0.0.1) too.
 */
const NEVER_PEER: readonly [RefusalCause, net.BlockList][] = [
  ['unspecified', ranges([['0.0.0.0', 8]], [['::', 128]])],
  ['broadcast', ranges([['255.255.255.255', 32]], [])],
  ['multicast', ranges([['224.0.0.0', 4]], [['ff00::', 8]])],
  ['reserved', ranges([['240.0.0.0', 4]], [])],
];

/** Why the IP address `host` (brackets allowed) is never a peer, or undefined (a name, or an address a peer may have). */
export function neverPeer(host: string): RefusalCause | undefined {
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = net.isIP(address);
  if (family === 0) return undefined;
  // IPv4 by its first octet, as the ranges below read (BlockList.check makes a SocketAddress per call: ~10x the cost).
  if (family === 4) {
    const first = Number(address.slice(0, address.indexOf('.')));
    if (first === 0) return 'unspecified';
    if (address === '255.255.255.255') return 'broadcast';
    if (first >= 224) return first < 240 ? 'multicast' : 'reserved';
    return undefined;
  }
  const type = 'ipv6';
  for (const [cause, list] of NEVER_PEER) if (list.check(address, type)) return cause;
  return undefined;
}

/** Why the base URL `origin` is never a peer (its address, or port 0), or undefined. */
function refusedOrigin(origin: string): RefusalCause | undefined {
  const url = new URL(origin);
  return url.port === '0' ? 'port 0' : neverPeer(url.hostname);
}

/**
 * An answer without the entries that are never a peer (an address {@link neverPeer} refuses, or
 * port 0), and those entries; anything else is left for {@link canonicalPeers} to judge.
 */
export function withoutNonPeers(answer: unknown): { answer: unknown; refused: Refusal[] } {
  if (!Array.isArray(answer) || answer.length > MAX_PEERS) return { answer, refused: [] };
  const refused: Refusal[] = [];
  const kept = answer.filter((entry, i) => {
    const origin = originOf(entry);
    const cause = origin === undefined ? undefined : refusedOrigin(origin);
    if (cause !== undefined) refused.push({ record: `entry ${i} (${origin})`, cause });
    return cause === undefined;
  });
  return { answer: kept, refused };
}

/** A failed or unusable discovery answer; `code` is its cause, by which its warnings are grouped. */
export class AnswerError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'AnswerError';
    this.code = code;
  }
}

/**
 * Checks one answer and puts it in the canonical form every peer derives from the same answer:
 * each entry an origin (`http://10.0.0.1:3000`), sorted. Throws an {@link AnswerError} saying what
 * is wrong with it: not an array, not base URLs, duplicates, empty, over {@link MAX_PEERS}.
 */
export function canonicalPeers(answer: unknown): string[] {
  if (!Array.isArray(answer)) throw new AnswerError('ENOTARRAY', `the answer is not an array of base URLs: got ${describe(answer, 80)}`);
  if (answer.length === 0) throw new AnswerError('EEMPTY', 'the answer is empty');
  if (answer.length > MAX_PEERS) throw new AnswerError('ETOOMANY', `the answer has ${answer.length} peers, over the limit of ${MAX_PEERS}`);
  const seen = new Set<string>();
  answer.forEach((entry, i) => {
    const origin = originOf(entry);
    if (origin === undefined) throw new AnswerError('EBADENTRY', `entry ${i} is not a base URL such as "http://10.0.0.1:3000": ${describe(entry, 80)}`);
    if (seen.has(origin)) throw new AnswerError('EDUPLICATE', `entry ${i} (${origin}) is listed twice`);
    seen.add(origin);
  });
  return [...seen].sort();
}

/** The base URL of a peer at `address` (IPv6 in brackets) on `port`. */
export function baseUrl(protocol: string, address: string, port: number): string {
  return new URL(`${protocol}://${net.isIPv6(address) ? `[${address}]` : address}:${port}`).origin;
}
