// The contract between bench/run.mjs and the modules in bench/rows/ (checked by `npm run typecheck`).

/** pass/miss of a value: `value op target`; `text` is how the table prints the goal. */
export interface Goal {
  op: '<=' | '>=' | '==';
  target: number;
  text: string;
}

/** One line of the results table. */
export interface Line {
  label: string;
  value: number;
  unit?: string;
  goal?: Goal;
  measured?: string;
}

/** What a row's run() returns: its headline value (judged against goal) and its table lines. */
export interface RowResult {
  value: number;
  unit: string;
  /** Rows without a goal only inform. */
  goal?: Goal;
  reference: string;
  headline?: string;
  lines: Line[];
  details: Record<string, unknown>;
}

/** Options of one load generator run; `paths` are taken in turn, relative to `url`'s origin. */
export interface LoadOptions {
  url: string;
  paths?: string[];
  headers?: Record<string, string>;
  connections: number;
  duration: number;
  /** wrk only: pin the load generator to these CPUs (taskset -c), e.g. '1'. */
  cpus?: string;
}

export interface LoadResult {
  rps: number;
  total: number;
  ok: number;
  non2xx: number;
  errors: number;
  duration: number;
  p50: number;
  p99: number;
  meanLatency: number;
}

export interface Loadgen {
  kind: 'wrk' | 'autocannon';
  note: string | undefined;
  run(options: LoadOptions): Promise<LoadResult>;
  stop(): Promise<void>;
}

export interface RowContext {
  /** Set when the row exports needsLoadgen = true. */
  loadgen: Loadgen;
  log: (...args: unknown[]) => void;
}

/** A module of bench/rows/: `npm run bench -- <name>` runs it alone. */
export interface Row {
  name: string;
  title: string;
  needsLoadgen?: boolean;
  run(context: RowContext): Promise<RowResult>;
}

/** A child started by startChild or startBenchPeer (bench/lib/common.mjs), or the Go peer. */
export type { ChildHandle } from '../../test/helpers/child.mjs';
