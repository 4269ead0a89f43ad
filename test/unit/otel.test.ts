// geecache/otel in this process: the tracer is named after the package and its version, nothing
// subscribes (so geecache pays nothing) until an SDK is there, and a get outside any trace makes
// no span. (Spans across peers, with the SDK: test/process/otel.test.ts.)
import { readFileSync } from 'node:fs';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { expect } from 'chai';
import { getTrace, loadTrace, peerTrace, serveTrace } from '../../lib/common/diagnostics.js';
import { geecache } from '../../lib/index.js';
import { instrumentGeecache } from '../../lib/otel.js';
import { PACKAGE } from '../../lib/version.js';

const subscribed = () => [getTrace, loadTrace, peerTrace, serveTrace].some((channel) => channel.hasSubscribers);

describe('geecache/otel', () => {
  it('names its tracer after the package and the version package.json says (lib/version.ts, made by npm run build)', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(PACKAGE).to.deep.equal({ name: pkg.name, version: pkg.version });
  });

  it('subscribes to nothing while no SDK is registered', () => {
    const otel = instrumentGeecache();
    try {
      expect(otel.active).to.equal(false);
      expect(subscribed()).to.equal(false);
    } finally {
      otel.disable();
    }
  });

  it("with a provider: spans under the current span only, named by the package's tracer; disable() unsubscribes", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    const otel = instrumentGeecache({ tracerProvider: provider });
    const cache = geecache({ self: 'http://127.0.0.1:1', groups: { scores: { maxBytes: 1 << 20, getter: (key) => `value:${key}` } } });
    try {
      expect(otel.active).to.equal(true);
      expect(subscribed()).to.equal(true);
      await cache.group('scores').get('outside');
      expect(exporter.getFinishedSpans()).to.deep.equal([]);
      const request = provider.getTracer('app').startSpan('request');
      await context.with(trace.setSpan(context.active(), request), () => cache.group('scores').get('inside'));
      request.end();
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).to.have.members(['cache.load', 'cache.get', 'request']);
      const get = spans.find((s) => s.name === 'cache.get');
      expect(get?.instrumentationScope).to.include({ name: PACKAGE.name, version: PACKAGE.version });
      expect(get?.parentSpanContext?.spanId).to.equal(request.spanContext().spanId);
      expect(get?.attributes).to.deep.equal({ 'cache.group': 'scores', 'cache.hit': false, 'cache.source': 'getter' });
      expect(spans.find((s) => s.name === 'cache.load')?.parentSpanContext?.spanId).to.equal(get?.spanContext().spanId);
    } finally {
      otel.disable();
      cache.close();
      context.disable();
    }
    expect(subscribed()).to.equal(false);
  });
});
