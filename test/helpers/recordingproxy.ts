// A recording HTTP proxy for replay tests: a real node:http server in front of one peer that
// forwards each request to it and keeps what was sent (request line, headers as sent, body), so a
// test can replay a captured request byte for byte, change one header, or hold a request back and
// deliver it later (a reordered write).
import http from 'node:http';
import { closeServer, listen } from './peer.js';

/** A request as the proxy received it. */
export interface Recorded {
  method: string;
  url: string;
  /** Name, value, name, value…, as sent (Node's rawHeaders). */
  rawHeaders: string[];
  body: Buffer;
}

/** An answer to a replay. */
export interface Replayed {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** Headers that belong to one connection, not to the request: never forwarded nor replayed. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

export class RecordingProxy {
  /** Every request received, in order. */
  readonly requests: Recorded[] = [];
  /** When it returns true for a request, the proxy keeps it (recorded) and answers 502 without forwarding it. */
  hold: ((request: Recorded) => boolean) | undefined;
  readonly #server: http.Server;
  readonly #agent = new http.Agent({ keepAlive: true });
  /** Where requests are forwarded (an origin); may be set after start, once the peer listens. */
  target: URL;
  port = 0;

  private constructor(target: string) {
    this.target = new URL(target);
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const recorded: Recorded = { method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: [...req.rawHeaders], body: Buffer.concat(chunks) };
        this.requests.push(recorded);
        if (this.hold?.(recorded)) {
          res.writeHead(502, { 'content-type': 'text/plain' }).end('held by the test proxy\n');
          return;
        }
        const upstream = http.request(
          {
            host: this.target.hostname,
            port: this.target.port,
            method: recorded.method,
            path: recorded.url,
            headers: forwarded(recorded.rawHeaders),
            agent: this.#agent,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(recorded.body);
      });
    });
  }

  /** A proxy on a free loopback port forwarding to `target` (an origin; see {@link target}). */
  static async start(target = 'http://127.0.0.1:9'): Promise<RecordingProxy> {
    const proxy = new RecordingProxy(target);
    proxy.port = await listen(proxy.#server);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The recorded requests with this method whose path starts with `prefix`. */
  find(method: string, prefix: string): Recorded[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(prefix));
  }

  /**
   * Sends `request` again, as recorded, to `origin` on a new connection (or one of `agent`'s, for
   * a test that replays thousands); `set` replaces (or, with undefined, drops) headers by
   * lower-case name first.
   */
  static replay(origin: string, request: Recorded, set: Record<string, string | undefined> = {}, agent: http.Agent | false = false): Promise<Replayed> {
    const headers = forwarded(request.rawHeaders);
    const pairs: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!(headers[i].toLowerCase() in set)) pairs.push(headers[i], headers[i + 1]);
    for (const [name, value] of Object.entries(set)) if (value !== undefined) pairs.push(name, value);
    const url = new URL(origin);
    return new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: request.url, headers: pairs, agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(request.body);
    });
  }

  async close(): Promise<void> {
    this.#agent.destroy();
    await closeServer(this.#server);
  }
}

/** rawHeaders without the connection's own (a flat name, value… list, as http.request takes it). */
function forwarded(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}
