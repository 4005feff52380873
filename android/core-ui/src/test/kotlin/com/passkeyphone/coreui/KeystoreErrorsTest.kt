// The Keystore's failures as the real core reports them when it opens a vault: which cause wins
// and the words the user reads (title, the core's sentence, whether trying again can help).
package com.passkeyphone.coreui

import com.passkeyphone.coreui.KeystoreErrors.Cause
import org.junit.Assert.assertEquals
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.KeyProtectorException

class KeystoreErrorsTest {
    /** What the user reads when the vault's key cannot be unwrapped with [failure]. */
    private fun opening(failure: KeyProtectorException): UserMessage = Fixture().use { f ->
        f.core.close()
        f.protector.unwrapFailure = failure
        try {
            f.open().close()
            throw AssertionError("the vault opened")
        } catch (e: AuthenticatorException) {
            e.toUserMessage()
        }
    }

    @Test
    fun anInvalidatedKeyIsLostWhateverElseHappened() {
        val error = KeystoreErrors.classify(Cause.entries, "ProviderException")
        assertEquals(
            UserMessage(
                "Your passkeys cannot be opened",
                "The device key protecting the vault is permanently lost (the Android Keystore invalidated the " +
                    "vault's key); the vault file was left untouched for recovery.",
                canRetry = false,
            ),
            opening(error),
        )
    }

    @Test
    fun aMissingKeyIsLost() {
        assertEquals(
            UserMessage(
                "Your passkeys cannot be opened",
                "The device key protecting the vault is permanently lost (the Android Keystore holds no key for " +
                    "this vault (app data restored from another phone, or the key was removed)); the vault file " +
                    "was left untouched for recovery.",
                canRetry = false,
            ),
            opening(KeystoreErrors.NO_KEY),
        )
    }

    @Test
    fun aLockedPhoneWinsOverTheRest() {
        val error = KeystoreErrors.classify(listOf(Cause.NotReady, Cause.BadTag, Cause.Locked), "InvalidKeyException")
        assertEquals(
            UserMessage(
                "Unlock your phone",
                "The vault key is temporarily unavailable (the phone is locked); try again after unlocking.",
                canRetry = true,
            ),
            opening(error),
        )
    }

    @Test
    fun anotherKeysBlobIsTheWrongKey() {
        val error = KeystoreErrors.classify(listOf(Cause.NotReady, Cause.BadTag), "AEADBadTagException")
        assertEquals(
            UserMessage(
                "Your passkeys cannot be opened",
                "The vault was sealed with a different key; nothing was changed.",
                canRetry = false,
            ),
            opening(error),
        )
    }

    @Test
    fun aKeyStoreNotReadyIsTemporary() {
        val error = KeystoreErrors.classify(listOf(Cause.NotReady), "KeyStoreException")
        assertEquals(
            UserMessage(
                "Unlock your phone",
                "The vault key is temporarily unavailable (the Android Keystore is not ready); try again after unlocking.",
                canRetry = true,
            ),
            opening(error),
        )
    }

    @Test
    fun anythingElseIsNamedByItsClass() {
        val error = KeystoreErrors.classify(emptyList(), "ProviderException")
        assertEquals(
            UserMessage("Key store problem", "The key protector failed: Android Keystore: ProviderException.", canRetry = true),
            opening(error),
        )
    }
}
