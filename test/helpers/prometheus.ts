import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, stop } from './child.mjs';
import { mustFind } from './tools.mjs';
import { sleep } from './wait.mjs';

/** A real Prometheus server on 127.0.0.1 scraping `targets` ("host:port") every second. */
export interface Prometheus {
  url: string;
  process: ChildProcess;
  /** An instant query's result vector through the HTTP API (/api/v1/query). */
  query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Output so far, for failure messages. */
  output(): string;
  /** Stops the server and removes its config and storage. */
  stop(): Promise<void>;
}

/** Starts Prometheus with a temporary config and storage dir; resolves once /-/ready answers 200. */
export async function startPrometheus(targets: string[], metricsPath = '/metrics'): Promise<Prometheus> {
  const binary = mustFind('prometheus');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'geecache-prometheus-'));
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: geecache',
      `    metrics_path: ${metricsPath}`,
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const cleanup = async () => {
    await stop(child);
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await cleanup();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${out}`);
    }
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (i === 150) {
      await cleanup();
      throw new Error(`prometheus did not become ready within 30 s:\n${out}`);
    }
    await sleep(200);
  }
  return {
    url,
    process: child,
    output: () => out,
    stop: cleanup,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
      return body.data.result;
    },
  };
}

/**
 * Polls `promql` until `done(result)` holds, up to `attempts` times 250 ms apart; returns the
 * last result either way, so the caller's assertion shows what Prometheus had.
 */
export async function pollQuery(
  prometheus: Prometheus,
  promql: string,
  done: (result: Awaited<ReturnType<Prometheus['query']>>) => boolean,
  attempts = 120,
): Promise<Awaited<ReturnType<Prometheus['query']>>> {
  let result = await prometheus.query(promql);
  for (let i = 1; i < attempts && !done(result); i++) {
    await sleep(250);
    result = await prometheus.query(promql);
  }
  return result;
}
