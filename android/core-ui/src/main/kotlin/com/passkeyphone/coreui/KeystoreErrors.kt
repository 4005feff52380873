// The Android Keystore's failures as the core's KeyProtectorException, in words the core
// passes on to the user: an invalidated or missing key is permanently lost (recovery), a locked
// phone or a key store not ready yet is temporary (retry), a blob from another key is the
// wrong key, anything else a failure named by its exception's class. The app finds the causes
// in an exception's chain (Android classes); which one wins and what is said is decided here.
//
// Invariants: no message carries a key, a blob or an exception's own text (which can hold
// key-store internals); an invalidated key wins over every other cause, then a locked phone.
package com.passkeyphone.coreui

import uniffi.authenticator_core.KeyProtectorException

object KeystoreErrors {
    enum class Cause {
        /** KeyPermanentlyInvalidatedException. */
        Invalidated,

        /** UserNotAuthenticatedException. */
        Locked,

        /** AEADBadTagException: the blob was sealed by another key. */
        BadTag,

        /** android.security.KeyStoreException, transient or waiting for the user (Android 13+). */
        NotReady,
    }

    /** unwrap found no key under the app's alias. */
    val NO_KEY = KeyProtectorException.PermanentlyLost(
        "the Android Keystore holds no key for this vault (app data restored from another " +
            "phone, or the key was removed)",
    )

    fun classify(causes: Collection<Cause>, exceptionClass: String): KeyProtectorException = when {
        Cause.Invalidated in causes -> KeyProtectorException.PermanentlyLost("the Android Keystore invalidated the vault's key")
        Cause.Locked in causes -> KeyProtectorException.TemporarilyUnavailable("the phone is locked")
        Cause.BadTag in causes -> KeyProtectorException.WrongKey()
        Cause.NotReady in causes -> KeyProtectorException.TemporarilyUnavailable("the Android Keystore is not ready")
        else -> KeyProtectorException.Failed("Android Keystore: $exceptionClass")
    }
}
