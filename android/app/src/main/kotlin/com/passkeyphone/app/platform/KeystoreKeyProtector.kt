// The vault key's protector on Android: an AES-256-GCM key in the Android Keystore, in StrongBox
// when the phone has one, never bound to biometric enrollment. A missing or invalidated key is
// "permanently lost" (recovery), a locked key store "temporarily unavailable" (retry), a blob
// from another key "wrong key". unwrap never makes a key: only wrap (a new vault) does.
//
// It also keeps the vault's monotonic anchor (the core's sealed state generation) in a file in
// noBackupFilesDir: never part of Auto Backup or device transfer, so a vault file restored from
// a backup or copied back is older than the anchor and refused. It does not stop someone who can
// write this app's private files directly (root): they can put back an old anchor too.
//
// The anchor file, the blob's layout and the kind shown in the settings are core-ui's
// AnchorFile and WrappedKey (host-tested); here are the Keystore calls and their exceptions.
package com.passkeyphone.app.platform

import android.content.Context
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyInfo
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import androidx.core.content.edit
import com.passkeyphone.coreui.AnchorFile
import com.passkeyphone.coreui.KeystoreErrors
import com.passkeyphone.coreui.WrappedKey
import java.io.File
import java.security.KeyStore
import java.security.ProviderException
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.SecretKeyFactory
import javax.crypto.spec.GCMParameterSpec
import uniffi.authenticator_core.KeyProtectionInfo
import uniffi.authenticator_core.KeyProtector
import uniffi.authenticator_core.KeyProtectorException

class KeystoreKeyProtector(context: Context) : KeyProtector {
    private val prefs = context.getSharedPreferences(PREFS, Context.MODE_PRIVATE)
    private val lock = Any()
    private val anchor = AnchorFile(File(context.noBackupFilesDir, AnchorFile.NAME))

    override fun loadAnchor(): ByteArray? = anchor.load()

    override fun storeAnchor(anchor: ByteArray): Boolean = this.anchor.store(anchor)

    override fun wrap(secret: ByteArray): ByteArray = translated {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, loadKey() ?: createKey()) // the key store picks the IV
        WrappedKey.seal(cipher.iv, cipher.doFinal(secret))
    }

    override fun unwrap(blob: ByteArray): ByteArray = translated {
        WrappedKey.check(blob)
        val key = loadKey() ?: throw KeystoreErrors.NO_KEY
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(WrappedKey.TAG_BITS, blob, 1, WrappedKey.IV_LENGTH))
        cipher.doFinal(blob, WrappedKey.HEADER, blob.size - WrappedKey.HEADER)
    }

    override fun info(): KeyProtectionInfo {
        val keyInfo = runCatching { loadKey()?.let(::keyInfo) }.getOrNull()
        val hardware = keyInfo?.let(::isHardwareBacked) ?: false
        val kind = WrappedKey.kind(
            hasKey = keyInfo != null,
            hardwareBacked = hardware,
            made = prefs.getString(PREF_KIND, null),
            strongBoxLevel = keyInfo?.let(::isStrongBoxLevel) ?: false,
        )
        return KeyProtectionInfo(hardwareBacked = hardware, kind = kind)
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }

    private fun loadKey(): SecretKey? = keyStore().getKey(ALIAS, null) as SecretKey?

    /** StrongBox first; a phone without one says so only when asked, so fall back then. */
    private fun createKey(): SecretKey {
        synchronized(lock) {
            loadKey()?.let { return it }
            return generateRemembered()
        }
    }

    private fun generateRemembered(): SecretKey {
        val (key, kind) = try {
            generate(strongBox = true) to WrappedKey.KIND_STRONGBOX
        } catch (e: StrongBoxUnavailableException) {
            generate(strongBox = false) to WrappedKey.KIND_TEE
        } catch (e: ProviderException) {
            // Some StrongBox implementations fail this way instead; the TEE is still there.
            generate(strongBox = false) to WrappedKey.KIND_TEE
        }
        prefs.edit(commit = true) { putString(PREF_KIND, kind) }
        return key
    }

    private fun generate(strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
            // No setUserAuthenticationRequired: a key bound to biometrics dies when a finger is added.
            .setIsStrongBoxBacked(strongBox)
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
            .apply { init(spec) }
            .generateKey()
    }

    private fun keyInfo(key: SecretKey): KeyInfo =
        SecretKeyFactory.getInstance(key.algorithm, ANDROID_KEYSTORE).getKeySpec(key, KeyInfo::class.java) as KeyInfo

    private fun isHardwareBacked(info: KeyInfo): Boolean =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            info.securityLevel == KeyProperties.SECURITY_LEVEL_STRONGBOX ||
                info.securityLevel == KeyProperties.SECURITY_LEVEL_TRUSTED_ENVIRONMENT ||
                info.securityLevel == KeyProperties.SECURITY_LEVEL_UNKNOWN_SECURE
        } else {
            @Suppress("DEPRECATION")
            info.isInsideSecureHardware
        }

    /** Only Android 12+ can tell StrongBox apart (used when the note of what was made is gone). */
    private fun isStrongBoxLevel(info: KeyInfo): Boolean =
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.S && info.securityLevel == KeyProperties.SECURITY_LEVEL_STRONGBOX

    /** Maps the key store's exceptions to the core's error kinds; no secret reaches a message. */
    private inline fun <T> translated(block: () -> T): T = try {
        block()
    } catch (e: KeyProtectorException) {
        throw e
    } catch (e: Exception) {
        throw classify(e)
    }

    /** The causes in the exception's chain; which wins and its words are core-ui's. */
    private fun classify(e: Exception): KeyProtectorException {
        val causes = generateSequence(e as Throwable) { it.cause }.take(8).mapNotNull { t ->
            when {
                t is KeyPermanentlyInvalidatedException -> KeystoreErrors.Cause.Invalidated
                t is UserNotAuthenticatedException -> KeystoreErrors.Cause.Locked
                t is AEADBadTagException -> KeystoreErrors.Cause.BadTag
                isTransientKeystoreFailure(t) -> KeystoreErrors.Cause.NotReady
                else -> null
            }
        }.toSet()
        return KeystoreErrors.classify(causes, e.javaClass.simpleName)
    }

    private fun isTransientKeystoreFailure(t: Throwable): Boolean =
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU &&
            t is android.security.KeyStoreException &&
            (t.isTransientFailure || t.requiresUserAuthentication())

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "passkeyphone.vault-key-wrap.v1"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val PREFS = "keystore_key_protector" // excluded from backup (res/xml)
        const val PREF_KIND = "kind"
    }
}
