/**
 * The batch, `POST {basePath}`: many gets in one request (geecache peers only; see the client's
 * coalescer), answered as a stream of Result frames, each as soon as it is ready, or, to an older
 * geecache client, as one BatchResponse.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { GetRequest } from '../cache/peers.js';
import type { GroupRegistry } from '../cache/registry.js';
import { messageOf } from '../common/errors.js';
import { BATCH_CONTENT_TYPE, BATCH_STREAM_TYPE, MAX_BATCH, MAX_BATCH_REQUEST_BYTES } from '../protocol/headers.js';
import { decodeBatchRequest, encodeBatchResponse, type PeerResult, resultFramePrefix } from '../protocol/wire.js';
import type { Admission, PeerRequest } from './admit.js';
import { EncodeGuard } from './encodeguard.js';
import { failure, reply, resultOf, send, waitedOut, waitOf } from './reply.js';
import type { ServeTracing } from './tracing.js';

/** Answers admitted batches from this process's groups. */
export class Batches {
  readonly #registry: GroupRegistry;
  readonly #admission: Admission;
  /** Scratch writer for Result frame prefixes; finish() leaves it empty for the next one (a failed encoding: see #frame). */
  #writer = new BinaryWriter();
  readonly #encoding: EncodeGuard;
  /** Each get of a batch served as its own trace, when anyone subscribes. */
  readonly #tracing: ServeTracing | undefined;

  constructor(registry: GroupRegistry, admission: Admission, encoding = new EncodeGuard(), tracing?: ServeTracing) {
    this.#registry = registry;
    this.#admission = admission;
    this.#encoding = encoding;
    this.#tracing = tracing;
  }

  /** Reads the batch's body (through admission), then answers each get in it. */
  async serve(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> {
    const body = await this.#admission.body(req, res, request, 'batch', MAX_BATCH_REQUEST_BYTES);
    if (body === undefined) return;
    let requests: GetRequest[];
    try {
      requests = decodeBatchRequest(body);
    } catch (err) {
      return reply(res, 400, `bad batch request: ${messageOf(err)}`);
    }
    if (requests.length > MAX_BATCH) return reply(res, 400, `bad batch request: ${requests.length} gets, over the limit of ${MAX_BATCH}`);
    const waitMs = waitOf(request.wait);
    if (request.header('accept')?.includes(BATCH_STREAM_TYPE)) return this.#stream(res, requests, waitMs);
    // An older geecache client: the whole answer at once, in order.
    const results = await Promise.all(requests.map((get) => this.#answer(get, waitMs)));
    send(res, BATCH_CONTENT_TYPE, this.#encodeAll(results));
  }

  /** The BatchResponse of `results`; a result that cannot be encoded is answered as a failure (see EncodeGuard). */
  #encodeAll(results: PeerResult[]): Uint8Array {
    try {
      return encodeBatchResponse(results);
    } catch {
      return encodeBatchResponse(
        results.map((result) => {
          try {
            encodeBatchResponse([result]);
            return result;
          } catch (err) {
            return this.#encoding.failed(err);
          }
        }),
      );
    }
  }

  /** The Result frame prefix of `result`, or of its failure when it cannot be encoded (see EncodeGuard). */
  #frame(index: number, result: PeerResult): { prefix: Uint8Array; result: PeerResult } {
    try {
      return { prefix: resultFramePrefix(index, result, this.#writer), result };
    } catch (err) {
      this.#writer = new BinaryWriter(); // the failed encoding may have left bytes in the scratch writer
      const failed = this.#encoding.failed(err);
      return { prefix: resultFramePrefix(index, failed, this.#writer), result: failed };
    }
  }

  /**
   * A batch answered as a stream: the headers at once (the asker sees this peer is working), then
   * each get's Result frame as soon as it is ready, so one slow key never holds the fast ones.
   * Frames ready in the same turn go out in one write. Gets still loading when the asker's wait
   * runs out are answered with a LoadTimeoutError (their loads go on and fill the cache).
   */
  #stream(res: ServerResponse, requests: GetRequest[], waitMs: number | undefined): void {
    res.writeHead(200, { 'content-type': BATCH_STREAM_TYPE });
    let open = requests.length;
    let corked = true;
    const uncork = () => {
      if (!corked) return;
      corked = false;
      // end() uncorks fully; after it the socket may already serve the next request.
      if (!res.writableEnded) res.uncork();
    };
    res.cork();
    setImmediate(() => {
      if (!res.headersSent && !res.destroyed && !res.writableEnded) res.flushHeaders();
      uncork();
    });
    const answered = new Uint8Array(requests.length);
    const write = (index: number, result: PeerResult) => {
      if (answered[index] || open === 0) return;
      answered[index] = 1;
      open--;
      if (res.destroyed) return; // the asker is gone; the loads still fill the cache
      if (!corked) {
        res.cork();
        corked = true;
        process.nextTick(uncork);
      }
      const frame = this.#frame(index, result);
      res.write(frame.prefix);
      if (frame.result.ok && frame.result.value.length > 0) res.write(frame.result.value);
      if (open === 0) {
        clearTimeout(timer);
        res.end();
      }
    };
    const timer =
      waitMs === undefined
        ? undefined
        : setTimeout(() => {
            for (let i = 0; i < requests.length; i++) if (!answered[i]) write(i, waitedOut(requests[i], waitMs));
          }, waitMs);
    timer?.unref();
    for (let i = 0; i < requests.length; i++) this.#answer(requests[i]).then((result) => write(i, result));
  }

  /**
   * One get of a batch, as the result a single request would answer: by `waitMs` at the latest,
   * when given. Traced on its own when anyone subscribes, in the trace its item carried.
   */
  #answer(request: GetRequest, waitMs?: number): Promise<PeerResult> {
    if (this.#tracing?.on) return this.#tracing.item(request, () => this.#answerOne(request, waitMs));
    return this.#answerOne(request, waitMs);
  }

  #answerOne(request: GetRequest, waitMs?: number): Promise<PeerResult> {
    const group = this.#registry.getGroup(request.group);
    if (!group) return Promise.resolve({ ok: false, status: 404, error: `no such group: ${request.group}` });
    const result = group.getForPeer(request.key).then(resultOf, failure);
    if (waitMs === undefined) return result;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<PeerResult>((resolve) => {
      timer = setTimeout(() => resolve(waitedOut(request, waitMs)), waitMs);
    });
    return Promise.race([result, deadline]).finally(() => clearTimeout(timer));
  }
}
