import type { GetRequest, GetResponse } from './wire.js';

/**
 * Fetches values from one remote peer: the client side of the peer protocol. Whole messages in
 * and out, as in golang/groupcache, so the protocol can grow without changing this interface.
 */
export interface PeerGetter {
  /**
   * The peer's answer for `request`, loading the value there if needed. Rejects with an
   * OwnerLoadError when the peer's getter failed (the asker must not run it again), with any
   * other error when the peer could not be asked. The value's bytes become the cached value as
   * they are: return bytes nobody will modify afterwards.
   */
  get(request: GetRequest): Promise<GetResponse>;
}

/** Tells a group which peer owns a key. */
export interface PeerPicker {
  /** The getter of the peer that owns `key`, or undefined when this process owns it. */
  pickPeer(key: string): PeerGetter | undefined;
}
