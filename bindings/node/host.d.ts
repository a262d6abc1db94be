import type { Config, HistoryPageInput, Server, ServerEvent } from './index'

/** The turn context handed to the agent: the core's Turn JSON, parsed. */
export interface AgentTurn {
  turnId: number
  sessionKey: string
  agentId: string
  messageId: string
  chatType: 'direct' | 'group'
  senderId: string
  senderName?: string
  /** Whether senderId was verified by the auth service. */
  authenticated: boolean
  groupId?: string
  groupSubject?: string
  /** The agent's input as the seed builds it: `[Replying to: "..."]`, blank line, `<name>: <content>`. */
  body: string
  /** The message text as the client sent it. */
  content: string
  replyTo?: { messageId?: string; body?: string }
  media: Array<{ url?: string; path?: string; mimeType?: string }>
  /** The client's customData object (its own namespace). */
  customData?: Record<string, unknown>
  /** The auth service's data object (its own namespace). */
  auth?: Record<string, unknown>
  connectionId: string
  receivedAt: number
}

export interface AgentOptions {
  /** Aborted when the core cancels the turn (chat.cancel, interrupt, agent timeout, shutdown). */
  signal: AbortSignal
}

/**
 * The agent: an async generator function yielding text chunks (each is appended to the reply);
 * a returned string replaces the streamed text as the final reply. A plain async function
 * returning a string works too.
 */
export type Agent = (
  turn: AgentTurn,
  options: AgentOptions,
) => AsyncIterable<string> | Iterable<string> | Promise<string | undefined> | string

export interface HistoryRequest {
  sessionKey: string
  limit: number
  cursor?: string
}

export interface ServeOptions {
  agent: Agent
  /** Port to listen on (0 picks a free one); default: config port (18800). */
  port?: number
  /** Bind address; default: config host. */
  host?: string
  /** WebSocket path; default: config path (`/ws`). */
  path?: string
  /** A Config, a JSON text, or an object (a whole OpenClaw-style file or the channels.websocket block). */
  config?: Config | string | object
  /** Apply WS_AUTH_ENABLED / WS_AUTH_ENDPOINT from the environment (default true). */
  env?: boolean
  /** Answers chat.history; a string says why there is no page. Default: no history. */
  history?: (request: HistoryRequest) => Promise<HistoryPageInput | string> | HistoryPageInput | string
  /** Sees every core event (turn_finished, provision_agent, pairing_requested, ...). */
  onEvent?: (event: ServerEvent) => void
  /** Errors of hooks; default: console.error. */
  onError?: (err: unknown) => void
  /** Unsent bytes after which a slow socket is closed (default 8 MiB). */
  maxBufferedBytes?: number
}

export interface Host {
  /** The core state machine (counts, pairing approvals). */
  core: Server
  port: number
  host: string
  path: string
  /** ws:// URL of the endpoint. */
  url: string
  /** Cancels running replies, closes every connection with 1001 and stops listening. */
  close(): Promise<void>
}

/** Serves the protocol with `ws` and runs `agent` for every accepted message. */
export declare function serve(options: ServeOptions): Promise<Host>

/** The host's clock: monotonic milliseconds anchored at the Unix epoch. */
export declare function clock(): number
