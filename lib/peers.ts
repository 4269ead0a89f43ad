/**
 * Fetches values from one remote peer: the client side of the peer protocol.
 */
export interface PeerGetter {
  /**
   * The value of `key` in `group` as the peer has it, loading it there if needed. The bytes
   * returned become the cached value as they are: return bytes nobody will modify afterwards.
   */
  get(group: string, key: string): Promise<Uint8Array>;
}

/**
 * Tells a group which peer owns a key.
 */
export interface PeerPicker {
  /** The getter of the peer that owns `key`, or undefined when this process owns it. */
  pickPeer(key: string): PeerGetter | undefined;
}
