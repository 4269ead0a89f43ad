/**
 * selfcheck.ts catches start-up mistakes that only the running server reveals.
 */

import type { IncomingMessage, Server } from 'node:http';
import type { FullLogger } from '../common/logger.js';

/**
 * Start-up mistakes only the running server reveals, each warned about once with its fix:
 * `self` naming another port than the server listens on (the other peers then send this peer's
 * keys to the wrong place), and the middleware mounted under a path (peers ask for the peer
 * route at the root of the app and get Express's 404).
 */
export class SelfCheck {
  readonly #self: URL;
  readonly #basePath: string;
  readonly #fastPath: boolean;
  readonly #logger: FullLogger;
  #portChecked = false;
  #mountChecked = false;

  constructor(self: string, basePath: string, fastPath: boolean, logger: FullLogger) {
    this.#self = new URL(self);
    this.#basePath = basePath;
    this.#fastPath = fastPath;
    this.#logger = logger;
  }

  /** The port `self` names (its scheme's default when it names none). */
  get selfPort(): number {
    return Number(this.#self.port || (this.#self.protocol === 'https:' ? 443 : 80));
  }

  /** Checks the port `server` listens on, now or once it listens (attach()). */
  server(server: Server): void {
    if (this.#portChecked) return;
    const check = () => {
      const address = server.address();
      if (address && typeof address === 'object') this.#port(address.port);
    };
    if (server.listening) check();
    else server.once('listening', check);
  }

  /** Checks the first request the middleware sees: the port it came in on, the path it is mounted under. */
  request(req: IncomingMessage & { baseUrl?: string }): void {
    if (!this.#portChecked && req.socket?.localPort) this.#port(req.socket.localPort);
    if (this.#mountChecked) return;
    this.#mountChecked = true;
    if (!req.baseUrl) return;
    this.#logger.warn(
      `geecache: the middleware is mounted under "${req.baseUrl}", but peers ask for ${this.#basePath} at the root of this app and get 404` +
        `${this.#fastPath ? ' until the fast path is installed' : ''}. Mount it at the top level: app.use(cache), not app.use('${req.baseUrl}', cache)`,
    );
  }

  #port(port: number): void {
    this.#portChecked = true;
    if (port === this.selfPort) return;
    this.#logger.warn(
      `geecache: self is "${this.#self.origin}" (port ${this.selfPort}) but this server listens on port ${port}: the other peers send this peer's ` +
        `requests to port ${this.selfPort}. Set self to the URL the other peers reach this app at (ignore this if a proxy maps port ${this.selfPort} to ${port})`,
    );
  }
}
