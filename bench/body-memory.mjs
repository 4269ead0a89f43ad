// Memory without the secret: what a client without the secret makes a peer hold.
// Starts one real peer (test/fixtures/peer.mjs, timeoutMs 1,000, --expose-gc) and runs, each on
// fresh raw sockets: (1) N connections posting 4 MiB batch bodies under a well-formed but forged
// signature; (2) N replays of one captured, fresh, validly signed 4 MiB batch (someone who saw
// peer traffic); (3) one body dripped at 10 bytes/s under a forged and under a valid signature.
// Prints the peer's peak growth of arrayBuffers (body bytes held) and RSS over each attack, and
// whether/when the dripped connections were cut off, as JSON lines.
//   node bench/body-memory.mjs [connections=128]      (npm run build first)
import { freePort, startChildPeer } from '../test/helpers/child.mjs';
import { peakMemory, sendBodyButLastByte } from '../test/helpers/rawbody.mjs';

const SECRET = 'bench-secret-0123456789';
const BODY = 4 << 20;
const MiB = 1 << 20;
const N = Number(process.argv[2] ?? 128);

const port = await freePort();
const self = `http://127.0.0.1:${port}`;
const config = { port, self, peers: [self, `http://127.0.0.1:${await freePort()}`], secret: SECRET, timeoutMs: 1000 };
const child = (await startChildPeer(config, { nodeArgs: ['--expose-gc'] })).process;
child.on('exit', (code, signal) => signal !== 'SIGKILL' && console.log(JSON.stringify({ peerExited: code, signal })));
// Never leave the peer behind, also when a measurement throws.
process.on('exit', () => child.kill('SIGKILL'));
await fetch(`${self}/get?key=warm`);

/** Runs `attack` while sampling the peer's memory every 50 ms; peak growth in MiB. */
async function measured(name, attack) {
  const t0 = performance.now();
  const { result: outcome, start, peak } = await peakMemory(self, attack);
  const result = {
    attack: name,
    connections: outcome.connections,
    heldMiB: +((peak.arrayBuffers - start.arrayBuffers) / MiB).toFixed(2),
    rssGrowthMiB: +((peak.rss - start.rss) / MiB).toFixed(1),
    answers: outcome.answers,
    seconds: +((performance.now() - t0) / 1000).toFixed(1),
  };
  console.log(JSON.stringify(result));
}

/** One connection: the head, then the body but its last byte (or dripped), until the server closes or `waitMs`. */
async function connection(head, { drip = false, waitMs = 15_000 } = {}) {
  const { answer, closedByServer, ms } = await sendBodyButLastByte(port, head, { bodyBytes: BODY, drip, waitMs });
  return { status: Number(answer.split(' ')[1]) || (closedByServer ? 'reset' : 'held'), closedAfterS: closedByServer ? +(ms / 1000).toFixed(2) : null };
}

const head = (auth, digest) =>
  `POST /_geecache/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-geecache-batch\r\nContent-Length: ${BODY}\r\nx-geecache-content-sha256: ${digest}\r\nx-geecache-auth: ${auth}\r\n\r\n`;
const forged = () => head(`${Date.now()}.${'0'.repeat(64)}`, '1'.repeat(64));
const count = (outcomes) => {
  const by = {};
  for (const o of outcomes) by[o.status] = (by[o.status] ?? 0) + 1;
  return by;
};
const many = async (n, make, options) => {
  const outcomes = await Promise.all(Array.from({ length: n }, () => connection(make(), options)));
  return { connections: n, answers: count(outcomes) };
};

// A captured signature: only a build with the current RequestSigner (url + body) can make one.
let signed;
try {
  const { RequestSigner, digestOf } = await import('../dist/protocol/auth.js');
  const body = Buffer.alloc(BODY, 7);
  if (digestOf) signed = () => head(new RequestSigner(SECRET).sign('POST', `${self}/_geecache/`, Date.now(), body), digestOf(body));
} catch {}

await measured('forged signature, 4 MiB bodies', () => many(N, forged));
if (signed) await measured('replayed valid signature, 4 MiB bodies', () => many(N, signed));
for (const [name, make] of [
  ['dripped body, forged signature', forged],
  ['dripped body, valid signature', signed],
]) {
  if (!make) continue;
  const outcome = await connection(make(), { drip: true, waitMs: 20_000 });
  console.log(JSON.stringify({ attack: name, timeoutMs: 1000, status: outcome.status, closedAfterS: outcome.closedAfterS ?? 'still open after 20 s' }));
}
child.kill('SIGKILL');
