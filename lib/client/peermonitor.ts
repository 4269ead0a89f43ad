// Error accounting of one peer client: requests, failures by cause, latency, and one warning per
// cause that names the fix.
import { type PeerErrorMessage, type PeerRequestMessage, peerErrorChannel, peerRequestChannel } from '../common/diagnostics.js';
import { messageOf } from '../common/errors.js';
import { Histogram } from '../common/histogram.js';
import { type FullLogger, Notices } from '../common/logger.js';
import { MAX_CLOCK_SKEW_MS } from '../protocol/auth.js';
import { CLIENT_CERT_REFUSED } from '../protocol/headers.js';
import { ClockSkew } from './clockskew.js';
import { isDownError, PROBE_INTERVAL_MS } from './liveness.js';

/**
 * Why a request to a peer failed, as counted per peer and used as the `cause` label. Each has
 * its own warning naming the fix (see {@link PeerMonitor}).
 */
export type PeerErrorCause =
  | 'unauthorized' // 401: the secrets differ, the clocks are skewed, or no client certificate the peer accepts
  | 'tls' // the TLS handshake failed: a certificate not trusted, not for that name, or refused
  | 'not_found' // 404 from something that is not the peer route
  | 'no_group' // 404 "no such group": the peers define different groups
  | 'disabled' // 403: that peer has no other peers and no secret
  | 'rate_limited' // 429
  | 'refused' // connection refused, host unreachable, unknown name
  | 'timeout' // no answer within timeoutMs
  | 'reset' // connection reset: healthy peers reset idle keep-alive sockets, so counted, never warned
  | 'bad_status' // any other answer: a proxy or another server answered
  | 'too_large'; // an answer over maxResponseBytes, or over the budget of all answers in flight

/** Every cause, for exporters that show zeros. */
export const PEER_ERROR_CAUSES: readonly PeerErrorCause[] = Object.freeze([
  'unauthorized',
  'tls',
  'not_found',
  'no_group',
  'disabled',
  'rate_limited',
  'refused',
  'timeout',
  'reset',
  'bad_status',
  'too_large',
]);

/** OpenSSL's certificate verification codes (Node's own TLS errors start with ERR_TLS_ or ERR_SSL_). */
const CERT_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);
const isTlsError = (code: string) => code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || CERT_CODES.has(code);
const TLS_ADVICE =
  "its keys are loaded locally. Check that tls.ca holds the CA of the peers' server certificates, that each names the host of its peer URL " +
  '(or set tls.servername), and, where peers require client certificates, that tls.cert and tls.key are signed by the CA they verify against';

/** Settings a monitor needs to word its advice. */
export interface PeerMonitorOptions {
  basePath: string;
  timeoutMs: number;
  backoffMs: number;
  logger: FullLogger;
}

/**
 * Watches the answers of one remote peer: counts requests and errors by cause, keeps a latency
 * histogram, and warns once per cause with the fix, so that a cluster quietly falling back to
 * "every instance loads everything" says why. Also publishes the diagnostics_channel messages.
 */
export class PeerMonitor {
  readonly peer: string;
  /** Requests sent to the peer (answered or not). */
  requests = 0;
  /** Failed requests by cause. */
  readonly errors: Partial<Record<PeerErrorCause, number>> = {};
  /** Seconds from sending a request to reading its whole answer. */
  readonly latency = new Histogram();
  /** Moving average of the latency, in ms (undefined before the first answer). */
  latencyMs: number | undefined;
  /** The last failure, for dashboards and health checks. */
  lastError: { cause: PeerErrorCause; message: string; at: number } | undefined;
  /** The peer's clock skew, measured from its answers; warns once when it is over a second. */
  readonly clock: ClockSkew;
  readonly #options: PeerMonitorOptions;
  readonly #notices: Notices;

  constructor(peer: string, options: PeerMonitorOptions) {
    this.peer = peer;
    this.#options = options;
    this.#notices = new Notices(options.logger);
    this.clock = new ClockSkew(peer, (message) => this.#notices.warn('clock_skew', message));
  }

  /**
   * A request got an answer. `startedAt` is performance.now() when it was sent; `date` the
   * answer's Date header; `getterFailed` the geecache marker of an owner's getter error or not-found;
   * `expected` an answer the protocol expects (leaving, peek miss), which is no failure;
   * `bodyStart` the first bytes of a non-200 body.
   */
  answered(
    method: string,
    path: string,
    status: number,
    startedAt: number,
    date: string | null,
    getterFailed: boolean,
    bodyStart: string,
    expected = false,
  ): void {
    const ms = this.#timed(startedAt);
    if (peerRequestChannel.hasSubscribers) peerRequestChannel.publish({ peer: this.peer, method, path, status, durationMs: ms } satisfies PeerRequestMessage);
    // A getter error (or a getter's not-found, a marked 404) is the app's, not the peer's; 400/405
    // to a batch is a golang/groupcache peer saying it does not batch (the getter then sends plain requests);
    // so is 400, 404, 405 or 415 to a batch of writes (an older geecache: writelane.ts).
    // `expected`: a peer that is leaving (503), a peek that found nothing (404): the protocol at work.
    if (status === 200 || expected || ((status === 500 || status === 404) && getterFailed) || (method === 'POST' && (status === 400 || status === 405))) return;
    if (method === 'DELETE' && path === this.#options.basePath && (status === 400 || status === 404 || status === 405 || status === 415)) return;
    const [cause, message] = this.#diagnose(status, date, bodyStart);
    this.#fail(cause, status, message);
  }

  /** The cause of a failed answer and its advice (built only when logged or read). */
  #diagnose(status: number, date: string | null, bodyStart: string): [PeerErrorCause, () => string] {
    const route = this.#options.basePath;
    if (status === 401 && bodyStart.startsWith(CLIENT_CERT_REFUSED))
      return [
        'unauthorized',
        () =>
          `peer ${this.peer} refused our request (401): ${bodyStart.trim().slice(0, 200)}. Give this peer tls.cert and tls.key: a client certificate signed by the CA that peer's HTTPS server verifies against (its ca)`,
      ];
    if (status === 401) return ['unauthorized', () => `peer ${this.peer} refused our signed request (401): ${this.#why401(date)}`];
    if (status === 404 && bodyStart.startsWith('no such group'))
      return ['no_group', () => `peer ${this.peer} answered "${bodyStart.trim()}": define the same groups on every peer`];
    if (status === 404)
      return [
        'not_found',
        () =>
          `peer ${this.peer} answered 404 for its peer route ${route}: the peer route is not mounted at the root of that app, or basePath differs. ` +
          `Mount geecache at the top level (app.use(cache), not app.use('/api', cache)) and give every peer the same basePath (this one uses "${route}")`,
      ];
    if (status === 429)
      return [
        'rate_limited',
        () =>
          `peer ${this.peer} answered 429 Too Many Requests: a rate limiter runs before geecache on that app. ` +
          `Mount geecache before the limiter, or exempt ${route} from it (peer traffic is one process asking on behalf of many users)`,
      ];
    if (status === 403)
      return [
        'disabled',
        () =>
          `peer ${this.peer} answered 403: its peer route is off (it lists no other peers and has no secret). Give every peer the same peers list and secret`,
      ];
    return [
      'bad_status',
      () =>
        `peer ${this.peer} answered ${status} (${bodyStart.trim().slice(0, 80) || 'no text'}): something other than a geecache peer route answered; check what serves ${this.peer}${route}`,
    ];
  }

  /** A request got no answer: refused, timed out, reset. */
  failed(method: string, path: string, startedAt: number, err: unknown): void {
    const ms = this.#timed(startedAt);
    if (peerRequestChannel.hasSubscribers)
      peerRequestChannel.publish({ peer: this.peer, method, path, status: undefined, durationMs: ms, error: err as Error } satisfies PeerRequestMessage);
    const code = (err as { code?: string })?.code ?? '';
    if (code === 'ETOOLARGE' || code === 'EBUDGET') {
      const advice =
        code === 'ETOOLARGE'
          ? `an answer over maxResponseBytes (${messageOf(err)}); raise maxResponseBytes on this peer if values that large are expected`
          : `answers in flight from peers are over their shared budget (2 × maxResponseBytes); that get was loaded locally`;
      this.#fail('too_large', undefined, () => `peer ${this.peer}: ${advice}`);
      return;
    }
    if (isTlsError(code)) {
      // The code only: the HTTP client's message names the request's URL, and so a key.
      this.#fail('tls', undefined, () => `peer ${this.peer}: the TLS handshake failed (${code}); ${TLS_ADVICE}`);
      return;
    }
    const timedOut = (err as Error)?.name === 'AbortError' || code === 'ETIMEDOUT';
    if (!timedOut && !isDownError(err)) {
      this.#count('reset', undefined, `peer ${this.peer}: ${messageOf(err)}`, false);
      return;
    }
    const skipped = `its keys are loaded locally meanwhile, and it is skipped until it answers a probe (every ${PROBE_INTERVAL_MS} ms; at most backoffMs, ${this.#options.backoffMs} ms)`;
    if (timedOut)
      this.#fail(
        'timeout',
        undefined,
        () =>
          `peer ${this.peer} is down or stuck: no answer within timeoutMs (${this.#options.timeoutMs} ms); ${skipped}. Restart it, or remove it from peers on every instance`,
      );
    else
      this.#fail(
        'refused',
        undefined,
        () =>
          `peer ${this.peer} is down or unreachable (${code}); ${skipped}. Start it, check self/peers name reachable addresses, or remove it from peers on every instance`,
      );
  }

  /** A batch answered "no such group" for one of its gets (the batch itself succeeded). */
  groupMissing(error: string): void {
    if (error.startsWith('no such group'))
      this.#fail('no_group', 404, () => `peer ${this.peer} answered "${error.trim()}": define the same groups on every peer`);
  }

  /** The 401 advice: secrets or clocks, told apart by the peer's Date header (its clock). */
  #why401(date: string | null): string {
    const peerNow = date ? Date.parse(date) : Number.NaN;
    const window = MAX_CLOCK_SKEW_MS / 1000;
    if (Number.isNaN(peerNow)) return `the secrets differ, or the clocks are skewed by more than ${window} s (the peer sent no Date header to tell which)`;
    const skew = Math.round((peerNow - Date.now()) / 1000);
    const abs = Math.abs(skew);
    if (abs >= window - 2)
      return `the clocks are skewed by ${abs} s (the peer is ${skew > 0 ? 'ahead' : 'behind'}; a signature is valid for ${window} s). Synchronise the clocks (NTP) on every peer`;
    return `the secrets differ (the clocks agree within ${Math.max(abs, 1)} s). Set the same secret on every peer`;
  }

  #timed(startedAt: number): number {
    const ms = performance.now() - startedAt;
    this.requests++;
    this.latency.observe(ms / 1000);
    this.latencyMs = this.latencyMs === undefined ? ms : this.latencyMs * 0.8 + ms * 0.2;
    return ms;
  }

  #fail(cause: PeerErrorCause, status: number | undefined, message: () => string): void {
    this.#count(cause, status, undefined, true, message);
  }

  #count(cause: PeerErrorCause, status: number | undefined, text: string | undefined, warn: boolean, message?: () => string): void {
    this.errors[cause] = (this.errors[cause] ?? 0) + 1;
    const words = message ?? (() => text ?? cause);
    const at = Date.now();
    if (warn) this.#notices.warn(cause, words, at);
    else this.#options.logger.debug(`geecache: ${words()}`);
    // Built once per failure only when someone reads it (the dashboard, a subscriber).
    let cached: string | undefined;
    const lazy = () => (cached ??= words());
    this.lastError = {
      cause,
      at,
      get message() {
        return lazy();
      },
    };
    if (peerErrorChannel.hasSubscribers) peerErrorChannel.publish({ peer: this.peer, cause, status, message: lazy() } satisfies PeerErrorMessage);
  }
}
