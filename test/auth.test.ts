// RequestSigner: HMAC signatures, the per-second client signature, the verified-signature memo.
import { expect } from 'chai';
import { RequestSigner } from '../lib/auth.js';

describe('RequestSigner', () => {
  const path = '/_geecache/scores/k';

  it('verifies its own signatures and refuses other secrets, paths, methods and bodies', () => {
    const a = new RequestSigner('secret-a-0123456789');
    const b = new RequestSigner('secret-b-0123456789');
    const sig = a.sign('GET', path);
    expect(a.verify('GET', path, sig)).to.equal(true);
    expect(b.verify('GET', path, sig)).to.equal(false);
    expect(a.verify('GET', `${path}x`, sig)).to.equal(false);
    expect(a.verify('POST', path, sig)).to.equal(false);
    const body = Buffer.from('batch');
    const signedBody = a.sign('POST', '/_geecache/', Date.now(), body);
    expect(a.verify('POST', '/_geecache/', signedBody, Date.now(), body)).to.equal(true);
    expect(a.verify('POST', '/_geecache/', signedBody, Date.now(), Buffer.from('batcH'))).to.equal(false);
  });

  it('signFor reuses one signature per path for the rest of the second', () => {
    const s = new RequestSigner('secret-a-0123456789');
    const t = 1_700_000_000_000;
    expect(s.signFor('GET', path, t + 10)).to.equal(s.signFor('GET', path, t + 990));
    expect(s.signFor('GET', path, t + 10)).to.not.equal(s.signFor('GET', path, t + 1000));
    expect(s.signFor('GET', path, t + 10)).to.not.equal(s.signFor('GET', `${path}2`, t + 10));
    expect(s.verify('GET', path, s.signFor('GET', path, t + 500), t + 600)).to.equal(true);
  });

  it('still refuses a remembered signature once it is older than the freshness window', () => {
    const s = new RequestSigner('secret-a-0123456789');
    const t = Date.now();
    const sig = s.sign('GET', path, t);
    expect(s.verify('GET', path, sig, t)).to.equal(true); // now remembered
    expect(s.verify('GET', path, sig, t + 60_000)).to.equal(true);
    expect(s.verify('GET', path, sig, t + 5 * 60_000 + 1)).to.equal(false);
    // A remembered signature is only good for the request it signed.
    expect(s.verify('GET', `${path}x`, sig, t)).to.equal(false);
  });
});
