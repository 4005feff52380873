// State of the client PIN screen (the FIDO2 PIN the PC asks for): set a first PIN, or change it
// with the current one; shows the policy's minimum length and the attempts left.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.PinStatus

class PinState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<PinState.Ui>(Ui(), dispatcher) {
    data class Ui(
        val status: PinStatus? = null,
        /** True once a set or change went through; the screen can close. */
        val saved: Boolean = false,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() {
        call { core.pinStatus() }.valueOrNull()?.let { status -> state.update { it.copy(status = status) } }
    }

    suspend fun setPin(newPin: String, confirmation: String) {
        if (!confirmed(newPin, confirmation)) return
        finish(call { core.setPin(newPin) })
    }

    suspend fun changePin(currentPin: String, newPin: String, confirmation: String) {
        if (!confirmed(newPin, confirmation)) return
        finish(call { core.changePin(currentPin, newPin) })
    }

    /** The screen took note of [Ui.saved] (and closed); the next visit starts afresh. */
    fun acknowledgeSaved() = state.update { it.copy(saved = false) }

    private fun confirmed(newPin: String, confirmation: String): Boolean {
        if (newPin == confirmation) return true
        reject(PINS_DIFFER)
        return false
    }

    /** After success, or a wrong or blocked PIN, the retry counter changed: read it again. */
    private suspend fun finish(outcome: Outcome<Unit>) {
        val error = (outcome as? Outcome.Failed)?.error
        val counterChanged = outcome is Outcome.Ok ||
            error is AuthenticatorException.PinInvalid || error is AuthenticatorException.PinBlocked
        val status = if (counterChanged) quietly { core.pinStatus() } else null
        state.update { it.copy(saved = outcome is Outcome.Ok, status = status ?: it.status) }
    }

    companion object {
        /** The screen's title: a first PIN, or a change of the one set. */
        fun title(status: PinStatus?): String = if (status?.isSet == true) "Change PIN" else "Set a PIN"

        /** "At least 4 characters. 8 attempts left." and the forced change, if the policy asks. */
        fun describe(status: PinStatus): String {
            val attempts = if (status.isSet) " ${status.retriesLeft} attempts left." else ""
            val change = if (status.mustChange) " Your PIN must be changed before its next use." else ""
            return "At least ${status.minLength} characters.$attempts$change"
        }

        val PINS_DIFFER = UserMessage(
            "PINs do not match",
            "The new PIN and its confirmation are different; type the same PIN twice.",
            canRetry = true,
        )
    }
}
