/**
 * diagnostics.ts publishes geecache's node:diagnostics_channel channels, Node's convention for
 * libraries: tracers and APMs subscribe by name, with no option to pass. Publishing is guarded by
 * `hasSubscribers`, so nobody listening costs one property read. Channels are process-wide by
 * design (Node keys them by name); each message says which peer or group it is about.
 */

import diagnostics_channel from 'node:diagnostics_channel';

/** A request to another peer finished: {@link PeerRequestMessage}. */
export const PEER_REQUEST_CHANNEL = 'geecache:peer:request';
/** A request to another peer failed in a way the operator should know about: {@link PeerErrorMessage}. */
export const PEER_ERROR_CHANNEL = 'geecache:peer:error';
/** A getter ran (a local load): {@link LoadMessage}. */
export const LOAD_CHANNEL = 'geecache:load';

export interface PeerRequestMessage {
  /** The peer's base URL. */
  peer: string;
  method: string;
  /** The request path (escaped, as sent). */
  path: string;
  /** The HTTP status, or undefined when no answer came. */
  status: number | undefined;
  durationMs: number;
  /** Set when no answer came (refused, timed out, reset). */
  error?: Error;
}

export interface PeerErrorMessage {
  peer: string;
  /** One of the causes counted per peer, e.g. `unauthorized`, `refused`, `timeout`. */
  cause: string;
  status?: number;
  /** What to fix, as logged. */
  message: string;
}

export interface LoadMessage {
  group: string;
  key: string;
  durationMs: number;
  /** Set when the getter failed. */
  error?: unknown;
}

export const peerRequestChannel = diagnostics_channel.channel(PEER_REQUEST_CHANNEL);
export const peerErrorChannel = diagnostics_channel.channel(PEER_ERROR_CHANNEL);
export const loadChannel = diagnostics_channel.channel(LOAD_CHANNEL);
