// Reading a peer's answer: a whole body, or a batch answer frame by frame, each sized before it is
// read and held against maxResponseBytes and the ByteBudget shared by all peers' answers in flight.
import type { Readable } from 'node:stream';
import { FrameHeads, getResponseBound } from '../protocol/frames.js';
import { GET_RESPONSE_TYPE } from '../protocol/headers.js';
import { decodeResult, type PeerResult } from '../protocol/wire.js';
import type { ByteBudget } from './bodybudget.js';
import type { Exchange, Liveness } from './liveness.js';
import type { TransportResponse } from './transport.js';

/** What a reader needs: whom it reads from, its limits, and the watchdog it reports each byte to. */
export interface BodyReading {
  readonly peer: string;
  /** Most bytes of one body or one frame. */
  readonly maxBytes: number;
  readonly budget: ByteBudget;
  readonly liveness: Liveness;
  readonly ex: Exchange;
}

/**
 * The body in one buffer, allocated once and filled as chunks arrive (no gather-and-copy):
 * sized by the Content-Length, or — a GetResponse sent chunked, as Go's server sends any value
 * over 2 KB — by the length of its value field, read from its first bytes. Each size is checked
 * against maxBytes and reserved on the shared budget before a byte more is read; a body of no
 * knowable size is gathered up to the same limits. The peer has the answer ready once it sends
 * headers, so the body must arrive within timeoutMs.
 */
export async function readBody(res: TransportResponse, reading: BodyReading): Promise<Buffer> {
  const { peer, maxBytes: max, budget, liveness, ex } = reading;
  liveness.finishing(ex);
  const announced = res.header('content-length');
  const length = announced === null ? Number.NaN : Number(announced);
  if (announced !== null && !(Number.isSafeInteger(length) && length >= 0)) throw new Error(`peer ${peer} sent content-length ${announced}`);
  let sniff = announced === null && res.status === 200 && res.header('content-type') === GET_RESPONSE_TYPE;
  let target: Buffer | undefined;
  let held = 0;
  const allocate = (bytes: number) => {
    if (bytes > max) throw liveness.cut(ex, 'size', `peer ${peer} announced ${bytes} bytes, over maxResponseBytes (${max})`);
    if (!budget.take(bytes)) throw liveness.cut(ex, 'budget', overBudget(reading, bytes));
    held += bytes;
    target = Buffer.allocUnsafeSlow(bytes);
  };
  if (announced !== null) allocate(length);
  let chunks: Buffer[] = [];
  let size = 0;
  try {
    await readStream(res.body, (chunk) => {
      liveness.heard(ex);
      if (target) {
        if (size + chunk.length > target.length) throw new Error(`peer ${peer} sent more than the ${target.length} bytes it announced`);
        chunk.copy(target, size);
        size += chunk.length;
        return;
      }
      if (size + chunk.length > max) throw liveness.cut(ex, 'size', `peer ${peer} sent over maxResponseBytes (${max})`);
      if (!budget.take(chunk.length)) throw liveness.cut(ex, 'budget', overBudget(reading, chunk.length));
      held += chunk.length;
      chunks.push(chunk);
      size += chunk.length;
      if (!sniff) return;
      let total: number | undefined;
      try {
        total = getResponseBound(chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
      } catch {
        throw new Error(`peer ${peer} sent bytes that are not a GetResponse`);
      }
      if (total === undefined) return; // not enough bytes yet
      sniff = false;
      if (total < 0) return; // another field first: gather
      const gathered = chunks;
      chunks = [];
      budget.give(size);
      held -= size;
      allocate(Math.max(total, size));
      size = 0;
      for (const part of gathered) {
        part.copy(target as unknown as Buffer, size);
        size += part.length;
      }
    });
    if (announced !== null && size !== length) throw new Error(`peer ${peer} sent ${size} of ${length} bytes`);
    if (target) return size === target.length ? target : target.subarray(0, size);
    return Buffer.concat(chunks, size);
  } finally {
    budget.give(held);
  }
}

/**
 * Reads a batch answer frame by frame — `0x0a varint(length) Result`, the framing of
 * BatchResponse's repeated field — and hands each Result to `onResult` as soon as its last byte
 * is in. Each frame is read into its own buffer (reserved on the shared budget while it fills),
 * so a value cached from a batch holds only its own bytes. Expiries sent as the time left are read
 * from `askedAt` (when the batch was sent; see the client's #received). Returns the frames read.
 */
export async function readFrames(
  stream: Readable,
  reading: BodyReading,
  onResult: (index: number, result: PeerResult) => void,
  askedAt?: number,
): Promise<number> {
  const { peer, maxBytes: max, budget, liveness, ex } = reading;
  let count = 0;
  const heads = new FrameHeads();
  let frame: Buffer | undefined;
  let filled = 0;
  try {
    await readStream(stream, (chunk) => {
      liveness.heard(ex);
      let at = 0;
      while (at < chunk.length) {
        if (frame === undefined) {
          if (!heads.partial) liveness.finishing(ex); // a frame has started: the peer has it ready
          let head: { length: number; end: number } | undefined;
          try {
            head = heads.read(chunk, at);
          } catch (err) {
            throw new Error(`peer ${peer} sent a malformed batch answer (${(err as Error).message})`);
          }
          if (head === undefined) break; // the head goes on in the next chunk
          at = head.end;
          const { length } = head;
          if (length > max) throw liveness.cut(ex, 'size', `peer ${peer} sent a ${length}-byte result, over maxResponseBytes (${max})`);
          if (!budget.take(length)) throw liveness.cut(ex, 'budget', overBudget(reading, length));
          frame = Buffer.allocUnsafeSlow(length);
          filled = 0;
        } else {
          const n = Math.min(frame.length - filled, chunk.length - at);
          chunk.copy(frame, filled, at, at + n);
          filled += n;
          at += n;
        }
        if (frame !== undefined && filled === frame.length) {
          const complete = frame;
          budget.give(complete.length);
          frame = undefined;
          liveness.waiting(ex);
          const { index, result } = decodeResult(complete, askedAt);
          onResult(index ?? count, result);
          count++;
        }
      }
    });
  } finally {
    if (frame) budget.give(frame.length);
  }
  if (heads.partial || frame !== undefined) throw new Error(`peer ${peer} cut a batch answer short`);
  return count;
}

function overBudget({ peer, budget }: BodyReading, bytes: number): string {
  return `not reading ${bytes} bytes from peer ${peer}: responses in flight already hold ${budget.used} of ${budget.limit} bytes (2 × maxResponseBytes)`;
}

/** Hands each chunk of `stream` to `onChunk` (which may throw to stop); resolves at its end. */
function readStream(stream: Readable, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown) => {
      settled = true;
      stream.off('data', data);
      stream.destroy();
      reject(err);
    };
    const data = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        fail(err);
      }
    };
    stream.on('data', data);
    stream.once('end', () => {
      settled = true;
      resolve();
    });
    stream.once('error', fail);
    // Destroyed without an error: the answer was cut short. Once settled no Error is made (its
    // stack costs microseconds, and every answer read to its end closes its stream).
    stream.once('close', () => {
      if (!settled) reject(new Error('the answer was cut short'));
    });
  });
}
