// The peer client's watchdog: tells a busy peer from a dead one, cuts the requests of a dead or
// stalled one, and keeps probing a peer it skips until it answers again.

/** Connection errors that say the peer is gone, rather than that this one exchange went wrong. */
export const DOWN_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/** True when `err` carries one of the {@link DOWN_CODES}. */
export const isDownError = (err: unknown): boolean => DOWN_CODES.has((err as { code?: string } | undefined)?.code ?? '');

/** Least time between two liveness probes of one peer (also how soon a recovered peer is seen). */
export const PROBE_INTERVAL_MS = 250;

/** Why this side cut an exchange short. */
export type Cut = 'down' | 'stuck' | 'wait' | 'size' | 'budget' | 'closed';

/**
 * One request in flight, as the watchdog judges it. Two clocks: a peer that has not sent a byte
 * (on any connection, or to a probe) for timeoutMs is down; a peer that is heard from is busy and
 * is waited for until `giveUpAt` (the load's own limit, plus timeoutMs).
 */
export interface Exchange {
  readonly controller: AbortController;
  readonly startedAt: number;
  readonly giveUpAt: number;
  /** performance.now() of the last byte of this exchange (its start before the first). */
  lastByteAt: number;
  /** A body or frame that has started must be complete by then: the peer has it ready. Infinity while a load is awaited. */
  finishBy: number;
  cut: Cut | undefined;
}

export interface LivenessOptions {
  readonly timeoutMs: number;
  readonly backoffMs: number;
  /**
   * Asks the peer something cheap on a connection apart from the requests': resolves on any
   * answer, rejects (with the socket error's `code`) on none. `signal` aborts it.
   */
  readonly probe: (signal: AbortSignal) => Promise<unknown>;
}

/**
 * "Busy" is not "down": a peer is given up on (and skipped) only when it refuses the connection,
 * or when a request has heard nothing for a while and a liveness probe then gets no answer within
 * timeoutMs. A peer that answers the probe (or sent anything, such as a `102 Processing`) is busy
 * loading, and is waited for up to the load's own limit plus timeoutMs. While skipped, a peer is
 * probed every {@link PROBE_INTERVAL_MS} and used again as soon as it answers (half-open), or
 * tried again after backoffMs.
 */
export class Liveness {
  readonly #options: LivenessOptions;
  readonly #inflight = new Set<Exchange>();
  #downUntil = 0;
  #closed = false;
  /** performance.now() of the last byte heard from the peer, on any exchange or probe. */
  #lastHeardAt = Number.NEGATIVE_INFINITY;
  /** Aborts the probe in flight, if any. */
  #probe: AbortController | undefined;
  #probeAt = Number.NEGATIVE_INFINITY;
  #ticker: NodeJS.Timeout | undefined;

  constructor(options: LivenessOptions) {
    this.#options = options;
  }

  /** True while the peer is skipped after it went silent or refused a connection. */
  get isDown(): boolean {
    return Date.now() < this.#downUntil;
  }

  /** Whether any byte has come from the peer yet (on an exchange or a probe). */
  get heardFrom(): boolean {
    return this.#lastHeardAt !== Number.NEGATIVE_INFINITY;
  }

  /** Milliseconds until a skipped peer is tried again regardless of probes. */
  get downForMs(): number {
    return Math.max(0, this.#downUntil - Date.now());
  }

  /** A new exchange, judged from now on: the load it asks for may take `waitMs`. */
  begin(waitMs: number): Exchange {
    const now = performance.now();
    const ex: Exchange = {
      controller: new AbortController(),
      startedAt: now,
      giveUpAt: now + waitMs + this.#options.timeoutMs,
      lastByteAt: now,
      finishBy: Number.POSITIVE_INFINITY,
      cut: undefined,
    };
    this.#inflight.add(ex);
    this.#watch();
    return ex;
  }

  end(ex: Exchange): void {
    this.#inflight.delete(ex);
  }

  /** A byte came from the peer (on `ex`, if given): it is alive (and, if it was skipped, usable again). */
  heard(ex?: Exchange): void {
    const now = performance.now();
    this.#lastHeardAt = now;
    if (ex) ex.lastByteAt = now;
    if (this.#downUntil !== 0) this.#downUntil = 0;
  }

  /** An answer (a body, a frame) has started on `ex`: the peer has it ready, so it must be complete within timeoutMs. */
  finishing(ex: Exchange): void {
    ex.finishBy = performance.now() + this.#options.timeoutMs;
  }

  /** `ex` is waiting for a load again (between the frames of a batch): only its own deadline applies. */
  waiting(ex: Exchange): void {
    ex.finishBy = Number.POSITIVE_INFINITY;
  }

  /** Cuts `ex` short; returns an error saying why (the exchange's own rejection follows). */
  cut(ex: Exchange, why: Cut, message: string = why): Error {
    if (!ex.cut) {
      ex.cut = why;
      ex.controller.abort();
      if (why === 'down' || why === 'stuck') this.markDown();
    }
    return new Error(message);
  }

  /** Skips the peer for backoffMs (probing it meanwhile). */
  markDown(): void {
    this.#downUntil = Date.now() + this.#options.backoffMs;
    this.#watch();
  }

  /** Cuts every exchange in flight ("closed") and stops watching and probing. */
  close(): void {
    this.#closed = true;
    for (const ex of this.#inflight) this.cut(ex, 'closed');
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#probe?.abort();
  }

  /** Runs the watchdog while anything is in flight or the peer is skipped. */
  #watch(): void {
    if (this.#ticker || this.#closed) return;
    const every = Math.max(5, Math.min(PROBE_INTERVAL_MS, this.#options.timeoutMs / 4));
    // Judged after the poll phase (setImmediate): bytes that came while this process was busy are read first.
    this.#ticker = setInterval(() => setImmediate(() => this.#tick()), every);
    this.#ticker.unref();
  }

  /** Judges every exchange in flight; probes the peer when one has heard nothing for a while (or the peer is skipped). */
  #tick(): void {
    const now = performance.now();
    const quiet = this.#options.timeoutMs / 4;
    const silent = now - this.#lastHeardAt;
    let probe = this.isDown;
    for (const ex of this.#inflight) {
      if (now >= ex.giveUpAt) this.cut(ex, 'wait');
      else if (now >= ex.finishBy) this.cut(ex, 'stuck');
      else if (now - ex.lastByteAt >= quiet && silent >= quiet) probe = true;
    }
    if (probe) this.#sendProbe(now);
    if (this.#inflight.size === 0 && !this.isDown && !this.#probe) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  /**
   * Probes the peer on a connection of its own — the pooled ones may all be waiting on slow
   * loads. Any answer proves the peer alive: exchanges waiting on it go on waiting. No answer
   * within timeoutMs, or a refused connection, means it is down: every exchange that has heard
   * nothing since the probe was sent is cut, and the peer is skipped (and probed) until it answers.
   */
  #sendProbe(now: number): void {
    if (this.#probe || this.#closed || now - this.#probeAt < PROBE_INTERVAL_MS) return;
    const controller = new AbortController();
    this.#probe = controller;
    this.#probeAt = now;
    const finish = (alive: boolean, down: boolean) => {
      if (this.#probe !== controller) return; // this probe was judged already
      this.#probe = undefined;
      clearTimeout(timer);
      if (this.#closed) return void controller.abort();
      if (alive) return this.heard();
      controller.abort();
      // An exchange the peer has answered anything on (102, headers, a frame) was accepted and is
      // being worked on: it is never cut as "down", only by its own deadlines.
      // Nor is any exchange cut while the peer sent anything at all, on any connection, since the probe left.
      if (down && this.#lastHeardAt < now) for (const ex of this.#inflight) if (ex.lastByteAt === ex.startedAt) this.cut(ex, 'down');
    };
    // The verdict waits for the poll phase after the deadline: an answer that arrived while this
    // process itself was busy (a burst of its own requests) is read before the peer is judged.
    const timer = setTimeout(() => setImmediate(() => finish(false, true)), this.#options.timeoutMs);
    timer.unref();
    // A reset (a stale keep-alive socket) proves nothing either way: the next probe asks again.
    this.#options.probe(controller.signal).then(
      () => finish(true, false),
      (err) => finish(false, isDownError(err)),
    );
  }
}
