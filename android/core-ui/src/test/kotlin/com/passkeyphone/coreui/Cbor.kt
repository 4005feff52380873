// A small CBOR writer for hand-built CTAP requests in tests: unsigned and negative integers,
// byte and text strings, arrays, booleans, and maps written in CTAP2 canonical key order.
package com.passkeyphone.coreui

import java.io.ByteArrayOutputStream

object Cbor {
    fun encode(value: Any?): ByteArray = ByteArrayOutputStream().also { write(it, value) }.toByteArray()

    private fun write(out: ByteArrayOutputStream, value: Any?) {
        when (value) {
            is Int -> if (value >= 0) head(out, 0, value.toLong()) else head(out, 1, -1L - value)
            is Long -> if (value >= 0) head(out, 0, value) else head(out, 1, -1L - value)
            is ByteArray -> { head(out, 2, value.size.toLong()); out.write(value) }
            is String -> value.toByteArray(Charsets.UTF_8).let { head(out, 3, it.size.toLong()); out.write(it) }
            is List<*> -> { head(out, 4, value.size.toLong()); value.forEach { write(out, it) } }
            is Map<*, *> -> {
                // CTAP2 canonical order: shorter encoded keys first, then bytewise.
                val entries = value.entries.map { encode(it.key) to it.value }
                    .sortedWith { a, b -> compareKeys(a.first, b.first) }
                head(out, 5, entries.size.toLong())
                entries.forEach { (key, v) -> out.write(key); write(out, v) }
            }
            true -> out.write(0xF5)
            false -> out.write(0xF4)
            else -> error("cannot encode $value")
        }
    }

    private fun compareKeys(a: ByteArray, b: ByteArray): Int {
        if (a.size != b.size) return a.size - b.size
        for (i in a.indices) {
            val d = (a[i].toInt() and 0xFF) - (b[i].toInt() and 0xFF)
            if (d != 0) return d
        }
        return 0
    }

    private fun head(out: ByteArrayOutputStream, major: Int, n: Long) {
        val m = major shl 5
        when {
            n < 24 -> out.write(m or n.toInt())
            n < 0x100 -> { out.write(m or 24); out.write(n.toInt()) }
            n < 0x10000 -> { out.write(m or 25); out.write((n shr 8).toInt()); out.write(n.toInt() and 0xFF) }
            else -> { out.write(m or 26); for (shift in 24 downTo 0 step 8) out.write(((n shr shift) and 0xFF).toInt()) }
        }
    }
}
