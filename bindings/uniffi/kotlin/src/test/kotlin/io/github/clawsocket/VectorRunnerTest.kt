package io.github.clawsocket

import com.fasterxml.jackson.databind.JsonNode
import com.fasterxml.jackson.databind.ObjectMapper
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.fail
import java.io.File

/**
 * Runs every shared vector in tests/vectors/ through the Kotlin bindings and compares every
 * output byte for byte with the file (format: tests/vectors/README.md; reference runner:
 * core/tests/vectors.rs). One dynamic test per file, so a new vector shows up by itself.
 */
class VectorRunnerTest {
    private val mapper = ObjectMapper()

    @TestFactory
    fun everyVectorMatches(): List<DynamicTest> {
        val dir = File(System.getProperty("clawsocket.vectors") ?: error("clawsocket.vectors is not set"))
        val files = dir.listFiles { f -> f.isFile && f.name.endsWith(".json") }.orEmpty().sortedBy { it.name }
        assertTrue(files.isNotEmpty(), "no vectors in $dir")
        return files.map { file -> DynamicTest.dynamicTest(file.name) { run(file) } }
    }

    private fun run(file: File) {
        val vector = mapper.readTree(file)
        val config = vector.get("config")?.let { mapper.writeValueAsString(it) } ?: "{}"
        Server(config).use { server ->
            vector.get("steps").forEachIndexed { index, step ->
                val report = runStep(server, step)
                if (report.isNotEmpty()) {
                    // Later steps depend on this one: stop at the first mismatch, as the Rust runner does.
                    fail("${file.name} step $index (${inputKey(step)} at ${step.get("at")?.asLong() ?: 0}):\n$report")
                }
            }
        }
    }

    private fun inputKey(step: JsonNode): String =
        step.properties().asSequence().map { it.key }.firstOrNull { it !in EXPECTATION_KEYS } ?: fail("step has no input: $step")

    /** Applies one step's input, drains every output and returns the mismatches (empty: none). */
    private fun runStep(server: Server, step: JsonNode): String {
        val now = (step.get("at")?.asLong() ?: 0L).toULong()
        val input = inputKey(step)
        val arg = step.get(input)
        val conn = { arg.required("conn").asLong().toULong() }
        val turn = { arg.required("turn").asLong().toULong() }
        val text = { key: String -> arg.required(key).textValue() ?: fail("$key must be a string") }
        var result: String? = null
        try {
            when (input) {
                "connect" -> result = server.handleConnect(now, arg.textValue()).toString()
                "send" -> server.handleText(now, conn(), mapper.writeValueAsBytes(arg.required("frame")))
                "text" -> server.handleText(now, conn(), text("data").toByteArray(Charsets.UTF_8))
                "textHex" -> server.handleText(now, conn(), hex(text("hex")))
                "binary" -> server.handleBinary(now, conn(), hex(text("hex")))
                "authResponse" -> server.handleAuthResponse(
                    now, conn(), arg.required("status").asInt().toUShort(), text("body").toByteArray(Charsets.UTF_8),
                )
                "authUnavailable" -> server.handleAuthUnavailable(now, conn())
                "agentDelta" -> server.handleAgentDelta(now, turn(), text("text"))
                "agentText" -> server.handleAgentText(now, turn(), text("text"))
                "agentFinal" -> server.handleAgentFinal(now, turn(), arg.get("text")?.textValue())
                "agentError" -> server.handleAgentError(now, turn(), text("error"))
                "disconnect" -> server.handleDisconnect(now, conn())
                "timeout" -> server.handleTimeout(now)
                "shutdown" -> server.handleShutdown(now)
                "approvePairing" -> result = server.approvePairing(now, text("code"))
                "allowSender" -> server.allowSender(arg.textValue())
                "restoreDynamicAgent" -> server.restoreDynamicAgent(arg.textValue())
                "history" -> {
                    val request = arg.required("request").asLong().toULong()
                    val error = arg.get("error")
                    if (error != null) server.handleHistoryError(now, request, error.textValue())
                    else server.handleHistory(now, request, historyPage(arg.required("page")))
                }
                else -> fail("unknown input \"$input\"")
            }
        } catch (e: ClawsocketException.Usage) {
            result = "error:${e.code}"
        }

        val frames = generateSequence { server.pollTransmit() }.map(::render).toList()
        val events = generateSequence { server.pollEvent() }.map { event -> event.use { it.toJson() } }.toList()
        val report = StringBuilder()
        compare(report, "frames", expected(step, "frames"), frames)
        compare(report, "events", expected(step, "events"), events)
        step.get("nextTimeout")?.let { want ->
            val expectedTimeout = if (want.isNull) null else want.asLong().toULong()
            val actual = server.pollTimeout()
            if (expectedTimeout != actual) report.append("  poll_timeout: expected $expectedTimeout, got $actual\n")
        }
        val wantResult = step.get("result")
        if (wantResult != null) {
            val want = if (wantResult.isTextual) wantResult.textValue() else CompactJson.write(wantResult)
            if (want != result) report.append("  result: expected \"$want\", got ${result?.let { "\"$it\"" }}\n")
        } else if (result?.startsWith("error:") == true) {
            report.append("  unexpected $result\n")
        }
        return report.toString()
    }

    private fun render(t: Transmit): String = when (val p = t.payload) {
        is TransmitPayload.Text -> """{"to":${t.connection},"frame":${p.text}}"""
        is TransmitPayload.Close ->
            """{"to":${t.connection},"close":{"code":${p.code},"reason":${CompactJson.string(p.reason)}}}"""
    }

    private fun expected(step: JsonNode, key: String): List<String> =
        step.get(key)?.map { CompactJson.write(it) } ?: emptyList()

    private fun compare(report: StringBuilder, what: String, expected: List<String>, actual: List<String>) {
        if (expected == actual) return
        report.append("  $what differ:\n")
        for (i in 0 until maxOf(expected.size, actual.size)) {
            val e = expected.getOrNull(i)
            val a = actual.getOrNull(i)
            if (e != a) {
                report.append("    [$i] expected ${e ?: "(nothing)"}\n")
                report.append("    [$i]   actual ${a ?: "(nothing)"}\n")
            }
        }
    }

    private fun historyPage(page: JsonNode) = HistoryPage(
        messages = page.required("messages").map { m ->
            HistoryMessage(
                messageId = m.required("messageId").textValue(),
                role = m.required("role").textValue(),
                senderId = m.get("senderId")?.textValue(),
                senderName = m.get("senderName")?.textValue(),
                content = m.required("content").textValue(),
                at = m.required("at").asLong().toULong(),
            )
        },
        nextCursor = page.get("nextCursor")?.textValue(),
    )

    private fun hex(s: String): ByteArray = ByteArray(s.length / 2) { i -> s.substring(2 * i, 2 * i + 2).toInt(16).toByte() }

    private companion object {
        val EXPECTATION_KEYS = setOf("at", "frames", "events", "nextTimeout", "result", "note")
    }
}
