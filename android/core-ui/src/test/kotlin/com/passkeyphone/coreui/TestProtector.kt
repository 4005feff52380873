// A software KeyProtector for host tests: AES-256-GCM through javax.crypto with the key in
// memory, plus switches that make it fail the way a platform key store can.
package com.passkeyphone.coreui

import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import uniffi.authenticator_core.KeyProtectionInfo
import uniffi.authenticator_core.KeyProtector
import uniffi.authenticator_core.KeyProtectorException

class TestProtector(
    private val key: SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey(),
) : KeyProtector {
    /** When set, unwrap throws it instead of decrypting. */
    @Volatile var unwrapFailure: KeyProtectorException? = null
    @Volatile var unwrapCalls = 0
        private set

    override fun wrap(secret: ByteArray): ByteArray {
        val iv = ByteArray(IV_LENGTH).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.ENCRYPT_MODE, key, GCMParameterSpec(TAG_BITS, iv))
        return iv + cipher.doFinal(secret)
    }

    override fun unwrap(blob: ByteArray): ByteArray {
        unwrapCalls++
        unwrapFailure?.let { throw it }
        if (blob.size < IV_LENGTH + TAG_BITS / 8) throw KeyProtectorException.Failed("blob too short")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, blob, 0, IV_LENGTH))
        return try {
            cipher.doFinal(blob, IV_LENGTH, blob.size - IV_LENGTH)
        } catch (e: AEADBadTagException) {
            throw KeyProtectorException.WrongKey()
        }
    }

    override fun info() = KeyProtectionInfo(hardwareBacked = false, kind = "kotlin-test-software")

    /** The vault's monotonic anchor, kept in memory for as long as this protector. */
    @Volatile var anchor: ByteArray? = null

    override fun loadAnchor(): ByteArray? = anchor

    override fun storeAnchor(anchor: ByteArray): Boolean {
        this.anchor = anchor.copyOf()
        return true
    }

    private companion object {
        const val IV_LENGTH = 12
        const val TAG_BITS = 128
    }
}
