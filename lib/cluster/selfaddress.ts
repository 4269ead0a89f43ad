/**
 * Which peer this process is when `self` is given as a port: its entry in a peer list, or, with
 * a discovery source before any answer, this host's one address.
 */
import net from 'node:net';
import os from 'node:os';
import { baseUrl } from './peeranswer.js';

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
