// `npm start`: GeeCache's run.sh in one terminal. Starts three peers on 127.0.0.1:8001-8003,
// the API front end on :9999, fires concurrent requests at it, and shows that the slow database
// was read once per key, and by which peer. Ctrl-C stops everything.
// GEECACHE_DEMO_PORTS=8001,8002,8003,9999 picks other ports; --once exits after the requests.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ports = (process.env.GEECACHE_DEMO_PORTS ?? '8001,8002,8003,9999').split(',').map(Number);
const apiPort = ports.pop();
const peers = ports.map((p) => `http://127.0.0.1:${p}`);
const peerScript = fileURLToPath(new URL('./peer.mjs', import.meta.url));
const dbReads = []; // [peer port, key]

const children = ports.map((port, i) => {
  const args = [peerScript, String(port), peers.join(',')];
  if (i === ports.length - 1) args.push(String(apiPort));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let partial = '';
  child.stdout.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      console.log(`[peer :${port}] ${line}`);
      const read = /^\[SlowDB\] search key (.*)$/.exec(line);
      if (read) dbReads.push([port, read[1]]);
    }
  });
  return child;
});

const stopAll = () => {
  for (const c of children) c.kill();
};
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAll();
    process.exit(0);
  });
}
process.on('exit', stopAll);

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not come up`);
}

await Promise.all([...peers.map((p) => waitFor(`${p}/`)), waitFor(`http://127.0.0.1:${apiPort}/`)]);
console.log('>>> start test');
const keys = ['Tom', 'Tom', 'Tom', 'Jack', 'Jack', 'Sam', 'Kate'];
const answers = await Promise.all(
  keys.map(async (key) => {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api?key=${key}`);
    return `${key} -> ${res.status} ${await res.text()}`;
  }),
);
for (const a of answers) console.log(a);
await new Promise((r) => setTimeout(r, 200)); // let the peers' log lines arrive
console.log('>>> database reads (one per key across the whole cluster):');
for (const [port, key] of dbReads) console.log(`  ${key}: read by the peer on :${port}`);
console.log(`>>> dashboard: ${peers[0]}/geecache/ (any peer's /geecache/ shows the whole cluster)`);
if (process.argv.includes('--once')) {
  stopAll();
  process.exit(0);
}
console.log(`>>> cluster running: try curl "http://127.0.0.1:${apiPort}/api?key=Tom". Ctrl-C stops it.`);
