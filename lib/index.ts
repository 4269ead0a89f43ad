/**
 * geecache: groupcache for Express. Start at {@link geecache}; the rest is what its options,
 * results and errors are made of, and the pieces for use without Express (README, "API").
 */

export { ByteView } from './byteview.js';
export { ConsistentHashRing } from './consistenthash.js';
export {
  LOAD_CHANNEL,
  type LoadMessage,
  PEER_ERROR_CHANNEL,
  PEER_REQUEST_CHANNEL,
  type PeerErrorMessage,
  type PeerRequestMessage,
} from './diagnostics.js';
export type { DnsSource, FunctionSource, PeerSource, SrvSource } from './discovery.js';
export { BadKeyError, ConfigError, LoadTimeoutError, NotFoundError, OwnerLoadError, PeerLeavingError } from './errors.js';
export { Group, type SetOptions } from './group.js';
export type { HealthReport, PeerHealth } from './health.js';
export { HttpPool } from './httppool.js';
export type { InvalidationReport } from './invalidation.js';
export type { Logger } from './logger.js';
export type { LRUStats } from './lru.js';
export type { MembershipStats } from './membership.js';
export { type GeecacheMiddleware, geecache, type RequestCache } from './middleware.js';
export type { PeerErrorCause } from './peermonitor.js';
export type { PeerGetter, PeerPicker } from './peers.js';
export { GroupRegistry } from './registry.js';
export { RendezvousRing } from './rendezvous.js';
export type { Ring } from './ring.js';
export type { GroupStats } from './stats.js';
export type { Bytes, GeecacheOptions, Getter, GetterContext, GroupOptions, RingOption } from './types.js';
export type { GetRequest, GetResponse, RemoveRequest, SetRequest } from './wire.js';
