/**
 * geecache: groupcache for Express. Start at {@link geecache}; the rest is what its options,
 * results and errors are made of, and the pieces for use without Express (README, "API").
 */

export { ByteView } from './cache/byteview.js';
export { type GetManyResult, Group, type SetOptions } from './cache/group.js';
export type { BulkGetter, BulkGetterContext, BulkResult, Bytes, Getter, GetterContext, GroupOptions } from './cache/groupoptions.js';
export type { InvalidationReport } from './cache/invalidation.js';
export type { LRUStats } from './cache/lru.js';
export type { GetRequest, GetResponse, PeerGetter, PeerPicker, RemoveRequest, SetRequest } from './cache/peers.js';
export { GroupRegistry } from './cache/registry.js';
export type { GroupStats } from './cache/stats.js';
export type { PeerErrorCause } from './client/peermonitor.js';
export type { DnsSource, FunctionSource, PeerSource, SrvSource } from './cluster/discovery.js';
export { HttpPool, type MembershipStats } from './cluster/httppool.js';
export {
  GET_TRACE,
  type GetSource,
  type GetTrace,
  LOAD_CHANNEL,
  LOAD_TRACE,
  type LoadMessage,
  type LoadTrace,
  PEER_ERROR_CHANNEL,
  PEER_REQUEST_CHANNEL,
  PEER_TRACE,
  type PeerErrorMessage,
  type PeerRequestMessage,
  type PeerTrace,
  SERVE_TRACE,
  type ServeTrace,
  type TraceContext,
  type TraceHooks,
} from './common/diagnostics.js';
export { BadKeyError, ConfigError, LoadTimeoutError, NotFoundError, OwnerLoadError, PeerLeavingError } from './common/errors.js';
export type { Logger } from './common/logger.js';
export type { PeerTlsOptions, Pem } from './config/tls.js';
export type { GeecacheOptions } from './config/types.js';
export { type GeecacheMiddleware, geecache, type RequestCache } from './middleware.js';
export type { HealthReport, PeerHealth } from './ops/health.js';
export { BOUNDED_SLACK, BOUNDED_TABLE_SIZE, BoundedRing } from './ring/bounded.js';
export { ConsistentHashRing } from './ring/consistenthash.js';
export { MAGLEV_TABLE_SIZE, MaglevRing } from './ring/maglev.js';
export { RendezvousRing } from './ring/rendezvous.js';
export type { Ring, RingOption } from './ring/types.js';
