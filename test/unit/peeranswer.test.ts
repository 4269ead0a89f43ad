// Which addresses a discovery answer may name: IPv4 addresses are judged by their first octet
// (fast, on every peer at every interval), and must be judged as the subnet lists judge them.
import net from 'node:net';
import { expect } from 'chai';
import { neverPeer } from '../../lib/cluster/peeranswer.js';

/** The ranges of peeranswer.ts, as a BlockList reads them: the reference. */
function reference(address: string): string | undefined {
  const ranges: [string, string, number][] = [
    ['unspecified', '0.0.0.0', 8],
    ['broadcast', '255.255.255.255', 32],
    ['multicast', '224.0.0.0', 4],
    ['reserved', '240.0.0.0', 4],
  ];
  for (const [cause, subnet, prefix] of ranges) {
    const list = new net.BlockList();
    list.addSubnet(subnet, prefix, 'ipv4');
    if (list.check(address, 'ipv4')) return cause;
  }
  return undefined;
}

describe('discovery answers: addresses that are never a peer', () => {
  it('judges every IPv4 first octet, and the edges of each range, as the subnet lists do', () => {
    const addresses = ['255.255.255.255', '255.255.255.254', '0.0.0.0', '0.255.255.255', '223.255.255.255', '239.255.255.255', '240.0.0.0', '127.1.0.1'];
    for (let first = 0; first < 256; first++) addresses.push(`${first}.0.0.1`, `${first}.255.255.255`);
    const wrong = addresses.filter((a) => neverPeer(a) !== reference(a)).map((a) => `${a}: ${neverPeer(a)} vs ${reference(a)}`);
    expect(wrong).to.deep.equal([]);
  });

  it('still judges IPv6 and IPv4-mapped addresses, and leaves names alone', () => {
    expect(neverPeer('[::]')).to.equal('unspecified');
    expect(neverPeer('ff02::1')).to.equal('multicast');
    expect(neverPeer('::ffff:224.0.0.1')).to.equal('multicast');
    expect(neverPeer('[2001:db8::1]')).to.equal(undefined);
    expect(neverPeer('peer-1.example')).to.equal(undefined);
  });
});
