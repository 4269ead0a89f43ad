// The README's own route handler, run as written in a real Express 4 and a
// real Express 5 app (child processes): a getter error reaches Express's error handler with its
// status, and the process keeps serving (an async handler that awaits would crash Express 4 with
// an unhandled rejection).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freePort, stop, whenReady } from '../helpers/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The route handler of the README's "Use" example: its lines from the first `app.get(` to the `});` that closes it. */
function readmeHandler(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const use = readme.slice(readme.indexOf('\n## Use\n'));
  const block = use.slice(use.indexOf('```ts\n') + 6, use.indexOf('\n```', use.indexOf('```ts\n') + 6));
  const lines = block.split('\n');
  const first = lines.findIndex((line) => line.startsWith('app.get('));
  expect(first, "the README's Use example has an app.get( handler").to.be.at.least(0);
  const last = lines.indexOf('});', first);
  expect(last, "the README's app.get( handler ends with a line '});'").to.be.above(first);
  return lines.slice(first, last + 1).join('\n');
}

/** An app with the README's handler on `expressModule`, its getter failing for some keys. */
function app(expressModule: string, port: number, handler: string): string {
  return `
import express from '${expressModule}';
import { geecache } from 'geecache';
const db = {
  lookup: async (key) => {
    if (key.startsWith('missing')) throw Object.assign(new Error('no score for ' + key), { status: 404 });
    if (key.startsWith('boom')) throw new Error('database down');
    return 'score of ' + key;
  },
};
const app = express();
app.use(geecache({ self: 'http://127.0.0.1:${port}', secret: false, groups: { scores: { maxBytes: 1 << 20, getter: async (key, { signal }) => db.lookup(key, { signal }) } } }));
${handler}
app.listen(${port}, '127.0.0.1', () => console.log('ready ${port}'));
`;
}

for (const [version, expressModule] of [
  ['Express 4', 'express4'],
  ['Express 5', 'express'],
] as const) {
  describe(`the README's route handler on ${version} (child process)`, function () {
    this.timeout(30_000);
    let child: ChildProcess | undefined;
    after(() => child && stop(child));

    it('answers values, a getter error with its status (404) or 500, and keeps serving', async () => {
      const port = await freePort();
      child = spawn(process.execPath, ['--input-type=module', '-e', app(expressModule, port, readmeHandler())], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const peer = await whenReady(child, `${version} app`, { url: `http://127.0.0.1:${port}` });
      const get = async (path: string) => {
        try {
          const res = await fetch(`${peer.url}${path}`);
          return `${res.status} ${await res.text()}`;
        } catch (err) {
          return `no answer (${(err as Error).message})`;
        }
      };
      expect(await get('/score/Tom')).to.equal('200 score of Tom');
      expect(await get('/score/missing-1'), peer.output()).to.match(/^404 /);
      expect(await get('/score/boom')).to.match(/^500 /);
      expect(await get('/score/Ann'), peer.output()).to.equal('200 score of Ann');
      expect(child.exitCode, peer.output()).to.equal(null);
    });
  });
}
