/**
 * selforigin.ts tells which origins name this peer, so a signature made for another peer is refused.
 */

import os from 'node:os';

/**
 * The origins that name this peer, for checking that a signature was made for it and not for
 * another peer. Peers may spell this one differently from its `self` (one lists
 * `http://localhost:3000`, another `http://127.0.0.1:3000`): a request's Host is taken as the
 * origin it was signed for when it is `self`'s host, or `self`'s port on a loopback name or an
 * address of this machine. Any other Host (another machine, another port) is not this peer, and
 * the signature is checked against `self` itself — so a request signed for another peer fails.
 */
export class SelfOrigin {
  /** `self`'s origin, e.g. `http://10.0.0.1:3000`. */
  readonly origin: string;
  readonly #protocol: string;
  readonly #host: string;
  readonly #port: string;
  readonly #local: Set<string>;

  constructor(self: string) {
    const url = new URL(self);
    this.origin = url.origin;
    this.#protocol = url.protocol;
    this.#host = url.host;
    this.#port = url.port;
    this.#local = new Set(['localhost', url.hostname.replace(/^\[|\]$/g, '')]);
    for (const list of Object.values(os.networkInterfaces())) for (const iface of list ?? []) this.#local.add(iface.address);
  }

  /** The origin a request with this Host header was signed for if it names this peer, else `self`'s. */
  of(host: string | undefined): string {
    if (host === undefined || host === this.#host) return this.origin;
    let url: URL;
    try {
      url = new URL(`${this.#protocol}//${host}`);
    } catch {
      return this.origin;
    }
    if (url.port !== this.#port || url.username || url.password || url.pathname !== '/') return this.origin;
    return this.#local.has(url.hostname.replace(/^\[|\]$/g, '')) ? url.origin : this.origin;
  }
}
