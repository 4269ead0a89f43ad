/**
 * `geecache/otel`: OpenTelemetry spans for geecache, made from its tracing channels
 * (common/diagnostics.ts), with nothing from OpenTelemetry but `@opentelemetry/api`.
 *
 *   import { instrumentGeecache } from 'geecache/otel';
 *   instrumentGeecache(); // with an OpenTelemetry SDK set up (NodeSDK, or a registered TracerProvider)
 *
 * Spans (docs/operations.md, "Tracing"): `cache.get` around a get, `cache.load` around a getter
 * run, a CLIENT span for each request to another peer and a SERVER span on the peer serving it,
 * with the HTTP semantic conventions' attributes. The asker's CLIENT span travels to the owner as
 * W3C trace context (traceparent, tracestate: a fixed format, encoded here from the span's
 * context, so the peer hop needs no propagator), and the owner's SERVER span and the getter run
 * under it continue that trace. geecache makes spans only inside a trace: under the span current
 * when a get starts, or, on the owner, under the asker's. A get outside any trace makes none.
 * Until an SDK is registered nothing subscribes, so geecache pays nothing.
 */

import type { TracingChannel, TracingChannelSubscribers } from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  context,
  createTraceState,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  type GetTrace,
  getTrace,
  type LoadTrace,
  loadTrace,
  type PeerTrace,
  peerTrace,
  type ServeTrace,
  serveTrace,
  type TraceHooks,
} from './common/diagnostics.js';
import { PACKAGE } from './version.js';

export interface GeecacheOtelOptions {
  /** Record each key as `cache.key` (default false: keys often carry user ids or other personal data). */
  recordKeys?: boolean;
  /** Where the tracer comes from. Default: the global one (`trace.getTracerProvider()`), once an SDK registers it. */
  tracerProvider?: TracerProvider;
}

/** What {@link instrumentGeecache} returns. */
export interface GeecacheOtel {
  /** True once spans are being made (an SDK is registered). */
  readonly active: boolean;
  /** Stops making spans: unsubscribes from geecache's channels. */
  disable(): void;
}

/** How often the global provider is checked for an SDK registered after instrumentGeecache() was called. */
const PROVIDER_CHECK_MS = 1_000;

/** The provider the API hands out while no SDK is registered (a ProxyTracerProvider without a delegate answers it). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** True when `provider` is the global proxy with no SDK behind it. */
const isNoop = (provider: TracerProvider) => provider instanceof ProxyTracerProvider && provider.getDelegate() === NOOP_PROVIDER;

/**
 * Makes OpenTelemetry spans of geecache's gets, getter runs and peer requests (see the file's
 * comment), in this process, for every geecache instance in it. With no SDK registered yet it
 * subscribes to nothing, checks once a second, and starts when one is.
 */
export function instrumentGeecache(options: GeecacheOtelOptions = {}): GeecacheOtel {
  const provider = options.tracerProvider ?? trace.getTracerProvider();
  let spans: Spans | undefined;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    spans = new Spans(provider.getTracer(PACKAGE.name, PACKAGE.version), options.recordKeys === true);
    spans.subscribe();
  };
  if (!isNoop(provider)) start();
  else {
    timer = setInterval(() => {
      if (isNoop(provider)) return;
      clearInterval(timer);
      start();
    }, PROVIDER_CHECK_MS);
    timer.unref();
  }
  return {
    get active() {
      return spans !== undefined;
    },
    disable() {
      clearInterval(timer);
      spans?.unsubscribe();
    },
  };
}

/** The events subscribed to: the others have no subscriber, which costs nothing to publish on. */
type Handlers<C extends object> = {
  start: (ctx: C) => void;
  error: (ctx: C) => void;
  asyncEnd: (ctx: C) => void;
};

/** The spans of one instrumentGeecache() call: one per traced operation, kept by its context object. */
class Spans {
  readonly #tracer: Tracer;
  readonly #recordKeys: boolean;
  /** The property of a context object that holds its span, while open (this instance's own). */
  readonly #span = Symbol('geecache/otel span');
  readonly #unsubscribe: (() => void)[] = [];

  constructor(tracer: Tracer, recordKeys: boolean) {
    this.#tracer = tracer;
    this.#recordKeys = recordKeys;
  }

  subscribe(): void {
    this.#on(
      getTrace,
      (ctx) => this.#internal('cache.get', ctx),
      (span, ctx) => this.#gotten(span, ctx),
    );
    this.#on(loadTrace, (ctx: LoadTrace) => this.#internal('cache.load', ctx));
    this.#on(
      peerTrace,
      (ctx) => this.#client(ctx),
      (span, ctx) => this.#answered(span, ctx, ctx.status, 400),
    );
    this.#on(
      serveTrace,
      (ctx) => this.#server(ctx),
      (span, ctx) => this.#answered(span, ctx, ctx.status, 500),
    );
  }

  unsubscribe(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  /**
   * Subscribes to one tracing channel: `begin` starts a span at `start` (or none), `finish` adds
   * what the outcome says; the span ends at `error` (which comes before `asyncEnd` when the
   * promise rejects, and alone, before `end`, when the work threw at once), else at `asyncEnd`.
   */
  #on<C extends TraceHooks>(
    channel: TracingChannel<unknown, C>,
    begin: (ctx: C) => Span | undefined,
    finish?: (span: Span, ctx: C) => boolean | undefined,
  ): void {
    const key = this.#span;
    const held = (ctx: C) => ctx as unknown as Record<symbol, Span | undefined>;
    const done = (ctx: C) => {
      const span = held(ctx)[key];
      if (span === undefined) return;
      held(ctx)[key] = undefined;
      const typed = finish?.(span, ctx) === true;
      if (ctx.error !== undefined) failed(span, ctx.error, typed);
      span.end();
    };
    const handlers: Handlers<C> = {
      start: (ctx) => {
        const span = begin(ctx);
        if (span !== undefined) held(ctx)[key] = span;
      },
      error: done,
      asyncEnd: done,
    };
    // Node subscribes only the handlers given (its types ask for all five).
    const given = handlers as unknown as TracingChannelSubscribers<C>;
    channel.subscribe(given);
    this.#unsubscribe.push(() => channel.unsubscribe(given));
  }

  /** An INTERNAL span under the current one, current itself for the work it traces; none outside a trace. */
  #internal(name: string, ctx: GetTrace | LoadTrace): Span | undefined {
    const parent = context.active();
    if (trace.getSpan(parent) === undefined) return undefined;
    const span = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: this.#keyed(ctx) }, parent);
    within(ctx, trace.setSpan(parent, span));
    return span;
  }

  #keyed(ctx: { group: string; key?: string }): Attributes {
    return this.#recordKeys && ctx.key !== undefined ? { 'cache.group': ctx.group, 'cache.key': ctx.key } : { 'cache.group': ctx.group };
  }

  #gotten(span: Span, ctx: GetTrace): undefined {
    if (ctx.hit !== undefined) span.setAttribute('cache.hit', ctx.hit);
    if (ctx.source !== undefined) span.setAttribute('cache.source', ctx.source);
    if (ctx.peer !== undefined) span.setAttribute('cache.peer', ctx.peer);
    if (ctx.shared) span.setAttribute('cache.shared', true);
  }

  /** The CLIENT span of a request to another peer; its context goes with the request (traceparent, tracestate). */
  #client(ctx: PeerTrace): Span | undefined {
    const parent = context.active();
    if (trace.getSpan(parent) === undefined) return undefined;
    const span = this.#tracer.startSpan(
      `${ctx.operation === 'get' ? 'GET' : ctx.operation === 'set' ? 'PUT' : 'DELETE'} ${routeOf(ctx.basePath, ctx.operation, undefined, ctx.key)}`,
      { kind: SpanKind.CLIENT, attributes: { 'server.address': ctx.address, 'server.port': ctx.port, ...this.#keyed(ctx) } },
      parent,
    );
    const { traceId, spanId, traceFlags, traceState } = span.spanContext();
    ctx.traceparent = `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    const state = traceState?.serialize();
    if (state) ctx.tracestate = state;
    within(ctx, trace.setSpan(parent, span));
    return span;
  }

  /** The SERVER span of a request served here: under the asker's span, else the current one; none outside a trace. */
  #server(ctx: ServeTrace): Span | undefined {
    let parent = context.active();
    const tp = ctx.traceparent; // checked by geecache: exactly 00-<32 hex>-<16 hex>-<2 hex>
    if (tp !== undefined)
      parent = trace.setSpanContext(parent, {
        traceId: tp.slice(3, 35),
        spanId: tp.slice(36, 52),
        traceFlags: Number.parseInt(tp.slice(53, 55), 16),
        isRemote: true,
        ...(ctx.tracestate === undefined ? {} : { traceState: createTraceState(ctx.tracestate) }),
      });
    else if (trace.getSpan(parent) === undefined) return undefined;
    const route = routeOf(ctx.basePath, ctx.operation, ctx.method, ctx.key);
    const attributes: Attributes = { 'http.request.method': ctx.method, 'http.route': route, 'server.address': ctx.address, 'server.port': ctx.port };
    const span = this.#tracer.startSpan(`${ctx.method} ${route}`, { kind: SpanKind.SERVER, attributes }, parent);
    within(ctx, trace.setSpan(parent, span));
    return span;
  }

  /**
   * The outcome of a peer hop (HTTP semantic conventions): method and status, and an error from
   * `errorFrom` on (4xx for a client, 5xx for a server), `error.type` its status code (then true).
   */
  #answered(span: Span, ctx: PeerTrace | ServeTrace, status: number | undefined, errorFrom: number): boolean {
    if (ctx.method !== undefined) {
      span.setAttribute('http.request.method', ctx.method);
      const route = routeOf(ctx.basePath, ctx.operation, ctx.method, ctx.key);
      span.updateName(`${ctx.method} ${route}`);
    }
    if (ctx.group !== undefined) span.setAttributes(this.#keyed({ group: ctx.group, key: ctx.key }));
    if (status === undefined) return false;
    span.setAttribute('http.response.status_code', status);
    if (status < errorFrom) return false;
    span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
    return true;
  }
}

/** Sets `ctx.within` to run the traced work with `active` current. */
function within(ctx: TraceHooks, active: Context): void {
  ctx.within = (work) => context.with(active, work);
}

/**
 * Marks `span` failed by `error`: the exception recorded, and `error.type` its code (ETIMEDOUT,
 * ECONNREFUSED) or its name, unless a status code already is (`typed`).
 */
function failed(span: Span, error: unknown, typed: boolean): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message.slice(0, 300) });
  if (typed) return;
  const code = (err.cause as { code?: unknown } | undefined)?.code ?? (err as { code?: unknown }).code;
  span.setAttribute('error.type', typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : err.name);
}

/** The route template of a peer request, as `http.route` names it: `{basePath}{group}/{key}`, or `{basePath}` for a batch. */
function routeOf(basePath: string, operation: string, method: string | undefined, key: string | undefined): string {
  if (method === 'POST') return basePath;
  return operation === 'remove' && key === undefined ? `${basePath}{group}` : `${basePath}{group}/{key}`;
}
