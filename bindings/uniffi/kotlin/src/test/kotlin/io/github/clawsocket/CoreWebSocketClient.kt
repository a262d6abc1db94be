package io.github.clawsocket

import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.util.concurrent.CompletionStage
import java.util.concurrent.Executors
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit

/**
 * How an app drives the uniffi [Client] state machine, with the JDK's own WebSocket client
 * (java.net.http): open a socket when the core says `Reconnect`, pass every frame and close in,
 * write what `pollTransmit` returns, run `handleTimeout` at `pollTimeout`. Everything the core
 * learns lands in [events] for the test to read.
 */
class CoreWebSocketClient(private val endpoint: String, val core: Client) : AutoCloseable {
    val events = LinkedBlockingQueue<ClientEvent>()

    private val http = HttpClient.newHttpClient()
    private val lock = Any()
    // One writer: the JDK WebSocket allows a single outstanding send at a time.
    private val writer = Executors.newSingleThreadExecutor()
    private val timer = Executors.newSingleThreadScheduledExecutor()
    private var nextTimer: ScheduledFuture<*>? = null
    @Volatile private var socket: WebSocket? = null
    private val epoch = System.nanoTime()

    fun now(): ULong = ((System.nanoTime() - epoch) / 1_000_000).toULong()

    /** Starts the run loop: the core's first event asks for a socket. */
    fun start(): CoreWebSocketClient = also { pump() }

    /** Queues a message (sent now if the socket is open, after the next open otherwise). */
    fun send(message: SendOptions): String = synchronized(lock) { core.send(now(), message) }.also { pump() }

    /** Drops the connection abruptly, as a phone losing its network does. */
    fun drop() {
        val current = socket ?: return
        socket = null
        current.abort()
        synchronized(lock) { core.handleClose(now(), 1006u) }
        pump()
    }

    /** Waits (bounded) for the next event of type [T], keeping the ones before it in [seen]. */
    inline fun <reified T : ClientEvent> await(seen: MutableList<ClientEvent> = mutableListOf()): T {
        while (true) {
            val event = events.poll(20, TimeUnit.SECONDS) ?: error("no ${T::class.simpleName} within 20 s; saw $seen")
            seen.add(event)
            if (event is T) return event
        }
    }

    override fun close() {
        synchronized(lock) { core.stop() }
        socket?.sendClose(WebSocket.NORMAL_CLOSURE, "bye")
        timer.shutdownNow()
        writer.shutdown()
        writer.awaitTermination(5, TimeUnit.SECONDS)
    }

    private fun pump(): Unit = synchronized(lock) {
        while (true) {
            when (val event = core.pollEvent() ?: break) {
                is ClientEvent.Reconnect -> connect()
                else -> events.add(event)
            }
        }
        val open = socket
        if (open != null) {
            while (true) {
                val frame = core.pollTransmit() ?: break
                writer.execute { open.sendText(frame, true).join() }
            }
        }
        nextTimer?.cancel(false)
        core.pollTimeout()?.let { at ->
            val delay = maxOf(at.toLong() - now().toLong(), 0)
            nextTimer = timer.schedule({
                synchronized(lock) { core.handleTimeout(now()) }
                pump()
            }, delay, TimeUnit.MILLISECONDS)
        }
    }

    private fun connect() {
        val uri = URI("$endpoint?${core.connectQuery()}")
        http.newWebSocketBuilder().buildAsync(uri, Listener()).whenComplete { _, error ->
            if (error != null) {
                synchronized(lock) { core.handleClose(now(), 1006u) }
                pump()
            }
        }
    }

    private inner class Listener : WebSocket.Listener {
        private val text = StringBuilder()

        override fun onOpen(webSocket: WebSocket) {
            socket = webSocket
            synchronized(lock) { core.handleOpen(now()) }
            pump()
            webSocket.request(1)
        }

        override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
            text.append(data)
            if (last && socket === webSocket) {
                val frame = text.toString()
                text.setLength(0)
                synchronized(lock) { core.handleFrame(now(), frame) }
                pump()
            }
            webSocket.request(1)
            return null
        }

        override fun onClose(webSocket: WebSocket, statusCode: Int, reason: String): CompletionStage<*>? {
            closed(webSocket, statusCode)
            return null
        }

        override fun onError(webSocket: WebSocket, error: Throwable) = closed(webSocket, 1006)

        private fun closed(webSocket: WebSocket, code: Int) {
            // A socket dropped on purpose was already reported by drop().
            if (socket !== webSocket) return
            socket = null
            synchronized(lock) { core.handleClose(now(), code.toUShort()) }
            pump()
        }
    }
}
