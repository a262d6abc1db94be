package io.github.clawsocket

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

/** The generated API itself: errors and their codes, defaults, typed events, thread safety. */
class BindingsApiTest {
    private val open = """{"channels":{"websocket":{"auth":{"enabled":false}}}}"""

    @Test
    fun configErrorsNameTheKey() {
        val e = assertThrows<ClawsocketException.Config> { Server("""{"auth":{"timeout":"soon"}}""") }
        assertEquals("invalid_config", e.code)
        assertEquals("auth.timeout", e.key)
        assertThrows<ClawsocketException.Config> { Server("not json") }
        assertThrows<ClawsocketException.Config> { Server.withEnv("{}", "maybe", null) }
    }

    @Test
    fun usageErrorsCarryTheCoreCode() {
        Server(open).use { server ->
            val unknownConnection = assertThrows<ClawsocketException.Usage> { server.handleText(0u, 42u, "{}".toByteArray()) }
            assertEquals("unknown_connection", unknownConnection.code)
            val unknownTurn = assertThrows<ClawsocketException.Usage> { server.handleAgentFinal(0u, 7u, null) }
            assertEquals("unknown_turn", unknownTurn.code)
            val unknownRequest = assertThrows<ClawsocketException.Usage> { server.handleHistoryError(0u, 3u, "down") }
            assertEquals("unknown_request", unknownRequest.code)
        }
    }

    @Test
    fun clientErrorsCarryStableCodes() {
        Client(ClientOptions()).use { client ->
            assertEquals("empty_content", assertThrows<ClawsocketException.Client> { client.send(0u, SendOptions(content = "  ")) }.code)
            assertEquals("invalid_frame", assertThrows<ClawsocketException.Client> { client.handleFrame(0u, "not json") }.code)
            assertEquals(
                "invalid_custom_data",
                assertThrows<ClawsocketException.Client> { client.send(0u, SendOptions(content = "x", customDataJson = "[1]")) }.code,
            )
        }
    }

    @Test
    fun recordDefaultsAreTheCoreDefaults() {
        assertEquals(defaultClientOptions().copy(stream = null), ClientOptions())
        assertEquals(StreamMode.DELTA, defaultClientOptions().stream)
        assertEquals(2.toUByte(), protocolVersion())
        assertTrue("resume_gap" in errorCodes())
        assertEquals(true, errorCodeRetryable("rate_limited"))
        assertEquals(false, errorCodeRetryable("invalid_json"))
        assertNull(errorCodeRetryable("no_such_code"))
    }

    @Test
    fun buildSendWritesTheSeedFrame() {
        val frame = buildSend(
            "m-1",
            SendOptions(content = "I agree", groupId = "dev-team", replyToBody = "Use Python", customDataJson = """{"priority":"high"}"""),
        )
        assertEquals(
            """{"type":"chat.send","content":"I agree","messageId":"m-1","chatType":"group","groupId":"dev-team",""" +
                """"replyToBody":"Use Python","customData":{"priority":"high"}}""",
            frame,
        )
    }

    @Test
    fun verifyTokenEventKeepsTheTokenOutOfToString() {
        Server("""{"auth":{"enabled":true,"endpoint":"http://127.0.0.1:9/verify"}}""").use { server ->
            val conn = server.handleConnect(0u, "token=s3cret-token&senderName=Una")
            assertNull(server.pollTransmit(), "nothing is sent before the token is verified")
            server.pollEvent()!!.use { event ->
                assertEquals("verify_token", event.kind())
                assertTrue(event.toJson().contains("s3cret-token"))
                val detail = event.detail() as ServerEventDetail.VerifyToken
                assertEquals(conn, detail.connection)
                assertTrue(detail.request.body().contains("\"token\":\"s3cret-token\""))
                assertFalse(event.toString().contains("s3cret"), event.toString())
                assertFalse(detail.toString().contains("s3cret"), detail.toString())
                detail.destroy()
            }
            server.handleAuthResponse(5u, conn, 200u, """{"success":true,"data":{"userId":"u-1","username":"Una"}}""".toByteArray())
            val ready = server.pollTransmit()!!.payload as TransmitPayload.Text
            assertTrue(ready.text.contains("\"senderId\":\"u-1\"") && ready.text.contains("\"authenticated\":true"), ready.text)
        }
    }

    @Test
    fun clientAndServerTalkInMemory() {
        // Both state machines without sockets: what the client writes is what the server reads.
        Server(open).use { server ->
            Client(ClientOptions(senderId = "ann", messageIdPrefix = "a")).use { client ->
                assertEquals(ClientEvent.Reconnect(0u), client.pollEvent())
                val conn = server.handleConnect(0u, client.connectQuery())
                client.handleOpen(0u)
                fun serverToClient() {
                    while (true) {
                        val t = server.pollTransmit() ?: break
                        assertEquals(conn, t.connection)
                        client.handleFrame(1u, (t.payload as TransmitPayload.Text).text)
                    }
                }
                serverToClient()
                val id = client.send(1u, SendOptions(content = "hi", media = listOf(MediaAttachment("https://example.org/a.png", "image/png"))))
                server.handleText(2u, conn, client.pollTransmit()!!.toByteArray())
                serverToClient()
                val run = server.pollEvent()!!.use { it.detail() } as ServerEventDetail.RunTurn
                assertEquals(listOf(MediaRef(MediaKind.URL, "https://example.org/a.png", "image/png")), run.turn.media)
                assertTrue(run.turn.json.startsWith("""{"turnId":${run.turn.id},"""), run.turn.json)
                server.handleAgentText(3u, run.turn.id, "Hello")
                server.handleAgentText(4u, run.turn.id, "Hello, Ann")
                server.handleAgentFinal(5u, run.turn.id, null)
                serverToClient()
                val events = generateSequence { client.pollEvent() }.toList()
                assertTrue(events.first() is ClientEvent.Ready, events.toString())
                // Protocol 2 events name their session, so a client following several can route them.
                assertEquals(ClientEvent.Reply(id, "Hello, Ann", false, "agent:main:websocket:direct:ann"), events.last())
                assertEquals(listOf("Hello", "Hello, Ann"), events.filterIsInstance<ClientEvent.Partial>().map { it.text })
            }
        }
    }

    @Test
    fun oneServerSharedByManyThreads() {
        val config = """{"auth":{"enabled":false},"limits":{"messagesPerMinute":0,"maxQueuedTurns":16}}"""
        val threads = 8
        val perThread = 8
        Server(config).use { server ->
            val finals = AtomicInteger()
            val responses = ConcurrentLinkedQueue<String>()
            val barrier = CyclicBarrier(threads)
            fun answerWhatIsPending() {
                while (true) {
                    val event = server.pollEvent() ?: break
                    event.use {
                        val detail = it.detail()
                        if (detail is ServerEventDetail.RunTurn) {
                            server.handleAgentFinal(detail.turn.receivedAt, detail.turn.id, "re: ${detail.turn.content}")
                            finals.incrementAndGet()
                        }
                    }
                }
                while (true) {
                    val t = server.pollTransmit() ?: break
                    val text = (t.payload as TransmitPayload.Text).text
                    if (text.startsWith("""{"type":"chat.response"""")) responses.add(text)
                }
            }
            val workers = (1..threads).map { n ->
                thread {
                    val conn = server.handleConnect(0u, "senderId=user-$n")
                    barrier.await()
                    repeat(perThread) { i ->
                        server.handleText(1u, conn, """{"type":"chat.send","content":"m$i from $n"}""".toByteArray())
                        answerWhatIsPending()
                    }
                }
            }
            workers.forEach { it.join() }
            answerWhatIsPending()
            assertEquals(threads * perThread, finals.get())
            assertEquals(threads * perThread, responses.size)
            assertEquals(0uL, server.turnCount())
            assertEquals(threads.toULong(), server.connectionCount())
            for (n in 1..threads) {
                assertEquals(perThread, responses.count { it.contains("from $n\"") }, "replies to user-$n")
            }
        }
    }
}
