// The app's key protector logic that needs no Keystore, against the real core: a protector
// with the app's blob layout (WrappedKey) and anchor file (AnchorFile) opens, reopens and
// keeps the passkeys; a vault file put back from an older copy is refused by the core because
// the anchor file moved on; a blob not in the layout and an anchor that cannot be written are
// the core's "failed" errors in words; the kinds the settings show.
package com.passkeyphone.coreui

import java.io.File
import java.nio.file.Files
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.KeyProtectionInfo
import uniffi.authenticator_core.KeyProtector
import uniffi.authenticator_core.KeyProtectorException

class KeyStorageTest {
    /** KeystoreKeyProtector's layout and anchor, with a software AES key in place of the Keystore's. */
    private class AppLayoutProtector(private val anchor: AnchorFile) : KeyProtector {
        private val key: SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

        override fun wrap(secret: ByteArray): ByteArray {
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.ENCRYPT_MODE, key) // the provider picks the IV, as the Keystore does
            return WrappedKey.seal(cipher.iv, cipher.doFinal(secret))
        }

        override fun unwrap(blob: ByteArray): ByteArray {
            WrappedKey.check(blob)
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(WrappedKey.TAG_BITS, blob, 1, WrappedKey.IV_LENGTH))
            return cipher.doFinal(blob, WrappedKey.HEADER, blob.size - WrappedKey.HEADER)
        }

        override fun info() = KeyProtectionInfo(hardwareBacked = false, kind = WrappedKey.KIND_SOFTWARE)

        override fun loadAnchor(): ByteArray? = anchor.load()

        override fun storeAnchor(anchor: ByteArray): Boolean = this.anchor.store(anchor)
    }

    private fun tempDir(): File = Files.createTempDirectory("passkeyphone-anchor").toFile()

    private fun open(dir: File, protector: KeyProtector) =
        uniffi.authenticator_core.Authenticator.open(dir.path, protector, ScriptedUserInterface(), null, Fixture.OPTIONS)

    private fun register(dir: File, protector: KeyProtector, user: String) = open(dir, protector).use { core ->
        val response = runBlocking { core.handleCtap(Fixture.makeCredential("crm.example", user, verify = false)) }
        assertEquals("CTAP2_OK", 0, response[0].toInt())
    }

    @Test
    fun theAppsLayoutAndAnchorKeepTheVaultAndRefuseAnOldCopy() {
        val data = tempDir()
        val noBackup = tempDir()
        val old = tempDir()
        try {
            val anchorFile = File(noBackup, AnchorFile.NAME)
            val protector = AppLayoutProtector(AnchorFile(anchorFile))
            register(data, protector, "alice")
            assertTrue("the core stored its anchor", anchorFile.length() > 0)
            assertEquals(listOf(AnchorFile.NAME), noBackup.list()!!.toList())
            assertEquals(1, open(data, protector).use { it.passkeys().size })
            data.copyRecursively(old, overwrite = true)
            // A PIN moves the vault's sealed state head, and with it the anchor.
            open(data, protector).use { it.setPin("135790") }

            // Someone puts back the older vault file (a restored backup); the anchor stays.
            data.deleteRecursively()
            old.copyRecursively(data)
            try {
                open(data, protector).close()
                fail("an older copy of the vault opened")
            } catch (e: AuthenticatorException.VaultUnreadable) {
                assertEquals("Your passkeys cannot be opened", e.toUserMessage().title)
                assertEquals(
                    "the vault file was rolled back to an older copy (its state is generation 1, the device " +
                        "recorded 2); nothing was changed and the vault file was left as it is for recovery",
                    e.reason,
                )
            }
        } finally {
            listOf(data, noBackup, old).forEach { it.deleteRecursively() }
        }
    }

    @Test
    fun anAnchorFileRoundTripsAndFailsInWords() {
        val dir = tempDir()
        try {
            val anchor = AnchorFile(File(dir, AnchorFile.NAME))
            assertNull("nothing before the first store", anchor.load())
            assertTrue(anchor.store(byteArrayOf(1, 2, 3)))
            assertTrue(anchor.store(byteArrayOf(4, 5)))
            assertArrayEquals(byteArrayOf(4, 5), anchor.load())
            assertEquals("no temporary file is left", listOf(AnchorFile.NAME), dir.list()!!.toList())

            val nowhere = AnchorFile(File(File(dir, "missing"), AnchorFile.NAME))
            val thrown = runCatching { nowhere.store(byteArrayOf(1)) }.exceptionOrNull()
            assertEquals(
                "cannot write the vault's state anchor: FileNotFoundException",
                (thrown as KeyProtectorException.Failed).reason,
            )
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun aBlobNotInTheLayoutIsRefused() {
        val good = WrappedKey.seal(ByteArray(12) { it.toByte() }, ByteArray(48))
        assertEquals(1 + 12 + 48, good.size)
        WrappedKey.check(good)
        for (bad in listOf(byteArrayOf(2) + good.copyOfRange(1, good.size), good.copyOf(WrappedKey.HEADER + 15), ByteArray(0))) {
            val thrown = runCatching { WrappedKey.check(bad) }.exceptionOrNull()
            assertEquals("the wrapped vault key is not in this app's format", (thrown as KeyProtectorException.Failed).reason)
        }
        val iv = runCatching { WrappedKey.seal(ByteArray(16), ByteArray(48)) }.exceptionOrNull()
        assertEquals("the key store chose a 16-byte IV", (iv as KeyProtectorException.Failed).reason)
    }

    @Test
    fun theKindTheSettingsShow() {
        assertEquals("android-keystore (no key yet)", WrappedKey.kind(false, false, null, false))
        assertEquals("a removed key keeps its note", "android-strongbox", WrappedKey.kind(false, false, "android-strongbox", false))
        assertEquals("android-software", WrappedKey.kind(true, false, "android-strongbox", false))
        assertEquals("android-tee", WrappedKey.kind(true, true, "android-tee", true))
        assertEquals("android-strongbox", WrappedKey.kind(true, true, null, true))
        assertEquals("android-tee", WrappedKey.kind(true, true, null, false))
        assertEquals(
            "Android Keystore, StrongBox security chip (key kept in secure hardware)",
            SettingsState.describe(KeyProtectionInfo(true, WrappedKey.kind(true, true, null, true))),
        )
    }
}
