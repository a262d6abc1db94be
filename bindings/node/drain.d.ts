import type { Server, ServerEvent, Transmit } from './index'

/** Every output a `Server` had pending, in order within each list. */
export interface Drained {
  /** What `pollTransmits()` would have returned. */
  transmits: Transmit[]
  /** What `pollEvents()` would have returned. */
  events: ServerEvent[]
}

/**
 * Every pending transmit and event of `server` in one native call: the same objects as
 * `pollTransmits()` and `pollEvents()`, about twice as fast for a busy server (the objects are
 * built in JavaScript from `server.drainEncoded()`).
 */
export declare function drain(server: Server): Drained
