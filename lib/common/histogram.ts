/**
 * histogram.ts measures latencies: a fixed-bucket histogram cheap enough for every peer request and getter
 * run, read by the dashboard and the Prometheus exporter.
 */

/** Upper bounds (seconds) of the latency buckets: 0.5 ms to 30 s, roughly ×2.5 apart. */
export const LATENCY_BUCKETS = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/** A snapshot of a {@link Histogram}: cumulative counts per upper bound, as Prometheus exposes them. */
export interface HistogramSnapshot {
  /** Upper bounds in seconds, ascending; `+Inf` is implied by `count`. */
  buckets: readonly number[];
  /** Observations at or below each bound (cumulative). */
  cumulative: number[];
  /** Sum of observations, in seconds. */
  sum: number;
  count: number;
}

/**
 * A fixed-bucket latency histogram, cheap enough to observe on every peer request and every
 * getter run (never on a cache hit): a short scan and two additions. Exporters read it at
 * scrape time, so geecache needs no metrics library to keep it.
 */
export class Histogram {
  readonly #bounds: readonly number[];
  /** Non-cumulative counts; the last slot is above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one duration, in seconds. */
  observe(seconds: number): void {
    let i = 0;
    while (i < this.#bounds.length && seconds > this.#bounds[i]) i++;
    this.#counts[i]++;
    this.#sum += seconds;
    this.#count++;
  }

  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      running += this.#counts[i];
      cumulative.push(running);
    }
    return { buckets: this.#bounds, cumulative, sum: this.#sum, count: this.#count };
  }
}
