// The demo (`npm start`) runs end to end: three peers, the API front end, concurrent requests.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort } from '../helpers/index.js';

const RUN = fileURLToPath(new URL('../../examples/demo/run.mjs', import.meta.url));
const EXISTING_APP = fileURLToPath(new URL('../../examples/existing-app/app.mjs', import.meta.url));

describe('examples/demo', function () {
  this.timeout(30_000);

  it('answers every known name, 404 for an unknown one, and reads the database once per key', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const child = spawn(process.execPath, [RUN, '--once'], { env: { ...process.env, GEECACHE_DEMO_PORTS: ports.join(',') } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve)).finally(() => child.kill());
    expect(code, out).to.equal(0);
    for (const [key, value] of [
      ['Tom', '630'],
      ['Jack', '589'],
      ['Sam', '567'],
    ]) {
      expect(out.match(new RegExp(`^${key} -> 200 ${value}$`, 'gm')) ?? [], out).to.have.length(key === 'Tom' ? 3 : key === 'Jack' ? 2 : 1);
      expect(out.match(new RegExp(`\\[SlowDB\\] search key ${key}$`, 'gm')) ?? [], out).to.have.length(1);
    }
    // Kate is not in the database: its getter throws NotFoundError, and the API answers 404.
    expect(out).to.match(/^Kate -> 404 Kate not found in the database$/m);
    expect(out).to.include(`>>> dashboard: http://127.0.0.1:${ports[0]}/geecache/`);
  });
});

describe('examples/existing-app', function () {
  this.timeout(30_000);

  it('serves its route through req.cache on both of two peers', async () => {
    const ports = [await freePort(), await freePort()];
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    const apps = ports.map((port, i) =>
      spawn(process.execPath, [EXISTING_APP], {
        env: {
          ...process.env,
          PORT: String(port),
          SELF: urls[i],
          PEERS: urls.join(','),
          GEECACHE_SECRET: 'example-secret-0123456789',
          ADMIN_TOKEN: 'admin-token-for-the-test',
        },
      }),
    );
    try {
      await Promise.all(
        apps.map(
          (app) =>
            new Promise((resolve, reject) => {
              app.stdout.on('data', (d) => String(d).includes('listening') && resolve(undefined));
              app.on('exit', (code) => reject(new Error(`example exited with ${code}`)));
            }),
        ),
      );
      for (const name of ['Tom', 'Jack', 'Sam']) {
        const answers = await Promise.all(urls.map(async (u) => (await fetch(`${u}/score/${name}`)).text()));
        expect(answers).to.deep.equal([String(name.length * 100), String(name.length * 100)]);
      }
      // Its readiness route: the status only, never the peer list (anonymous callers reach it).
      const ready = await fetch(`${urls[0]}/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.equal({ status: 'ok' });
      // Its dashboard answers only with the token.
      expect((await fetch(`${urls[0]}/geecache/api/cluster`)).status).to.equal(401);
      const model = await fetch(`${urls[0]}/geecache/api/cluster`, { headers: { authorization: 'Bearer admin-token-for-the-test' } });
      expect(model.status).to.equal(200);
      expect((await model.json()).peers.map((p: { url: string }) => p.url)).to.deep.equal(urls);
    } finally {
      for (const app of apps) app.kill();
    }
  });
});
