import { type ChildProcess, spawn } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './child.mjs';
import { mustFind } from './tools.mjs';
import { sleep } from './wait.mjs';

/** One SRV record: `target` (a name dnsmasq also serves, or any name) and `port`. */
export interface SrvRecord {
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

/**
 * What the server answers. Names are fully qualified without the trailing dot. A name with an
 * empty list, or absent, answers NXDOMAIN inside `domain`.
 */
export interface DnsRecords {
  /** A/AAAA records: name → addresses (IPv4 or IPv6). */
  a?: Record<string, string[]>;
  /** SRV records: name (e.g. `_geecache._tcp.peers.test`) → records. */
  srv?: Record<string, SrvRecord[]>;
  /** Raw dnsmasq config lines, for answers the other fields cannot express. */
  raw?: string[];
}

const READY_NAME = 'ready';
const WAIT_MS = 10_000;

/**
 * A real dnsmasq in the foreground on 127.0.0.1:<free port>, authoritative for `domain` (other
 * names: NXDOMAIN), reading nothing of the machine's (no /etc/hosts, no resolv.conf, no
 * /etc/dnsmasq.conf), with its files in a temp dir. A records come from an addn-hosts file,
 * reloaded on SIGHUP; SRV records live in the config, which dnsmasq 2.90 reads only at start, so
 * changing them restarts it on the same port. {@link update} returns once the server answers
 * the new records.
 */
export class Dnsmasq {
  /** `127.0.0.1:<port>`: the `resolver` option to give geecache. */
  readonly address: string;
  readonly port: number;
  readonly domain: string;
  readonly #dir: string;
  readonly #resolver = new dns.Resolver({ timeout: 500, tries: 1 });
  #child: ChildProcess | undefined;
  #records: DnsRecords = {};
  #log = '';

  private constructor(port: number, domain: string) {
    this.port = port;
    this.domain = domain;
    this.address = `127.0.0.1:${port}`;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), 'geecache-dnsmasq-'));
    this.#resolver.setServers([this.address]);
  }

  /** Starts a server answering `records`; resolves once it answers them. */
  static async start(records: DnsRecords = {}, domain = 'test'): Promise<Dnsmasq> {
    const server = new Dnsmasq(await freePort(), domain);
    try {
      server.#write(records);
      await server.#spawn();
      await server.#waitFor(records);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** The server's output so far (queries are logged), for failure messages. */
  output(): string {
    return this.#log;
  }

  /** Replaces the records; resolves once the server answers the new ones. */
  async update(records: DnsRecords): Promise<void> {
    const restart = JSON.stringify([records.srv ?? {}, records.raw ?? []]) !== JSON.stringify([this.#records.srv ?? {}, this.#records.raw ?? []]);
    this.#write(records);
    if (restart) {
      await this.#kill();
      await this.#spawn();
    } else {
      this.#child?.kill('SIGHUP');
    }
    await this.#waitFor(records);
  }

  /** Stops the server and removes its files. */
  async stop(): Promise<void> {
    await this.#kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #write(records: DnsRecords): void {
    this.#records = records;
    const hosts = [`127.0.0.1 ${READY_NAME}.${this.domain}`];
    for (const [name, addresses] of Object.entries(records.a ?? {})) for (const address of addresses) hosts.push(`${address} ${name}`);
    writeFileSync(path.join(this.#dir, 'hosts'), `${hosts.join('\n')}\n`);
    const conf = [`local=/${this.domain}/`];
    for (const [name, list] of Object.entries(records.srv ?? {})) {
      for (const r of list) conf.push(`srv-host=${name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`);
    }
    conf.push(...(records.raw ?? []));
    writeFileSync(path.join(this.#dir, 'dnsmasq.conf'), `${conf.join('\n')}\n`);
  }

  async #spawn(): Promise<void> {
    const args = [
      '--keep-in-foreground',
      '--log-facility=-',
      '--log-queries',
      `--conf-file=${path.join(this.#dir, 'dnsmasq.conf')}`,
      `--port=${this.port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--no-poll',
      `--addn-hosts=${path.join(this.#dir, 'hosts')}`,
      '--pid-file=',
    ];
    // As root dnsmasq would switch to an unprivileged user that cannot read the temp dir.
    if (process.getuid?.() === 0) args.push('--user=root');
    const child = spawn(mustFind('dnsmasq'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout?.on('data', (d) => (this.#log += d));
    child.stderr?.on('data', (d) => (this.#log += d));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`dnsmasq could not run (is it installed? .ci/run installs it): ${err.message}`)));
    });
    // Up once it answers the name every config serves.
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`dnsmasq exited with ${child.exitCode}:\n${this.#log}`);
      try {
        await this.#resolver.resolve4(`${READY_NAME}.${this.domain}`);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`dnsmasq did not answer on ${this.address} within ${WAIT_MS} ms:\n${this.#log}`);
        await sleep(50);
      }
    }
  }

  /** Polls until every name of `records` answers as it should (bounded). */
  async #waitFor(records: DnsRecords): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const mismatch = await this.#mismatch(records);
      if (!mismatch) return;
      if (Date.now() > deadline) throw new Error(`dnsmasq did not serve the new records within ${WAIT_MS} ms: ${mismatch}\n${this.#log}`);
      await sleep(50);
    }
  }

  async #mismatch(records: DnsRecords): Promise<string | undefined> {
    for (const [name, addresses] of Object.entries(records.a ?? {})) {
      const want = [...addresses].sort().join(',');
      const got = (await answer(() => this.#resolver.resolve4(name))).concat(await answer(() => this.#resolver.resolve6(name)));
      if (got.sort().join(',') !== want) return `${name} answers [${got}], want [${want}]`;
    }
    for (const [name, list] of Object.entries(records.srv ?? {})) {
      const want = list.map((r) => `${r.target}:${r.port}`).sort();
      const got = (await answer(() => this.#resolver.resolveSrv(name))).map((r) => `${r.name}:${r.port}`).sort();
      if (got.join(',') !== want.join(',')) return `${name} answers SRV [${got}], want [${want}]`;
    }
    return undefined;
  }

  async #kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

/** The records of a lookup; none for NXDOMAIN / no data. */
async function answer<T>(lookup: () => Promise<T[]>): Promise<T[]> {
  try {
    return await lookup();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw err;
  }
}
