// The dashboard in a real browser: Debian's headless Chromium driven by puppeteer-core, against
// child-process peers. GEECACHE_SCREENSHOT=1 saves the picture docs/operations.md shows (docs/dashboard.png).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { type ChildHandle, closeServer, freePort, mustFind, needs, startChildPeer, startCluster, stopAll } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';
const HOSTILE_KEY = '<script>window.__pwned = 1</script>';

/** A page with its console errors and uncaught exceptions recorded. */
async function open(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
  return { page, errors };
}

const rows = (page: Page) =>
  page.$$eval('#ring tbody tr', (trs) =>
    trs.map((tr) => ({
      peer: tr.getAttribute('data-peer'),
      cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
      state: tr.querySelector('.state')?.textContent,
    })),
  );

describe('dashboard in headless Chromium', function () {
  this.timeout(90_000);
  let browser: Browser | undefined;
  let children: ChildHandle[] = [];
  const fakes: http.Server[] = [];

  before(async function () {
    needs(this, 'chromium');
    browser = await puppeteer.launch({
      executablePath: mustFind('chromium'),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });
  after(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await stopAll(children);
    children = [];
    for (const f of fakes.splice(0)) await closeServer(f);
  });

  it('shows 3 peers, their share, state and figures; the owner box answers; names are text, never HTML', async () => {
    const cluster = await startCluster(3);
    children = cluster.peers;
    const keys = ['Tom', 'Jack', 'Sam', HOSTILE_KEY, ...Array.from({ length: 40 }, (_, i) => `key-${i}`)];
    for (const peer of cluster.urls) {
      const statuses = await Promise.all(keys.map((k) => fetch(`${peer}/get?key=${encodeURIComponent(k)}`).then((r) => r.status)));
      expect(statuses.every((s) => s === 200)).to.equal(true);
    }
    if (!browser) throw new Error('no browser');
    const { page, errors } = await open(browser, `${cluster.urls[0]}/_test/dashboard`);

    const ring = await rows(page);
    expect(ring.map((r) => r.peer)).to.deep.equal(cluster.urls);
    expect(ring.map((r) => r.state)).to.deep.equal(['up', 'up', 'up']);
    expect(ring[0].cells[0]).to.equal(`${cluster.urls[0]} (this peer)`);
    const shares = ring.map((r) => Number.parseFloat(r.cells[1]));
    for (const share of shares) expect(share).to.be.within(25, 42); // rendezvous: about a third each
    expect(shares.reduce((a, b) => a + b, 0)).to.be.within(99.5, 100.5);
    expect(ring[1].cells[3]).to.match(/ ms$/); // latency of a peer this one has asked
    // Each peer's view of the others, from its answer to the round: every peer asked the others for values.
    expect(ring.map((r) => r.cells[6])).to.deep.equal(['0 of 2 down', '0 of 2 down', '0 of 2 down']);

    // The group table: a cluster row and one row per peer, with the figures the peers count.
    const table = await page.$$eval('section[data-group="scores"] tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(table).to.have.length(4);
    expect(table[0][0]).to.equal('cluster');
    const gets = Number(table[0][1]?.replace(/,/g, ''));
    expect(gets).to.be.at.least(keys.length * 3);
    expect(Number(table[0][3])).to.equal(keys.length); // loads: each key once, by its owner
    expect(Number(table[0][4])).to.equal(keys.length * 2); // peer loads: the two others fetched it
    expect(table.slice(1).map((r) => r[0])).to.deep.equal(cluster.urls);
    const perPeerLoads = table.slice(1).map((r) => Number(r[3]));
    expect(perPeerLoads.reduce((a, b) => a + b, 0)).to.equal(keys.length);
    expect(table[0][2]).to.match(/%$/);

    // Who owns the hostile key: the answer shows it as text and agrees with the peer's own ring.
    await page.type('#owner-key', HOSTILE_KEY);
    await page.click('#owner-form button');
    await page.waitForFunction(() => document.getElementById('owner-answer')?.getAttribute('data-owner'), { timeout: 10_000 });
    const answer = await page.$eval('#owner-answer', (p) => ({ text: p.textContent, owner: p.getAttribute('data-owner'), children: p.children.length }));
    const owner = await fetch(`${cluster.urls[0]}/_test/owner?key=${encodeURIComponent(HOSTILE_KEY)}`).then((r) => r.text());
    expect(answer.owner).to.equal(owner);
    expect(answer.text).to.equal(`${JSON.stringify(HOSTILE_KEY)} is owned by ${owner}${owner === cluster.urls[0] ? ' (this peer)' : ''}`);
    expect(answer.children).to.equal(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined);

    // It refreshes itself: traffic after load shows up without a reload.
    const before = gets;
    await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${cluster.urls[1]}/get?key=later-${i}`)));
    await page.waitForFunction(
      (min) => Number(document.querySelector('section[data-group="scores"] tbody tr td:nth-child(2)')?.textContent?.replace(/,/g, '')) >= min,
      { timeout: 15_000 },
      before + 20,
    );

    const shot = process.env.GEECACHE_SCREENSHOT
      ? path.resolve('docs/dashboard.png')
      : path.join(mkdtempSync(path.join(os.tmpdir(), 'geecache-shot-')), 'dashboard.png');
    mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot as `${string}.png`, fullPage: true });
    expect(existsSync(shot)).to.equal(true);
    if (!process.env.GEECACHE_SCREENSHOT) rmSync(path.dirname(shot), { recursive: true, force: true });
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('a peer answering the stats request with garbage shows "bad answer"; hostile names render as text; the page still renders', async () => {
    // Two fake "peers": one answers garbage, one a well-formed answer full of markup.
    const garbage = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"self": <not json>'));
    const hostileName = '<img src=x onerror="window.__pwned=1">';
    const hostile = http.createServer((_req, res) => {
      const stats = { main: { bytes: 1, items: 1, gets: 1, hits: 1, evictions: 0 }, hot: { bytes: 0, items: 0, gets: 0, hits: 0, evictions: 0 } };
      const group = {
        stats: { gets: 1, cacheHits: 1, peerLoads: 0, peerErrors: 0, loads: 0, loadsDeduped: 0, localLoads: 0, localLoadErrs: 0, serverRequests: 0 },
        ...stats,
        getter: { count: 0, seconds: 0 },
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          self: hostileName,
          peers: [hostileName],
          ring: '<b>ring</b>',
          basePath: '/_geecache/',
          time: Date.now(),
          groups: { [hostileName]: group },
          peerClients: {},
        }),
      );
    });
    fakes.push(garbage, hostile);
    const [pa, pb, pg, ph] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    await Promise.all([new Promise((r) => garbage.listen(pg, '127.0.0.1', () => r(null))), new Promise((r) => hostile.listen(ph, '127.0.0.1', () => r(null)))]);
    const urls = [pa, pb, pg, ph].map((p) => `http://127.0.0.1:${p}`);
    children = await Promise.all([
      startChildPeer({ port: pa, self: urls[0], peers: urls, secret: SECRET }),
      startChildPeer({ port: pb, self: urls[1], peers: urls, secret: SECRET }),
    ]);
    await Promise.all(['a', 'b', 'c'].map((k) => fetch(`${urls[0]}/get?key=${k}`)));
    if (!browser) throw new Error('no browser');
    const { page, errors } = await open(browser, `${urls[0]}/_test/dashboard/`);

    const ring = await rows(page);
    expect(ring.map((r) => r.peer)).to.deep.equal(urls);
    expect(ring[0].state).to.equal('up');
    expect(ring[1].state).to.equal('up');
    expect(ring[2].state).to.equal('bad answer');
    expect(ring[2].cells[7]).to.include('bad stats answer');
    expect(ring[2].cells[6]).to.equal('-'); // no answer, no view
    expect(ring[3].cells[6]).to.equal('0 of 0 down'); // summarized from the hostile peer's full document
    expect(ring[3].state).to.equal('up'); // well-formed, if hostile
    expect(await page.$eval('#agreement', (p) => p.textContent)).to.include('Peers disagree'); // it lists other members
    // The hostile group name is a heading's text; no element came from it.
    const headings = await page.$$eval('#groups h3', (hs) => hs.map((h) => h.textContent));
    expect(headings).to.deep.equal([hostileName, 'scores']);
    expect(await page.$$eval('#groups img, #ring img', (imgs) => imgs.length)).to.equal(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).to.equal(undefined);
    // The real peers' figures are there; the garbage peer shows its state in the group table.
    const scores = await page.$$eval('section[data-group="scores"] tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(scores).to.have.length(5);
    expect(scores[3]).to.include('bad answer');
    expect(errors).to.deep.equal([]);
    await page.close();
  });

  it('GET only; api/owner refuses a missing key with 400; unknown paths fall through to the app', async () => {
    const cluster = await startCluster(1);
    children = cluster.peers;
    const base = `${cluster.urls[0]}/_test/dashboard`;
    const missing = await fetch(`${base}/api/owner`);
    expect(missing.status).to.equal(400);
    expect((await missing.json()).error).to.match(/give a key of 1 to 4096 characters/);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-security-policy')).to.match(/script-src 'sha256-[^']+'/);
    expect(page.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    expect((await fetch(`${base}/nope`)).status).to.equal(404); // Express's own 404, after next()
  });
});
