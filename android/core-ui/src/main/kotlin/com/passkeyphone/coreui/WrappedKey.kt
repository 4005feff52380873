// The app's wrapped vault key and what the settings call its protection, independent of the
// Android Keystore that does the AES-GCM: the blob's layout (a format byte, the 12-byte IV the
// key store chose, then ciphertext and 16-byte tag) and which kind of key a KeyInfo describes.
//
// Invariants: a blob that is not in this layout (someone who can write the app's files, a
// vault from another app) is refused before the key store is asked, with the core's
// KeyProtectorException.Failed; the layout never carries the key or the secret in clear.
package com.passkeyphone.coreui

import uniffi.authenticator_core.KeyProtectorException

object WrappedKey {
    /** The layout's version: the first byte of every blob. */
    const val FORMAT: Byte = 1

    /** AES-GCM's 96-bit IV (NIST SP 800-38D 8.2), chosen by the key store. */
    const val IV_LENGTH = 12

    /** A 128-bit GCM tag (the Keystore's default). */
    const val TAG_BITS = 128
    const val HEADER = 1 + IV_LENGTH

    const val KIND_STRONGBOX = "android-strongbox"
    const val KIND_TEE = "android-tee"
    const val KIND_SOFTWARE = "android-software"
    const val KIND_NONE = "android-keystore (no key yet)"

    /** The blob for [iv] and the cipher's output (ciphertext then tag). */
    fun seal(iv: ByteArray, sealed: ByteArray): ByteArray {
        if (iv.size != IV_LENGTH) throw KeyProtectorException.Failed("the key store chose a ${iv.size}-byte IV")
        return byteArrayOf(FORMAT) + iv + sealed
    }

    /** Refuses a blob that cannot be this app's; the IV is blob[1, HEADER), the rest after. */
    fun check(blob: ByteArray) {
        if (blob.size < HEADER + TAG_BITS / 8 || blob[0] != FORMAT) {
            throw KeyProtectorException.Failed("the wrapped vault key is not in this app's format")
        }
    }

    /**
     * The kind the settings show: the one remembered when the key was made ([made]), unless the
     * key is gone or the key store says it is not in secure hardware; without a note, StrongBox
     * if the key store says so (Android 12+), else the TEE.
     */
    fun kind(hasKey: Boolean, hardwareBacked: Boolean, made: String?, strongBoxLevel: Boolean): String = when {
        !hasKey -> made ?: KIND_NONE
        !hardwareBacked -> KIND_SOFTWARE
        else -> made ?: if (strongBoxLevel) KIND_STRONGBOX else KIND_TEE
    }
}
