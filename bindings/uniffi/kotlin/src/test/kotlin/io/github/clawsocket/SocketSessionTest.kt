package io.github.clawsocket

import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/**
 * Real chat sessions over WebSocket on 127.0.0.1: the JDK's WebSocket client drives the uniffi
 * Client, a Java-WebSocket server drives the uniffi Server, so both ends run the Rust core.
 */
class SocketSessionTest {
    private val release = CountDownLatch(1)
    private val server = CoreWebSocketServer("""{"auth":{"enabled":false}}""") { turn, out ->
        out.delta("You said: ")
        if (turn.content.startsWith("slow")) {
            // Holds the rest of the reply until the test has dropped the client's socket.
            check(release.await(30, TimeUnit.SECONDS)) { "test never released the slow reply" }
        }
        out.delta(turn.content)
        out.final()
    }.startAndWait()
    private val endpoint = "ws://127.0.0.1:${server.port}/ws"
    private val clients = mutableListOf<CoreWebSocketClient>()

    private fun connect(options: ClientOptions) = CoreWebSocketClient(endpoint, Client(options)).also { clients += it }.start()

    @AfterEach
    fun stop() {
        release.countDown()
        clients.forEach { it.close(); it.core.close() }
        server.shutdown()
    }

    @Test
    fun chatTurnOverARealSocket() {
        val host = connect(ClientOptions(senderId = "kotlin-user", senderName = "Kim", messageIdPrefix = "k"))
        val ready = host.await<ClientEvent.Ready>()
        assertEquals(2.toUByte(), ready.protocol)
        assertEquals("kotlin-user", ready.senderId)
        assertFalse(ready.authenticated)
        assertEquals("agent:main:websocket:direct:kotlin-user", ready.sessionKey)

        val id = host.send(SendOptions(content = "Hello over a real socket"))
        assertEquals("k-1", id)
        val seen = mutableListOf<ClientEvent>()
        val reply = host.await<ClientEvent.Reply>(seen)
        val key = "agent:main:websocket:direct:kotlin-user"
        assertEquals(ClientEvent.Reply(id, "You said: Hello over a real socket", false, key), reply)
        assertTrue(ClientEvent.Acked(id, false) in seen, "acked first: $seen")
        assertTrue(ClientEvent.Typing(id, key) in seen, "typing: $seen")
        // Delta streaming on the wire, whole text so far in every Partial event.
        val partials = seen.filterIsInstance<ClientEvent.Partial>().map { it.text }
        assertEquals(listOf("You said: ", "You said: Hello over a real socket"), partials)

        val turn = server.turns.single()
        assertEquals("kotlin-user", turn.senderId)
        assertEquals("Kim: Hello over a real socket", turn.body)
        assertEquals(id, turn.messageId)
        assertEquals(ChatType.DIRECT, turn.chatType)
    }

    @Test
    fun seedProtocolClientGetsCumulativeFrames() {
        val host = connect(ClientOptions(senderId = "seed-user", protocol = 1u, stream = StreamMode.CUMULATIVE))
        assertEquals(1.toUByte(), host.await<ClientEvent.Ready>().protocol)
        val id = host.send(SendOptions(content = "Hi", messageId = "m-1"))
        val seen = mutableListOf<ClientEvent>()
        // Seed frames name no session.
        assertEquals(ClientEvent.Reply(id, "You said: Hi", false, null), host.await<ClientEvent.Reply>(seen))
        assertTrue(seen.none { it is ClientEvent.Acked }, "v1 has no acks: $seen")
    }

    @Test
    fun replyInterruptedByADroppedSocketArrivesAfterResume() {
        val host = connect(ClientOptions(senderId = "phone", messageIdPrefix = "p"))
        host.await<ClientEvent.Ready>()
        val id = host.send(SendOptions(content = "slow question"))
        assertEquals("You said: ", host.await<ClientEvent.Partial>().text)

        host.drop()
        val closed = host.await<ClientEvent.Closed>()
        assertTrue(closed.reconnecting)
        // Let the server see the socket go, then let the agent finish while nobody listens.
        awaitUntil("server saw the disconnect") { server.core.connectionCount() == 0uL }
        release.countDown()

        // The core schedules the reconnect; the host opens a new socket and the core resumes.
        val seen = mutableListOf<ClientEvent>()
        host.await<ClientEvent.Ready>(seen)
        val reply = host.await<ClientEvent.Reply>(seen)
        assertEquals(ClientEvent.Reply(id, "You said: slow question", false, "agent:main:websocket:direct:phone"), reply)
        assertEquals(1, server.turns.size, "the message ran once")
        assertTrue(host.core.lastSeqs().single().seq > 0uL)
    }

    private fun awaitUntil(what: String, condition: () -> Boolean) {
        repeat(400) {
            if (condition()) return
            Thread.sleep(25)
        }
        error("gave up waiting: $what")
    }
}
