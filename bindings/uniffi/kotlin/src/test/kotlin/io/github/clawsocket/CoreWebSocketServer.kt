package io.github.clawsocket

import org.java_websocket.WebSocket
import org.java_websocket.handshake.ClientHandshake
import org.java_websocket.server.WebSocketServer
import java.net.InetSocketAddress
import java.nio.ByteBuffer
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit

/**
 * A small WebSocket chat server for the socket tests: Java-WebSocket does the RFC 6455 part, the
 * uniffi [Server] state machine does all of the protocol, and [agent] answers turns on a worker
 * thread the way a real agent backend would (output comes back later, from another thread).
 *
 * Every input and the drain after it run under one lock; socket writes go, in that order, to a
 * single writer thread, so frames reach each socket in the order the core produced them and no
 * socket lock is ever taken while holding the core's (Java-WebSocket calls onClose holding its
 * own lock, which would otherwise deadlock with a close we send).
 */
class CoreWebSocketServer(
    config: String,
    private val agent: (Turn, AgentOutput) -> Unit,
) : WebSocketServer(InetSocketAddress("127.0.0.1", 0)) {
    /** Where an agent sends its output; callable from any thread. */
    inner class AgentOutput(private val turn: ULong) {
        fun delta(text: String) = input { core.handleAgentDelta(now(), turn, text) }
        fun final(text: String? = null) = input { core.handleAgentFinal(now(), turn, text) }
        fun error(text: String) = input { core.handleAgentError(now(), turn, text) }
    }

    val core = Server(config)
    /** Every turn the core asked to run, in order. */
    val turns: MutableList<Turn> = java.util.Collections.synchronizedList(mutableListOf())

    private val lock = Any()
    private val started = CountDownLatch(1)
    private val sockets = ConcurrentHashMap<ULong, WebSocket>()
    private val writer = Executors.newSingleThreadExecutor()
    private val agents = Executors.newCachedThreadPool()
    private val timer = Executors.newSingleThreadScheduledExecutor()
    private var nextTimer: ScheduledFuture<*>? = null
    private val epoch = System.nanoTime()

    /** Host milliseconds: a monotonic clock from the server's start. */
    fun now(): ULong = ((System.nanoTime() - epoch) / 1_000_000).toULong()

    fun startAndWait(): CoreWebSocketServer {
        isReuseAddr = true
        start()
        check(started.await(10, TimeUnit.SECONDS)) { "WebSocket server did not start" }
        return this
    }

    fun shutdown() {
        input { core.handleShutdown(now()) }
        writer.shutdown()
        writer.awaitTermination(5, TimeUnit.SECONDS)
        stop(2000)
        agents.shutdownNow()
        agents.awaitTermination(5, TimeUnit.SECONDS)
        timer.shutdownNow()
        timer.awaitTermination(5, TimeUnit.SECONDS)
        core.close()
    }

    override fun onStart() = started.countDown()

    override fun onOpen(socket: WebSocket, handshake: ClientHandshake) {
        val query = handshake.resourceDescriptor.substringAfter('?', "")
        input {
            val id = core.handleConnect(now(), query)
            socket.setAttachment(id)
            sockets[id] = socket
        }
    }

    override fun onMessage(socket: WebSocket, message: String) {
        val id = socket.getAttachment<ULong>() ?: return
        input { core.handleText(now(), id, message.toByteArray(Charsets.UTF_8)) }
    }

    override fun onMessage(socket: WebSocket, message: ByteBuffer) {
        val id = socket.getAttachment<ULong>() ?: return
        val bytes = ByteArray(message.remaining()).also { message.get(it) }
        input { core.handleBinary(now(), id, bytes) }
    }

    override fun onClose(socket: WebSocket, code: Int, reason: String, remote: Boolean) {
        val id = socket.getAttachment<ULong>() ?: return
        if (sockets.remove(id) != null) input { core.handleDisconnect(now(), id) }
    }

    override fun onError(socket: WebSocket?, ex: Exception) {
        System.err.println("test server: ${ex.javaClass.simpleName}: ${ex.message}")
    }

    /** One input, then everything it produced: frames to sockets, events to the host. */
    private fun input(call: () -> Unit): Unit = synchronized(lock) {
        call()
        drain()
    }

    private fun drain() {
        while (true) {
            val t = core.pollTransmit() ?: break
            val socket = sockets[t.connection] ?: continue
            when (val p = t.payload) {
                is TransmitPayload.Text -> write { if (socket.isOpen) socket.send(p.text) }
                // onClose reports the disconnect once the closing handshake is done.
                is TransmitPayload.Close -> write { socket.close(p.code.toInt(), p.reason) }
            }
        }
        while (true) {
            val event = core.pollEvent() ?: break
            event.use {
                when (val detail = it.detail()) {
                    is ServerEventDetail.RunTurn -> {
                        turns.add(detail.turn)
                        agents.execute { agent(detail.turn, AgentOutput(detail.turn.id)) }
                    }
                    else -> detail.destroy()
                }
            }
        }
        scheduleTimeout()
    }

    private fun write(action: () -> Unit) {
        // After shutdown() the sockets are being closed anyway: late writes are dropped.
        if (!writer.isShutdown) writer.execute(action)
    }

    private fun scheduleTimeout() {
        nextTimer?.cancel(false)
        if (timer.isShutdown) return
        val at = core.pollTimeout() ?: return
        val delay = at.toLong() - now().toLong()
        nextTimer = timer.schedule({ input { core.handleTimeout(now()) } }, maxOf(delay, 0), TimeUnit.MILLISECONDS)
    }
}
