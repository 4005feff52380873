// A minimal CBOR reader for tests: decodes a CTAP response into Kotlin values (Long, ByteArray,
// String, List, Map, Boolean) so assertions can look inside it.
package com.passkeyphone.coreui

class CborReader(private val bytes: ByteArray, private var at: Int = 0) {
    fun read(): Any? {
        val first = next()
        val major = first shr 5
        val n = length(first and 0x1F)
        return when (major) {
            0 -> n
            1 -> -1 - n
            2 -> take(n.toInt())
            3 -> String(take(n.toInt()), Charsets.UTF_8)
            4 -> List(n.toInt()) { read() }
            5 -> (0 until n).associate { read() to read() }
            7 -> when (first) {
                0xF4 -> false
                0xF5 -> true
                0xF6 -> null
                else -> error("unsupported simple value $first")
            }
            else -> error("unsupported major type $major")
        }
    }

    private fun next(): Int = bytes[at++].toInt() and 0xFF

    private fun take(n: Int): ByteArray = bytes.copyOfRange(at, at + n).also { at += n }

    private fun length(info: Int): Long = when {
        info < 24 -> info.toLong()
        info == 24 -> next().toLong()
        info == 25 -> ((next() shl 8) or next()).toLong()
        info == 26 -> (0 until 4).fold(0L) { acc, _ -> (acc shl 8) or next().toLong() }
        info == 27 -> (0 until 8).fold(0L) { acc, _ -> (acc shl 8) or next().toLong() }
        else -> error("indefinite lengths are not used by CTAP")
    }
}
