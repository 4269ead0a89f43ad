// RequestSigner: HMAC signatures over method, target peer, request line, time and body; the
// per-second client signature; the verified-signature memo.
import { expect } from 'chai';
import { digestOf, MAX_CLOCK_SKEW_MS, RequestSigner, type SignedRequest } from '../../lib/protocol/auth.js';

describe('RequestSigner', () => {
  const url = 'http://127.0.0.1:3000/_geecache/scores/k';
  const get = (over: Partial<SignedRequest> = {}): SignedRequest => ({ method: 'GET', url, length: '', digest: '', ...over });

  it('verifies its own signatures and refuses other secrets, peers, request lines, methods and bodies', () => {
    const a = new RequestSigner('secret-a-0123456789');
    const b = new RequestSigner('secret-b-0123456789');
    const sig = a.sign('GET', url);
    expect(a.verify(get(), sig)).to.equal(true);
    expect(b.verify(get(), sig)).to.equal(false);
    expect(a.verify(get({ url: `${url}x` }), sig)).to.equal(false);
    expect(a.verify(get({ url: `${url}?x=1` }), sig), 'a query appended').to.equal(false);
    expect(a.verify(get({ url: url.replace(':3000', ':3001') }), sig), 'another peer').to.equal(false);
    expect(a.verify(get({ method: 'POST' }), sig)).to.equal(false);
    expect(a.verify(get({ length: '5' }), sig), 'a body the signature does not cover').to.equal(false);
    const body = Buffer.from('batch');
    const batch = 'http://127.0.0.1:3000/_geecache/';
    const signedBody = a.sign('POST', batch, Date.now(), body);
    const post = { method: 'POST', url: batch, length: '5', digest: digestOf(body) };
    expect(a.verify(post, signedBody)).to.equal(true);
    expect(a.verify({ ...post, digest: digestOf(Buffer.from('batcH')) }, signedBody)).to.equal(false);
    expect(a.verify({ ...post, length: '6' }, signedBody)).to.equal(false);
    expect(a.verify({ ...post, length: 'chunked' }, signedBody)).to.equal(false);
    // A body given as its length and digest (hashed once by the caller) is signed the same.
    const now = Date.now();
    expect(a.sign('POST', batch, now, { length: 5, digest: digestOf(body) })).to.equal(a.sign('POST', batch, now, body));
  });

  it('signFor reuses one signature per peer and path for the rest of the second', () => {
    const s = new RequestSigner('secret-a-0123456789');
    const t = 1_700_000_000_000;
    expect(s.signFor('GET', url, t + 10)).to.equal(s.signFor('GET', url, t + 990));
    expect(s.signFor('GET', url, t + 10)).to.not.equal(s.signFor('GET', url, t + 1000));
    expect(s.signFor('GET', url, t + 10)).to.not.equal(s.signFor('GET', `${url}2`, t + 10));
    expect(s.signFor('GET', url, t + 10)).to.not.equal(s.signFor('GET', url.replace(':3000', ':3001'), t + 10));
    expect(s.verify(get(), s.signFor('GET', url, t + 500), t + 600)).to.equal(true);
  });

  it(`refuses a signature older than the ${MAX_CLOCK_SKEW_MS / 1000} s window, also once remembered`, () => {
    const s = new RequestSigner('secret-a-0123456789');
    const t = Date.now();
    expect(MAX_CLOCK_SKEW_MS).to.equal(30_000);
    expect(s.verify(get(), s.sign('GET', url, t - 31_000), t)).to.equal(false);
    expect(s.verify(get(), s.sign('GET', url, t + 31_000), t)).to.equal(false);
    const sig = s.sign('GET', url, t);
    expect(s.verify(get(), sig, t)).to.equal(true); // now remembered
    expect(s.verify(get(), sig, t + 20_000)).to.equal(true);
    expect(s.verify(get(), sig, t + MAX_CLOCK_SKEW_MS + 1)).to.equal(false);
    // A remembered signature is only good for the request it signed.
    expect(s.verify(get({ url: `${url}x` }), sig, t)).to.equal(false);
    expect(s.verify(get({ url: `${url}?x=1` }), sig, t)).to.equal(false);
  });

  it('verifyBodyless (origin and target apart) accepts exactly what verify accepts, remembered or not', () => {
    const s = new RequestSigner('secret-a-0123456789');
    const t = Date.now();
    const origin = 'http://127.0.0.1:3000';
    const target = '/_geecache/scores/k';
    const sig = s.sign('GET', origin + target, t);
    // Before and after the signature is remembered (the first success remembers it).
    for (let round = 0; round < 2; round++) {
      expect(s.verifyBodyless('GET', origin, target, sig, t), `round ${round}`).to.equal(true);
      // The same characters split elsewhere are the same URL; anything else is not.
      expect(s.verifyBodyless('GET', `${origin}/_geecache`, '/scores/k', sig, t)).to.equal(true);
      expect(s.verifyBodyless('GET', 'http://127.0.0.1:3001', target, sig, t), 'another peer').to.equal(false);
      expect(s.verifyBodyless('GET', origin, '/_geecache/scores/K', sig, t), 'another key of the same length').to.equal(false);
      expect(s.verifyBodyless('GET', origin, `${target}?x=1`, sig, t), 'a query appended').to.equal(false);
      expect(s.verifyBodyless('DELETE', origin, target, sig, t), 'another method').to.equal(false);
      expect(s.verifyBodyless('GET', origin, target, undefined, t), 'no signature').to.equal(false);
      expect(s.verifyBodyless('GET', origin, target, sig, t + MAX_CLOCK_SKEW_MS + 1), 'stale').to.equal(false);
    }
    // A signature remembered from verify() is the same one verifyBodyless finds, and the reverse.
    const other = s.sign('GET', `${origin}/_geecache/scores/j`, t);
    expect(s.verify(get({ url: `${origin}/_geecache/scores/j` }), other, t)).to.equal(true);
    expect(s.verifyBodyless('GET', origin, '/_geecache/scores/j', other, t)).to.equal(true);
    expect(s.verify(get({ url: `${origin}/_geecache/scores/i` }), other, t)).to.equal(false);
    expect(new RequestSigner('secret-b-0123456789').verifyBodyless('GET', origin, target, sig, t), 'another secret').to.equal(false);
  });
});
