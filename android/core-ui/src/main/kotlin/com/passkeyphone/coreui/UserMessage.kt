// Turns the core's one error enum (AuthenticatorException) into what a screen shows: a short
// title, the core's own words as a sentence, and whether trying again can help.
package com.passkeyphone.coreui

import uniffi.authenticator_core.AuthenticatorException

/** An error as a screen shows it. [detail] is the core's reason, written as a sentence. */
data class UserMessage(val title: String, val detail: String, val canRetry: Boolean)

/** Maps every variant; the core's reason is written for the user and is kept word for word. */
fun AuthenticatorException.toUserMessage(): UserMessage = when (this) {
    is AuthenticatorException.InvalidInput -> message("Check what you entered", reason, retry = true)
    is AuthenticatorException.KeyTemporarilyUnavailable -> message("Unlock your phone", reason, retry = true)
    is AuthenticatorException.KeyPermanentlyLost -> message("Your passkeys cannot be opened", reason, retry = false)
    is AuthenticatorException.KeyStoreFailed -> message("Key store problem", reason, retry = true)
    is AuthenticatorException.VaultUnreadable -> message("Your passkeys cannot be opened", reason, retry = false)
    is AuthenticatorException.Storage -> message("Storage problem", reason, retry = true)
    is AuthenticatorException.NotActivated -> message("Not activated yet", reason, retry = false)
    is AuthenticatorException.InvalidState -> message("Not possible now", reason, retry = false)
    is AuthenticatorException.PinInvalid -> message("Wrong PIN", reason, retry = attemptsLeft > 0u)
    is AuthenticatorException.PinBlocked -> message("PIN blocked", reason, retry = false)
    is AuthenticatorException.Refused -> message("Refused", reason, retry = false)
    is AuthenticatorException.Network -> message("No connection", reason, retry = true)
    is AuthenticatorException.NotFound -> message("Not found", reason, retry = false)
    is AuthenticatorException.Unsupported -> message("Not supported", reason, retry = false)
    is AuthenticatorException.Internal -> message("Something went wrong", reason, retry = true)
    is AuthenticatorException.HandshakeFailed -> message("Could not connect securely", reason, retry = true)
    is AuthenticatorException.TimedOut -> message("Took too long", reason, retry = true)
    is AuthenticatorException.Declined -> message("Declined", reason, retry = false)
    is AuthenticatorException.Cancelled -> message("Cancelled", reason, retry = true)
    is AuthenticatorException.Bluetooth -> message("Bluetooth unavailable", reason, retry = true)
}

private fun message(title: String, reason: String, retry: Boolean) = UserMessage(title, asSentence(reason), retry)

/** "wrong PIN; 7 attempt(s) left" -> "Wrong PIN; 7 attempt(s) left." */
fun asSentence(text: String): String {
    val trimmed = text.trim()
    if (trimmed.isEmpty()) return trimmed
    val capitalized = trimmed.replaceFirstChar { it.uppercaseChar() }
    return if (capitalized.last() in ".!?") capitalized else "$capitalized."
}
