/**
 * geecache: groupcache for Express. Start at {@link geecache}; the pieces it is built from are
 * exported too, for use without Express.
 */
export { geecache, type GeecacheMiddleware, type RequestCache } from './middleware.js';
export type { Bytes, Getter, GroupOptions, GeecacheOptions, RingOption } from './types.js';
export { ByteView } from './byteview.js';
export { LRU, type LRUStats, type EvictionCallback } from './lru.js';
export { Flight } from './singleflight.js';
export { Group, GROUP_DEFAULTS } from './group.js';
export { GroupRegistry, defaultRegistry, newGroup, getGroup } from './registry.js';
export type { GroupStats } from './stats.js';
export type { PeerGetter, PeerPicker } from './peers.js';
export { ConsistentHashRing, crc32Hash, type HashFn } from './consistenthash.js';
export { PeerListRing, type Ring } from './ring.js';
export { RendezvousRing, mixedCrc32 } from './rendezvous.js';
export { HttpPool } from './httppool.js';
export { HttpGetter, type HttpGetterOptions, PEER_HEADER, ERROR_HEADER, BATCH_CONTENT_TYPE, MAX_BATCH } from './httpgetter.js';
export { RequestSigner, AUTH_HEADER } from './auth.js';
export {
  encodeGetResponse,
  decodeGetResponse,
  encodeSegment,
  decodeSegment,
  encodeBatchRequest,
  decodeBatchRequest,
  encodeBatchResponse,
  decodeBatchResponse,
  type BatchItem,
  type BatchResult,
} from './wire.js';
export { Coalescer } from './coalescer.js';
export { ConfigError, DEFAULTS, resolveOptions } from './options.js';
export { OwnerLoadError, BadKeyError, LoadTimeoutError } from './errors.js';
export type { Logger } from './logger.js';
export { PeerMonitor, type PeerErrorCause } from './peermonitor.js';
export {
  PEER_REQUEST_CHANNEL,
  PEER_ERROR_CHANNEL,
  LOAD_CHANNEL,
  type PeerRequestMessage,
  type PeerErrorMessage,
  type LoadMessage,
} from './diagnostics.js';
export {
  Discovery,
  DISCOVERY_DEFAULTS,
  MAX_PEERS,
  canonicalPeers,
  findSelf,
  type DnsSource,
  type SrvSource,
  type FunctionSource,
  type PeerSource,
} from './discovery.js';
