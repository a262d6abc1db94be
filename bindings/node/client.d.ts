import { EventEmitter } from 'node:events'
import type { Client, ClientEvent, ClientOptions, SendOptions } from './index'

export interface ReplyPart {
  messageId: string
  /** The whole reply so far. */
  text: string
  /** What this part added (the whole text when the reply was rewritten). */
  delta: string
}

export interface ReplyResult {
  messageId: string
  text: string
  /** The reply was stopped early; text is what had been produced. */
  cancelled: boolean
}

/** A streamed reply: iterate its parts; `result`/`text` settle with the final reply. */
export declare class Reply implements AsyncIterable<ReplyPart> {
  readonly messageId: string
  readonly result: Promise<ReplyResult>
  readonly text: Promise<string>
  [Symbol.asyncIterator](): AsyncIterator<ReplyPart>
}

export interface ConnectOptions extends ClientOptions {
  /**
   * Keep retrying (with backoff) when the first connection fails before the server's ready
   * frame; by default that failure rejects `ready` / `connect()` with code `closed`.
   */
  waitForServer?: boolean
}

/**
 * A connection on the core's Client: reconnects and resumes by itself (protocol 2).
 * Errors (thrown by iterators, `result`, `ready`) carry the server's stable `code`.
 */
export declare class ChatClient extends EventEmitter {
  constructor(url: string, options?: ConnectOptions)
  readonly url: string
  readonly core: Client
  /** The ready event, once received. */
  readonly info: ClientEvent | null
  readonly ready: Promise<ClientEvent>
  send(message: string | SendOptions): Reply
  cancel(messageId?: string): void
  close(): void
}

/** Connects and resolves once the server's ready frame arrived. */
export declare function connect(url: string, options?: ConnectOptions): Promise<ChatClient>
