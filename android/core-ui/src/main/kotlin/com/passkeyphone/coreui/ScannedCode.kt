// Routes a QR code the app's scanner read: a browser's `FIDO:/` code (hybrid: the phone as a
// passkey for that browser) goes to the hybrid screen; everything else goes to pairing, as
// every scanned text did before, where the core accepts a pairing code or says why not.
//
// Only the shape of a `FIDO:/` code is checked here, with the core's rules
// (`authenticator-core/src/hybrid/qr.rs`): the scheme in any case, then 1 to 4096 decimal
// digits in a count the digit encoding produces (17 per 7-byte chunk, a last partial chunk 3,
// 5, 8, 10, 13 or 15). The core decodes and validates the payload and is the one that refuses a
// bad code. Browsers show the scheme in upper case (QR alphanumeric mode), digits only after it.
// The text carries the QR secret: it is carried to the core, never logged or echoed.
package com.passkeyphone.coreui

/** What a scanned text is for. */
sealed interface ScannedCode {
    /** A browser's hybrid code, spaces around it dropped; for `serveHybrid`. */
    data class Hybrid(val text: String) : ScannedCode

    /** A `FIDO:/` code that cannot be read as one (cut or misread): scan again. */
    data class DamagedHybrid(val message: UserMessage) : ScannedCode

    /** Anything else, unchanged, for `pair` (the core accepts a pairing code or says why not). */
    data class Pairing(val text: String) : ScannedCode

    companion object {
        /** The hybrid scheme (CTAP 2.2 11.5.1; Chromium `qr::kPrefix`), compared ignoring ASCII case. */
        const val HYBRID_PREFIX = "FIDO:/"

        /** The core's limit (`qr::MAX_DIGITS`): a longer text is refused before decoding. */
        const val MAX_HYBRID_DIGITS = 4096
        private const val CHUNK_DIGITS = 17
        private val LAST_CHUNK_DIGITS = setOf(0, 3, 5, 8, 10, 13, 15)

        val DAMAGED_HYBRID = UserMessage(
            "Code not readable",
            "This sign-in code could not be read completely. Scan the code your browser shows again.",
            canRetry = true,
        )

        fun recognize(text: String): ScannedCode {
            val trimmed = text.trim()
            if (!hasHybridPrefix(trimmed)) return Pairing(text)
            val digits = trimmed.substring(HYBRID_PREFIX.length)
            val shaped = digits.isNotEmpty() &&
                digits.length <= MAX_HYBRID_DIGITS &&
                digits.all { it in '0'..'9' } &&
                digits.length % CHUNK_DIGITS in LAST_CHUNK_DIGITS
            return if (shaped) Hybrid(trimmed) else DamagedHybrid(DAMAGED_HYBRID)
        }

        /**
         * ASCII case only, as the core compares (`eq_ignore_ascii_case`): Kotlin's ignoreCase
         * would also let a dotless "ı" stand for "I".
         */
        private fun hasHybridPrefix(text: String): Boolean =
            text.length >= HYBRID_PREFIX.length &&
                HYBRID_PREFIX.indices.all { i -> asciiUpper(text[i]) == HYBRID_PREFIX[i] }

        private fun asciiUpper(c: Char): Char = if (c in 'a'..'z') c - ('a' - 'A') else c
    }
}
