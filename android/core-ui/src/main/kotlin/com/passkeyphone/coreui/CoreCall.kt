// Runs one call into the core off the caller's thread and catches its typed error, so that the
// state holders never let an AuthenticatorException escape to a screen.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.withContext
import uniffi.authenticator_core.AuthenticatorException

/** The result of one core call: a value, or the core's error. */
sealed interface Outcome<out T> {
    data class Ok<out T>(val value: T) : Outcome<T>
    data class Failed(val error: AuthenticatorException) : Outcome<Nothing> {
        val message: UserMessage get() = error.toUserMessage()
    }
}

/** Runs [block] on [dispatcher]; only the core's own exception is caught. */
suspend fun <T> coreCall(dispatcher: CoroutineDispatcher, block: suspend () -> T): Outcome<T> =
    withContext(dispatcher) {
        try {
            Outcome.Ok(block())
        } catch (e: AuthenticatorException) {
            Outcome.Failed(e)
        }
    }
