/**
 * headers.ts names what travels beside the bytes of the peer protocol: the routes' content types,
 * the x-geecache-* headers and their values, and the sizes a server reads at most. The client and
 * the server both import these names from here, so each is spelled once.
 */

/** The header that carries a peer request's signature (see auth.ts). */
export const AUTH_HEADER = 'x-geecache-auth';
/**
 * How the text of a 401 begins when the connection had no client certificate the server verified
 * (its `tls.requireClientCert`), so the asker's warning names that fix, not the secret.
 */
export const CLIENT_CERT_REFUSED = 'unauthorized: this peer requires a TLS client certificate';
/** The SHA-256 (hex) of a request body, covered by the signature: checked after the body is read. */
export const DIGEST_HEADER = 'x-geecache-content-sha256';
/** Set by a geecache server on a 500 caused by its getter, so the asker does not run the getter again. */
export const ERROR_HEADER = 'x-geecache-error';
/** The value of {@link ERROR_HEADER} that marks a getter failure. */
export const GETTER_FAILED = 'getter';
/** The value of {@link ERROR_HEADER} on a 404 that means "the getter threw NotFoundError" (not "no such route"). */
export const NOT_FOUND = 'not-found';
/** Content type of a SetRequest: `PUT {basePath}{group}/{key}`. */
export const SET_CONTENT_TYPE = 'application/x-geecache-set';
/** Largest SetRequest body a server reads. */
export const MAX_SET_REQUEST_BYTES = 64 << 20;
/**
 * On a 503 from a peer that is draining (see Drain): "I am leaving, ask the key's next owner or
 * load it yourself, now". Not a failure: no backoff, no warning.
 */
export const LEAVING_HEADER = 'x-geecache-leaving';
/**
 * On a GET: answer from the cache only — never load, never forward — so a key's new owner can
 * take the value from its previous owner after a membership change (warm handoff). A miss is a
 * 404 marked `{@link ERROR_HEADER}: {@link PEEK_MISS}`.
 */
export const PEEK_HEADER = 'x-geecache-peek';
/** The value of {@link ERROR_HEADER} on a peek that found nothing. */
export const PEEK_MISS = 'miss';
/** On peer requests: a digest of the asker's membership, so peers notice when their lists differ. */
export const RING_HEADER = 'x-geecache-ring';
/** Content type of a GetResponse. */
export const GET_RESPONSE_TYPE = 'application/x-protobuf';
/** Content type of a batch request and its answer: `POST {basePath}` with a BatchRequest body. */
export const BATCH_CONTENT_TYPE = 'application/x-geecache-batch';
/**
 * Content type of a streamed batch answer: Result frames, each with its index, written as each
 * get is ready (see {@link resultFramePrefix}). A client that sends `accept` with this type gets
 * one; a client that does not (an older geecache) gets the whole BatchResponse in order.
 */
export const BATCH_STREAM_TYPE = 'application/x-geecache-batch-stream';
/**
 * Request header: how long (ms) the asker waits for the owner's load — its group's
 * `loadTimeoutMs`. The owner answers a LoadTimeoutError when its load is not done by then, so the
 * asker never has to give up on a working owner (and run the getter a second time). Go ignores it.
 */
export const WAIT_HEADER = 'x-geecache-wait-ms';
/** Most gets in one batch request. */
export const MAX_BATCH = 256;
/** Largest batch request body a server reads: MAX_BATCH keys of the longest allowed length, with room. */
export const MAX_BATCH_REQUEST_BYTES = 4 << 20;
/**
 * Most batch body bytes one server reads at a time, over all connections: even a captured, still
 * fresh signed batch replayed on many connections cannot make the server buffer more. 8 MiB
 * (two of the largest batches; real batches are far smaller) so that with the copy a finished
 * body is joined into and the socket buffers in transit a peer holds at most 16 MiB for batch
 * bodies: at 12 MiB, 16 replays measured 18.3 MiB (test/body-auth.test.ts).
 */
export const MAX_BODY_BYTES_IN_FLIGHT = 8 << 20;
/** Longest error text sent to a peer. */
export const MAX_ERROR_TEXT = 1024;
/** `GET {basePath}_stats`, signed like every peer request: a peer's figures as JSON (geecache peers only). */
export const STATS_PATH = '_stats';
/**
 * Which stats document `GET {basePath}_stats` answers: `full` (the default: every figure,
 * including this peer's view of each other peer) or `round`, asked with the query
 * {@link STATS_ROUND_QUERY} by a stats round (the dashboard, clusterHealth()): its own figures
 * and a bounded summary of its view, so a round over N peers costs O(N) bytes, not O(N²). A
 * peer that does not know the query (an older geecache) answers `full`, which the asker summarizes.
 */
export type StatsView = 'full' | 'round';
/** The query a stats round adds to {@link STATS_PATH}. */
export const STATS_ROUND_QUERY = '?view=round';

/** Response headers of a plain GET's 500 that carry the getter error's name and HTTP status (see PeerFailure). */
export const ERROR_NAME_HEADER = 'x-geecache-error-name';
export const ERROR_STATUS_HEADER = 'x-geecache-error-status';
