package io.github.clawsocket

import com.fasterxml.jackson.databind.JsonNode

/**
 * Compact JSON text the way the core writes it (tests/vectors/README.md): no whitespace, keys in
 * their order, `\"` `\\` `\n` `\r` `\t` `\b` `\f` escapes, `\u00xx` for other control
 * characters and literal UTF-8 for everything else.
 */
object CompactJson {
    fun write(node: JsonNode): String = StringBuilder().also { append(it, node) }.toString()

    fun string(text: String): String = StringBuilder().also { appendString(it, text) }.toString()

    private fun append(out: StringBuilder, node: JsonNode) {
        when {
            node.isObject -> {
                out.append('{')
                var first = true
                for ((key, value) in node.properties()) {
                    if (!first) out.append(',')
                    first = false
                    appendString(out, key)
                    out.append(':')
                    append(out, value)
                }
                out.append('}')
            }
            node.isArray -> {
                out.append('[')
                node.forEachIndexed { i, item ->
                    if (i > 0) out.append(',')
                    append(out, item)
                }
                out.append(']')
            }
            node.isTextual -> appendString(out, node.textValue())
            // Numbers, booleans and null render as written.
            else -> out.append(node.toString())
        }
    }

    private fun appendString(out: StringBuilder, text: String) {
        out.append('"')
        for (c in text) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000c' -> out.append("\\f")
                else -> if (c < ' ') out.append("\\u%04x".format(c.code)) else out.append(c)
            }
        }
        out.append('"')
    }
}
