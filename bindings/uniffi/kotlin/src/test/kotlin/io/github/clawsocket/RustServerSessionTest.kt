package io.github.clawsocket

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import java.io.File
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread

/**
 * The uniffi Client against the Rust reference server (`clawsocket serve`) over a real socket.
 * Runs when test.sh found a built server binary (system property `clawsocket.server`); skipped
 * otherwise, since that binary is built by the server's own tests.
 */
class RustServerSessionTest {
    @Test
    fun chatWithTheReferenceServer() {
        val binary = System.getProperty("clawsocket.server").orEmpty()
        assumeTrue(binary.isNotEmpty() && File(binary).canExecute(), "no clawsocket server binary")

        val dir = Files.createTempDirectory("clawsocket-uniffi").toFile()
        val config = File(dir, "config.json").apply { writeText("""{"channels":{"websocket":{"auth":{"enabled":false}}}}""") }
        val process = ProcessBuilder(
            binary, "serve", "--config", config.path, "--host", "127.0.0.1", "--port", "0", "--data-dir", File(dir, "data").path,
        ).redirectErrorStream(true).start()
        val lines = LinkedBlockingQueue<String>()
        thread(isDaemon = true) {
            // Ends with an IOException when the process is stopped: nothing left to read then.
            runCatching { process.inputStream.bufferedReader().forEachLine { lines.add(it) } }
        }
        try {
            val endpoint = awaitEndpoint(lines, process)
            // A server that does not come up is not this suite's failure (it has its own tests).
            assumeTrue(endpoint != null, "the clawsocket server did not start")
            val client = Client(ClientOptions(senderId = "kotlin-app", senderName = "Kai"))
            CoreWebSocketClient(endpoint!!, client).use { host ->
                host.start()
                val ready = host.await<ClientEvent.Ready>()
                assertEquals("kotlin-app", ready.senderId)
                val id = host.send(SendOptions(content = "Hello from Kotlin"))
                val seen = mutableListOf<ClientEvent>()
                val reply = host.await<ClientEvent.Reply>(seen)
                assertEquals(id, reply.messageId, "reply to our message: $seen")
                assertTrue(reply.text.isNotBlank())
                assertTrue(seen.any { it == ClientEvent.Acked(id, false) }, "acked: $seen")
            }
            client.close()
        } finally {
            process.destroy()
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
            dir.deleteRecursively()
        }
    }

    /** The server prints where it listens (port 0 made it pick a free one); null if it never does. */
    private fun awaitEndpoint(lines: LinkedBlockingQueue<String>, process: Process): String? {
        val url = Regex("""ws://127\.0\.0\.1:(\d+)(/[A-Za-z0-9/_-]*)?""")
        repeat(300) {
            val line = lines.poll(100, TimeUnit.MILLISECONDS)
            if (line == null) {
                if (!process.isAlive && lines.isEmpty()) return null
                return@repeat
            }
            val match = url.find(line) ?: return@repeat
            return "ws://127.0.0.1:${match.groupValues[1]}${match.groupValues[2].ifEmpty { "/ws" }}"
        }
        return null
    }
}
