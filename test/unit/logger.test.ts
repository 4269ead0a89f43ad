// Notices ("warn once per peer and cause, then count") and the logger option's resolution.
import { expect } from 'chai';
import { MAX_NOTICES, Notices, REARM_MS, resolveLogger } from '../../lib/common/logger.js';

describe('logger', () => {
  it('Notices warns once per key, counts repeats, and warns again after a quiet spell', () => {
    const lines: string[] = [];
    const notices = new Notices(resolveLogger({ warn: (m) => lines.push(m) }));
    const t0 = 1_000_000;
    expect(notices.warn('peer-a refused', () => 'peer a is down', t0)).to.equal(true);
    expect(notices.warn('peer-a refused', () => 'peer a is down', t0 + 1000)).to.equal(false);
    expect(notices.warn('peer-b refused', () => 'peer b is down', t0 + 1000)).to.equal(true);
    // Repeats keep the incident open: REARM_MS counts from the last occurrence, not the first.
    expect(notices.warn('peer-a refused', () => 'peer a is down', t0 + REARM_MS)).to.equal(false);
    expect(notices.count('peer-a refused')).to.equal(3);
    expect(notices.warn('peer-a refused', () => 'peer a is down again', t0 + 2 * REARM_MS + 1)).to.equal(true);
    expect(notices.count('peer-a refused')).to.equal(4);
    expect(lines).to.deep.equal([
      'geecache: peer a is down (warned once; repeats are counted, not logged)',
      'geecache: peer b is down (warned once; repeats are counted, not logged)',
      'geecache: peer a is down again (warned once; repeats are counted, not logged)',
    ]);
  });

  it('Notices remembers at most MAX_NOTICES problems: past that the one seen longest ago is forgotten, so it is warned about again', () => {
    const lines: string[] = [];
    const notices = new Notices({ warn: (m) => lines.push(m) });
    notices.warn('kept', () => 'kept');
    for (let i = 0; i < MAX_NOTICES - 1; i++) notices.warn(`k${i}`, () => `k${i}`);
    notices.warn('kept', () => 'kept'); // seen again: now the most recent
    notices.warn('one more', () => 'one more'); // the map is full: k0 is forgotten
    expect(notices.count('kept')).to.equal(2);
    expect(notices.count('k0')).to.equal(0);
    expect(lines).to.have.length(MAX_NOTICES + 1);
    notices.warn('k0', () => 'k0 again');
    expect(lines.at(-1)).to.include('k0 again');
  });

  it('the message of a repeat is never built', () => {
    const notices = new Notices(resolveLogger(false));
    notices.warn('k', () => 'first');
    notices.warn('k', () => {
      throw new Error('built a message that is not logged');
    });
    expect(notices.count('k')).to.equal(2);
  });

  it('fills in missing levels and keeps the logger as `this` (pino and winston need it)', () => {
    const seen: string[] = [];
    const pinoLike = {
      prefix: 'p',
      warn(this: { prefix: string }, m: string) {
        seen.push(`${this.prefix} warn ${m}`);
      },
      info(this: { prefix: string }, m: string) {
        seen.push(`${this.prefix} info ${m}`);
      },
    };
    const logger = resolveLogger(pinoLike);
    logger.warn('w');
    logger.info('i');
    logger.error('e'); // no error method: goes to warn
    logger.debug('d'); // no debug method: dropped
    expect(seen).to.deep.equal(['p warn w', 'p info i', 'p warn e']);
  });
});
