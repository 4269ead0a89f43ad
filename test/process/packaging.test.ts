// The package as a user gets it: `npm pack` on a copy of the repository without dist/ (so
// `prepare` must build it), the tarball installed into a throw-away app, and three entry points
// of that app (ESM import, CommonJS require, TypeScript compiled with module NodeNext) each
// starting one peer that answers a get. Offline-friendly: dependencies come from npm's cache.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { freePort, stop, whenReady } from '../helpers/index.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
const dep = async (name: string) => JSON.parse(await readFile(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')).version as string;

// One app, written three ways. Each prints "ready <port>" (the readiness line of test/helpers/ready.mjs)
// and answers GET /score/:name with the cached value and how often its getter ran.
const jsApp = (imports: string, flavor: string) => `${imports}
const port = Number(process.env.PORT);
const self = 'http://127.0.0.1:' + port;
let loads = 0;
const app = express();
app.use(geecache({ self, peers: [self], groups: { scores: { maxBytes: 1 << 20, getter: (key) => (loads++, '${flavor}:' + key) } } }));
app.get('/score/:name', async (req, res) => res.send((await req.cache.get(req.params.name)).toString() + ' loads=' + loads));
app.listen(port, '127.0.0.1', () => console.log('ready ' + port));
`;
const ESM_APP = jsApp("import express from 'express';\nimport { geecache } from 'geecache';", 'esm');
const CJS_APP = jsApp("const express = require('express');\nconst { geecache } = require('geecache');", 'cjs');
// Typed: req.cache comes from geecache's declaration merging on Express's Request.
const TS_APP = `import express from 'express';
import { geecache, type ByteView, type GeecacheOptions } from 'geecache';
const port = Number(process.env.PORT);
const self = \`http://127.0.0.1:\${port}\`;
let loads = 0;
const options: GeecacheOptions = {
  self,
  peers: [self],
  groups: { scores: { maxBytes: 1 << 20, getter: async (key: string) => (loads++, \`ts:\${key}\`) } },
};
const app = express();
app.use(geecache(options));
app.get('/score/:name', async (req, res) => {
  const value: ByteView = await req.cache.get(req.params.name);
  res.send(\`\${value.toString()} loads=\${loads}\`);
});
app.listen(port, '127.0.0.1', () => console.log(\`ready \${port}\`));
`;

describe('packaging: the npm tarball installed into throw-away apps', function () {
  this.timeout(120_000);
  let tmp = '';
  let app = '';

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'geecache-pack-'));
    // A fresh checkout: the files git knows (committed or not, never ignored ones such as dist/).
    const src = path.join(tmp, 'src');
    const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO });
    for (const file of stdout.split('\0').filter(Boolean)) {
      if (existsSync(path.join(REPO, file))) await cp(path.join(REPO, file), path.join(src, file));
    }
    expect(existsSync(path.join(src, 'dist')), 'the copy must start without dist/').to.equal(false);
    await symlink(path.join(REPO, 'node_modules'), path.join(src, 'node_modules'), 'dir');
    await run('npm', ['pack', '--pack-destination', tmp], { cwd: src });
    const [tarball] = (await readdir(tmp)).filter((f) => f.endsWith('.tgz'));
    expect(tarball, 'npm pack wrote no tarball').to.be.a('string');

    app = path.join(tmp, 'app');
    await mkdir(app);
    const dependencies = {
      geecache: `file:../${tarball}`,
      express: await dep('express'),
      '@types/express': await dep('@types/express'),
      '@types/node': await dep('@types/node'),
    };
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ private: true, dependencies }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app });
    // Three apps under one node_modules: each has its own package.json "type".
    for (const [dir, type, file, code] of [
      ['esm', 'module', 'index.js', ESM_APP],
      ['cjs', 'commonjs', 'index.js', CJS_APP],
      ['ts', 'module', 'index.ts', TS_APP],
    ]) {
      await mkdir(path.join(app, dir));
      await writeFile(path.join(app, dir, 'package.json'), JSON.stringify({ type }));
      await writeFile(path.join(app, dir, file), code);
    }
    const tsconfig = { compilerOptions: { module: 'NodeNext', target: 'ES2022', strict: true, outDir: 'out', types: ['node'] }, include: ['index.ts'] };
    await writeFile(path.join(app, 'ts', 'tsconfig.json'), JSON.stringify(tsconfig));
  });

  after(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('holds dist/ with types and source maps whose sources are inside the package', async () => {
    const pkg = path.join(app, 'node_modules', 'geecache');
    for (const file of ['LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts']) expect(existsSync(path.join(pkg, file)), file).to.equal(true);
    expect(existsSync(path.join(pkg, 'test')), 'tests are not shipped').to.equal(false);
    const maps = (await readdir(path.join(pkg, 'dist'))).filter((f) => f.endsWith('.map'));
    expect(maps.length).to.be.greaterThan(1);
    for (const map of maps) {
      const { sources, sourceRoot, sourcesContent } = JSON.parse(await readFile(path.join(pkg, 'dist', map), 'utf8'));
      expect(sources, map).to.have.length.greaterThan(0);
      for (const [i, source] of sources.entries()) {
        if (sourcesContent?.[i] != null) continue; // inlined
        const file = path.resolve(pkg, 'dist', sourceRoot ?? '', source);
        expect(file.startsWith(pkg + path.sep), `${map}: ${source} points outside the package`).to.equal(true);
        expect(existsSync(file), `${map}: ${source} does not exist in the package`).to.equal(true);
      }
    }
  });

  for (const [name, dir] of [
    ['ESM import', 'esm'],
    ['CommonJS require', 'cjs'],
    ['TypeScript (module NodeNext)', 'ts'],
  ]) {
    it(`${name}: starts a peer that answers a get, the second from its cache`, async () => {
      let entry = path.join(app, dir, 'index.js');
      if (dir === 'ts') {
        await run(process.execPath, [TSC, '-p', path.join(app, 'ts')]).catch((err) => {
          throw new Error(`tsc failed:\n${err.stdout}${err.stderr}`);
        });
        entry = path.join(app, 'ts', 'out', 'index.js');
      }
      const port = await freePort();
      const child = spawn(process.execPath, [entry], {
        cwd: path.join(app, dir),
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PORT: String(port) },
      });
      try {
        const peer = await whenReady(child, `${dir} app`, { url: `http://127.0.0.1:${port}` });
        for (let i = 0; i < 2; i++) {
          const res = await fetch(`${peer.url}/score/Tom`);
          expect(await res.text(), peer.output()).to.equal(`${dir}:Tom loads=1`);
          expect(res.status).to.equal(200);
        }
      } finally {
        await stop(child);
      }
    });
  }
});
