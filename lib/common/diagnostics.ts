/**
 * diagnostics.ts publishes geecache's node:diagnostics_channel channels, Node's convention for
 * libraries: tracers and APMs subscribe by name, with no option to pass. Publishing is guarded by
 * `hasSubscribers`, so nobody listening costs one property read. Channels are process-wide by
 * design (Node keys them by name); each message says which peer or group it is about.
 */

import diagnostics_channel from 'node:diagnostics_channel';

/** A request to another peer finished: {@link PeerRequestMessage}. */
export const PEER_REQUEST_CHANNEL = 'geecache:peer:request';
/** A request to another peer failed in a way the operator should know about: {@link PeerErrorMessage}. */
export const PEER_ERROR_CHANNEL = 'geecache:peer:error';
/** A getter ran (a local load): {@link LoadMessage}. */
export const LOAD_CHANNEL = 'geecache:load';

export interface PeerRequestMessage {
  /** The peer's base URL. */
  peer: string;
  method: string;
  /** The request path (escaped, as sent). */
  path: string;
  /** The HTTP status, or undefined when no answer came. */
  status: number | undefined;
  durationMs: number;
  /** Set when no answer came (refused, timed out, reset). */
  error?: Error;
}

export interface PeerErrorMessage {
  peer: string;
  /** One of the causes counted per peer, e.g. `unauthorized`, `refused`, `timeout`. */
  cause: string;
  status?: number;
  /** What to fix, as logged. */
  message: string;
}

export interface LoadMessage {
  group: string;
  key: string;
  durationMs: number;
  /** Set when the getter failed. */
  error?: unknown;
}

export const peerRequestChannel = diagnostics_channel.channel(PEER_REQUEST_CHANNEL);
export const peerErrorChannel = diagnostics_channel.channel(PEER_ERROR_CHANNEL);
export const loadChannel = diagnostics_channel.channel(LOAD_CHANNEL);

/**
 * The tracing channels (Node's `diagnostics_channel.tracingChannel`: start, end, asyncStart,
 * asyncEnd and error, published as `tracing:<name>:<event>`) around a get, a getter run, a
 * request to another peer, and this peer serving one. `start` is published in the caller's
 * async context, so a subscriber nests its span under whatever span is current; a subscriber
 * may set `within` on the context object at `start`, and geecache then does the traced work
 * inside it (OpenTelemetry's `context.with` of the new span: geecache/otel), so what runs in it
 * (the peer request of a get, the database call in a getter) nests under that span. With nobody
 * subscribed, each is skipped after one `hasSubscribers` read.
 */
export const GET_TRACE = 'geecache:get';
/** A getter run: {@link LoadTrace}. */
export const LOAD_TRACE = 'geecache:load';
/** A request to another peer (a get, batched or not; a set; a remove), one per get: {@link PeerTrace}. */
export const PEER_TRACE = 'geecache:peer:request';
/** This peer serving another's request, one per get (each get of a batch too): {@link ServeTrace}. */
export const SERVE_TRACE = 'geecache:peer:serve';

/** What every traced operation's context object carries besides its own fields. */
export interface TraceHooks {
  /** Set by a `start` subscriber: the traced work runs inside it, e.g. with the subscriber's span current. */
  within?: <T>(work: () => T) => T;
  /** Set by tracePromise when the operation failed. */
  error?: unknown;
  /** Set by tracePromise when the operation succeeded. */
  result?: unknown;
}

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/): `traceparent` and `tracestate`
 * header values, as they cross the peer hop.
 */
export interface TraceContext {
  traceparent?: string;
  tracestate?: string;
}

/** Where a get's value came from. */
export type GetSource = 'main' | 'hot' | 'peer' | 'getter' | 'handoff';

/** A get (`Group.get`). */
export interface GetTrace extends TraceHooks {
  group: string;
  key: string;
  /** Set before the trace ends (unless the key was refused): whether it was answered from this process's caches. */
  hit?: boolean;
  /**
   * Set before the trace ends when known: `main` (this peer owns the key and had it), `hot` (a
   * copy of another peer's value), `peer` (fetched from the owner), `getter` (loaded here),
   * `handoff` (taken from the key's previous owner).
   */
  source?: GetSource;
  /** The owner peer's URL, when it was asked. */
  peer?: string;
  /** True when this get joined a load of the key that another get had started. */
  shared?: boolean;
}

/** A getter run: the getter under its deadline (`loadTimeoutMs`). */
export interface LoadTrace extends TraceHooks {
  group: string;
  key: string;
}

/** Host and port of a peer URL, as the HTTP semantic conventions name them. */
export interface PeerAddress {
  /** The peer's base URL. */
  peer: string;
  address: string;
  port: number;
}

/**
 * One request to another peer: a get, a set or a remove. A get that travels in a batch has its
 * own trace (each get may belong to another trace), `method` POST and its own result's status.
 * A `start` subscriber sets `traceparent` (and `tracestate`) to the context the peer continues.
 */
export interface PeerTrace extends TraceHooks, TraceContext, PeerAddress {
  operation: 'get' | 'set' | 'remove';
  /** The peer route's path on the peer (`basePath`, e.g. `/_geecache/`), for the route a span names. */
  basePath: string;
  group: string;
  /** Absent for a remove of the whole group (clear). */
  key?: string;
  /** The HTTP method it was sent with, once sent. */
  method?: string;
  /** The answer's HTTP status (a batched get's: the status its own result carries), once answered. */
  status?: number;
}

/**
 * Another peer's request served here, once admitted (signed, for this peer): a get (each get of a
 * batch on its own), a set, a remove or a clear. `traceparent` and `tracestate` are the asker's,
 * present only when well-formed (see traceContextOf).
 */
export interface ServeTrace extends TraceHooks, TraceContext {
  operation: 'get' | 'set' | 'remove';
  method: string;
  /** The peer route's path (`basePath`), for the route a span names. */
  basePath: string;
  /** This peer, as the asker addressed it. */
  address: string;
  port: number;
  group?: string;
  key?: string;
  /** The status answered (a batched get's: its result's), once answered. */
  status?: number;
  /** The name of the getter's error, when it failed. */
  errorName?: string;
}

export const getTrace = diagnostics_channel.tracingChannel<unknown, GetTrace>(GET_TRACE);
export const loadTrace = diagnostics_channel.tracingChannel<unknown, LoadTrace>(LOAD_TRACE);
export const peerTrace = diagnostics_channel.tracingChannel<unknown, PeerTrace>(PEER_TRACE);
export const serveTrace = diagnostics_channel.tracingChannel<unknown, ServeTrace>(SERVE_TRACE);

/**
 * Runs `work` as the operation `context` on `channel`, inside `context.within` when a start
 * subscriber set one, publishing what tracePromise publishes, in its order: start (through
 * runStores, for stores bound to it), end, then error, asyncStart and asyncEnd as its promise
 * settles. Work that answers a value at once (a hit) has asyncStart and asyncEnd published at
 * once too, and its value wrapped in a resolved promise: no promise hop, the largest part of what
 * tracing a hit would cost. Call it only when `channel.hasSubscribers`.
 */
export function traced<C extends TraceHooks, T>(channel: diagnostics_channel.TracingChannel<unknown, C>, context: C, work: () => T | Promise<T>): Promise<T> {
  const { start, end, asyncStart, asyncEnd, error } = channel;
  return runStores(start, context, () => {
    let out: T | Promise<T>;
    try {
      out = context.within ? context.within(work) : work();
    } catch (err) {
      context.error = err;
      error.publish(context);
      end.publish(context);
      throw err;
    }
    end.publish(context);
    if (!(out instanceof Promise)) {
      context.result = out;
      asyncStart.publish(context);
      asyncEnd.publish(context);
      return Promise.resolve(out);
    }
    return out.then(
      (result) => {
        context.result = result;
        asyncStart.publish(context);
        asyncEnd.publish(context);
        return result;
      },
      (err: unknown) => {
        context.error = err;
        error.publish(context);
        asyncStart.publish(context);
        asyncEnd.publish(context);
        throw err;
      },
    );
  });
}

/**
 * `start.runStores(context, run)`; when no store is bound to `start` (Node's ActiveChannel keeps
 * them in `_stores`), the same without the closure and iterator runStores makes: publish, then run.
 * With `_stores` not there (another Node), always runStores.
 */
function runStores<C extends object, T>(start: diagnostics_channel.Channel<unknown, C>, context: C, run: () => T): T {
  const stores = (start as unknown as { _stores?: Map<unknown, unknown> })._stores;
  if (stores === undefined || stores.size > 0) return start.runStores(context, run);
  start.publish(context);
  return run();
}

/** A traceparent of version 00: version, trace id, parent id, flags, in lower-case hex; ids not all zeros. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Longest tracestate kept (W3C: propagators should carry at least 512 characters, and may drop more). */
export const MAX_TRACESTATE = 512;
/** Most tracestate list members (W3C). */
const MAX_TRACESTATE_MEMBERS = 32;
/** One tracestate list member, `key=value`, as W3C trace context level 1 defines both. */
const TRACESTATE_MEMBER =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * The trace context of `traceparent` and `tracestate` as received, each only if it has exactly
 * the W3C shape: a traceparent of version 00 (55 characters), a tracestate of at most
 * {@link MAX_TRACESTATE} characters and 32 `key=value` members, and only with a traceparent.
 * Anything else is dropped (W3C: a receiver then starts a new trace), never echoed or logged.
 */
export function traceContextOf(traceparent: string | undefined, tracestate: string | undefined): TraceContext {
  if (traceparent === undefined || traceparent.length !== 55 || !TRACEPARENT.test(traceparent)) return {};
  return tracestate !== undefined && isTracestate(tracestate) ? { traceparent, tracestate } : { traceparent };
}

/** Optional white space around a list member: spaces and tabs only. */
const OWS = /^[ \t]+|[ \t]+$/g;

function isTracestate(value: string): boolean {
  if (value.length > MAX_TRACESTATE) return false;
  let members = 0;
  for (const part of value.split(',')) {
    const member = part.replace(OWS, '');
    if (member === '') continue;
    if (++members > MAX_TRACESTATE_MEMBERS || !TRACESTATE_MEMBER.test(member)) return false;
  }
  return members > 0;
}

/** The host and port of `url` (a peer's base URL) as a span names them: the port given, else the scheme's. */
export function peerAddress(url: string): PeerAddress {
  const { hostname, port, protocol } = new URL(url);
  const address = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return { peer: url, address, port: port ? Number(port) : protocol === 'https:' ? 443 : 80 };
}
