// The demo (`npm start`) runs end to end: three peers, the API front end, concurrent requests.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/cluster.js';

const RUN = fileURLToPath(new URL('../examples/demo/run.mjs', import.meta.url));

describe('examples/demo', function () {
  this.timeout(30_000);

  it('answers every key and reads the database once per key', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const child = spawn(process.execPath, [RUN, '--once'], { env: { ...process.env, GEECACHE_DEMO_PORTS: ports.join(',') } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve)).finally(() => child.kill());
    expect(code, out).to.equal(0);
    for (const [key, value] of [['Tom', '630'], ['Jack', '589'], ['Sam', '567']]) {
      expect(out.match(new RegExp(`^${key} -> 200 ${value}$`, 'gm')) ?? [], out).to.have.length(key === 'Tom' ? 3 : key === 'Jack' ? 2 : 1);
      expect(out.match(new RegExp(`\\[SlowDB\\] search key ${key}$`, 'gm')) ?? [], out).to.have.length(1);
    }
    expect(out).to.match(/^Kate -> 500 Kate not exist$/m);
  });
});
