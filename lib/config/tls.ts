/**
 * tls.ts checks the `tls` option — the private CA peers trust, the client certificate this peer
 * presents, and whether its peer route requires one — and turns it into what the peer client's
 * transports and the peer route's admission take.
 */

import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import type { PeerTls } from '../client/transport.js';
import { checkKnown, flag } from '../common/checks.js';
import { describe } from '../common/describe.js';
import { ConfigError, messageOf } from '../common/errors.js';

/** PEM text: a string or a Buffer holding one or more `-----BEGIN …-----` blocks, or a list of them. */
export type Pem = string | Buffer | readonly (string | Buffer)[];

/**
 * The `tls` option: TLS between peers with `https://` URLs, beyond Node's defaults. The client
 * half (`ca`, `cert`, `key`, `passphrase`, `servername`) applies to every request this peer sends
 * to another (gets, batches, writes, liveness probes, stats), on either transport. The server
 * half is the app's own HTTPS server (geecache runs inside it): see docs/security.md#tls.
 */
export interface PeerTlsOptions {
  /**
   * The CA certificates (PEM) a peer's server certificate must chain to, instead of Node's
   * default list: a private CA, or the one CA you pin.
   */
  ca?: Pem;
  /** The client certificate (PEM, with its chain) this peer presents to others: mutual TLS. Needs `key`. */
  cert?: Pem;
  /** The private key (PEM) of `cert`. */
  key?: Pem;
  /** Decrypts `key` when it is encrypted. */
  passphrase?: string;
  /**
   * The name a peer's server certificate must carry (and the SNI sent), when it is not the host
   * of the peer's URL: peers reached by IP address (a discovery source) with one certificate for a
   * DNS name, e.g. `'geecache.internal'`.
   */
  servername?: string;
  /**
   * Refuse peer requests (401) whose connection did not present a client certificate that the
   * app's HTTPS server verified (`req.socket.authorized`): create that server with
   * `requestCert: true` and `ca` (the CA that signs the peers' client certificates). Default false.
   */
  requireClientCert?: boolean;
}

/** The `tls` option, checked. */
export interface TlsConfig {
  /** For the peer client's connections; undefined: Node's defaults. */
  readonly client: PeerTls | undefined;
  readonly requireClientCert: boolean;
}

const KNOWN = ['ca', 'cert', 'key', 'passphrase', 'servername', 'requireClientCert'];

/** Checks the `tls` option (for a peer whose URL is `self`); throws a ConfigError naming the field and the fix. */
export function checkTls(value: unknown, self: string): TlsConfig {
  if (value === undefined) return { client: undefined, requireClientCert: false };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError('tls', `must be an object such as { ca, cert, key } (PEM text, e.g. fs.readFileSync('ca.pem')), got ${describe(value)}`);
  checkKnown(value, KNOWN, 'tls.');
  const options = value as Record<string, unknown>;
  const ca = pem(options.ca, 'tls.ca');
  const cert = pem(options.cert, 'tls.cert');
  const key = pem(options.key, 'tls.key');
  if ((cert === undefined) !== (key === undefined))
    throw new ConfigError(
      cert === undefined ? 'tls.key' : 'tls.cert',
      'needs its pair: give both tls.cert (the client certificate) and tls.key (its private key)',
    );
  const passphrase = options.passphrase;
  if (passphrase !== undefined && typeof passphrase !== 'string') throw new ConfigError('tls.passphrase', `must be a string, got ${describe(passphrase)}`);
  const servername = options.servername;
  if (servername !== undefined && (typeof servername !== 'string' || servername.length === 0 || servername.length > 253 || isIP(servername) !== 0))
    throw new ConfigError(
      'tls.servername',
      `must be a DNS name such as 'geecache.internal' (TLS sends no IP address as a server name; an IP in the peer URL is checked as it is), got ${describe(servername, 60)}`,
    );
  const requireClientCert = flag(options.requireClientCert, 'tls.requireClientCert', false);
  if (requireClientCert && !self.startsWith('https:'))
    throw new ConfigError('tls.requireClientCert', `needs self to be an https:// URL (a client certificate comes only over TLS), got ${JSON.stringify(self)}`);
  if (requireClientCert && cert === undefined)
    throw new ConfigError(
      'tls.requireClientCert',
      'needs tls.cert and tls.key: every peer asks the others, which require a client certificate too (the same tls option on every peer)',
    );
  // What OpenSSL makes of it, now rather than at the first request: a CA that is no certificate, a key that is not cert's.
  if (ca !== undefined) certificates(ca, 'tls.ca');
  if (cert !== undefined) certificates(cert, 'tls.cert');
  try {
    if (cert !== undefined) createSecureContext({ cert, key, passphrase });
  } catch (err) {
    throw new ConfigError(
      'tls.cert',
      `and tls.key could not be used together (${messageOf(err)}): give the PEM certificate and its own private key (and tls.passphrase if it is encrypted)`,
    );
  }
  const client: PeerTls = {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert, key }),
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(servername === undefined ? {} : { servername }),
  };
  return { client: Object.keys(client).length > 0 ? Object.freeze(client) : undefined, requireClientCert };
}

/** Parses each PEM certificate in `pem` (Node's TLS skips one it cannot read, silently); throws a ConfigError naming `option`. */
function certificates(pem: string | Buffer | (string | Buffer)[], option: string): void {
  for (const item of Array.isArray(pem) ? pem : [pem]) {
    const blocks = (typeof item === 'string' ? item : item.toString('latin1')).match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) throw new ConfigError(option, 'holds no PEM certificate ("-----BEGIN CERTIFICATE-----" … "-----END CERTIFICATE-----")');
    for (const [i, block] of blocks.entries()) {
      try {
        new X509Certificate(block);
      } catch (err) {
        throw new ConfigError(option, `could not be read as a PEM certificate (certificate ${i + 1}): ${messageOf(err)}`);
      }
    }
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** `value` as PEM text (a string, Buffer, or a non-empty list of them); undefined when undefined. */
function pem(value: unknown, option: string): string | Buffer | (string | Buffer)[] | undefined {
  if (value === undefined) return undefined;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new ConfigError(option, 'must not be an empty list: leave it out for the default');
  for (const item of list) {
    const text = typeof item === 'string' ? item : Buffer.isBuffer(item) ? item.toString('latin1') : undefined;
    if (text === undefined) throw new ConfigError(option, `must be PEM text (a string or Buffer), or a list of them; got ${describe(item)}`);
    if (!text.includes('-----BEGIN ')) {
      const hint =
        typeof item === 'string' && item.length < 1024 && !item.includes('\n')
          ? `; it looks like a file name: pass the file's contents, fs.readFileSync(${JSON.stringify(item.slice(0, 100))})`
          : '';
      throw new ConfigError(option, `must be PEM text, starting with "-----BEGIN "${hint}`);
    }
  }
  return Array.isArray(value) ? [...list] : (value as string | Buffer);
}
