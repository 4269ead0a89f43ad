// An owner's `102 Processing` ("still loading, keep waiting") on both transports, node-fetch and
// undici: a real loopback owner that answers a get only after the asker's liveness probe has gone
// unanswered for timeoutMs. The asker that was sent 102 waits and gets the owner's value; without
// 102 the same owner is judged down and the get loads locally.
import type http from 'node:http';
import { expect } from 'chai';
import { encodeGetResponse } from '../../lib/protocol/wire.js';
import { fakePeers } from '../helpers/index.js';

/** The owner's peer route, whose root is its liveness probe. */
const BASE_PATH = '/_geecache/';
/** Short, so the test is quick; nothing here depends on how long anything takes. */
const TIMEOUT_MS = 200;

/**
 * An owner whose liveness route never answers (its probe connection is stuck, as behind a full
 * accept queue), that holds every get until the asker gives up on a probe (closes it), and then
 * answers it. With `processing`, it sends `102 Processing` on each get first.
 */
async function slowOwner(fakes: ReturnType<typeof fakePeers>, processing: boolean) {
  const held: { key: string; res: http.ServerResponse }[] = [];
  const gets: string[] = [];
  let probes = 0;
  let probeAbandoned = false;
  const answer = ({ key, res }: { key: string; res: http.ServerResponse }) => {
    const body = encodeGetResponse(Buffer.from(`owner:${key}`));
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length }).end(body);
  };
  const { url } = await fakes.peer((req, res) => {
    if (req.url === BASE_PATH) {
      probes++;
      // The asker abandons a probe once timeoutMs passed without an answer: only then are the gets answered.
      res.on('close', () => {
        probeAbandoned = true;
        for (const get of held.splice(0)) answer(get);
      });
      return;
    }
    const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
    gets.push(key);
    if (processing) res.writeProcessing();
    if (probeAbandoned) answer({ key, res });
    else held.push({ key, res });
  });
  return { url, gets, probes: () => probes };
}

for (const transport of ['node-fetch', 'undici'] as const) {
  describe(`102 Processing over ${transport}`, function () {
    this.timeout(20_000);
    const fakes = fakePeers();
    /** An asker whose ring sends every key to `peer`, over `transport`, one GET per get. */
    const asker = (peer: string) =>
      fakes.asker(
        peer,
        { timeoutMs: TIMEOUT_MS, backoffMs: 60_000, batch: false, transport, logger: false },
        // The asker waits this long for a load it knows is alive: far past the owner's answer.
        { maxBytes: 1 << 20, loadTimeoutMs: 30_000 },
      );

    it('an owner that sent 102 is waited for past an unanswered probe: the get gets its value', async () => {
      const owner = await slowOwner(fakes, true);
      const { group, localRuns } = asker(owner.url);
      expect((await group.get('slow')).toString()).to.equal('owner:slow');
      expect(owner.probes(), 'the asker probed the owner, and the probe went unanswered').to.be.greaterThan(0);
      expect(localRuns, 'nothing loaded locally').to.deep.equal([]);
      expect(group.stats.peerErrors).to.equal(0);
    });

    it('the same owner without 102 is judged down once its probe goes unanswered: the get loads locally', async () => {
      const owner = await slowOwner(fakes, false);
      const { group, localRuns } = asker(owner.url);
      expect((await group.get('slow')).toString()).to.equal('local:slow');
      expect(owner.gets, 'the owner was asked').to.deep.equal(['slow']);
      expect(localRuns).to.deep.equal(['slow']);
      expect(group.stats.peerErrors).to.equal(1);
    });
  });
}
