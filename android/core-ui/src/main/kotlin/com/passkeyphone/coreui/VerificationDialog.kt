// The core's verify_user on the screen: which Verify prompt the system's biometric dialog is
// up for, when to take the dialog down (the core gave up: timeout, request withdrawn), and how
// the dialog's ending answers the prompt. MainActivity only runs BiometricPrompt.
//
// The ending's meaning (androidx.biometric BiometricPrompt.ERROR_* codes, mirrored here as
// plain numbers): the negative button and a user or system cancel are declines (no attempt
// spent); a lockout after failed tries is a failed verification (one of the core's attempts);
// any other error means the phone could not verify now, and the core hears why.
//
// Invariants: one dialog at a time, tied to one prompt id; an ending after the prompt left the
// queue answers nothing; a dialog restored after a rotation is not shown twice.
package com.passkeyphone.coreui

import uniffi.authenticator_core.VerificationOutcome

class VerificationDialog(
    private val broker: PromptBroker,
    /** The prompt a dialog was up for before the activity was recreated (rotation), if any. */
    restored: Long? = null,
) {
    /** What the activity does after a change of the broker's current prompt. */
    data class Step(
        /** Take the system dialog down (cancelAuthentication). */
        val dismiss: Boolean,
        /** Show the system dialog for this prompt. */
        val show: Prompt.Verify?,
    )

    /** The Verify prompt the system dialog is up for; the activity saves it across a rotation. */
    @Volatile
    var verifying: Long? = restored
        private set

    /**
     * The broker's current prompt changed to [prompt]. [canAuthenticate] asks the phone whether
     * it has a biometric or screen lock to verify with; without one the prompt is answered
     * "unavailable" at once and no dialog is shown.
     */
    @Synchronized
    fun onPrompt(prompt: Prompt?, canAuthenticate: () -> Boolean): Step {
        val dismiss = verifying != null && verifying != prompt?.id
        if (dismiss) verifying = null
        if (prompt !is Prompt.Verify || verifying == prompt.id) return Step(dismiss, null)
        if (!canAuthenticate()) {
            broker.unavailable(prompt.id, NO_SCREEN_LOCK)
            return Step(dismiss, null)
        }
        verifying = prompt.id
        return Step(dismiss, prompt)
    }

    /** onAuthenticationSucceeded. */
    fun onSucceeded() = finish(VerificationOutcome.VERIFIED)

    /** onAuthenticationError: the dialog is gone. A single failed try does not end it. */
    @Synchronized
    fun onError(code: Int, text: String) {
        when (code) {
            ERROR_NEGATIVE_BUTTON, ERROR_USER_CANCELED, ERROR_CANCELED -> finish(VerificationOutcome.DECLINED)
            ERROR_LOCKOUT, ERROR_LOCKOUT_PERMANENT -> finish(VerificationOutcome.FAILED)
            else -> {
                verifying?.let { broker.unavailable(it, text) }
                verifying = null
            }
        }
    }

    @Synchronized
    private fun finish(outcome: VerificationOutcome) {
        verifying?.let { broker.answerVerification(it, outcome) }
        verifying = null
    }

    companion object {
        const val TITLE = "Verify it's you"
        const val NO_SCREEN_LOCK = "this phone has no screen lock to verify you with"

        // androidx.biometric.BiometricPrompt error codes (BiometricPrompt.ERROR_*).
        const val ERROR_CANCELED = 5
        const val ERROR_LOCKOUT = 7
        const val ERROR_LOCKOUT_PERMANENT = 9
        const val ERROR_USER_CANCELED = 10
        const val ERROR_NEGATIVE_BUTTON = 13

        // androidx.biometric.BiometricManager.Authenticators.
        const val BIOMETRIC_STRONG = 0x000F
        const val BIOMETRIC_WEAK = 0x00FF
        const val DEVICE_CREDENTIAL = 0x8000

        /** Android 9 and 10 (API < 30) cannot combine strong biometrics with the screen lock. */
        fun allowedAuthenticators(sdkInt: Int): Int =
            if (sdkInt >= 30) BIOMETRIC_STRONG or DEVICE_CREDENTIAL else BIOMETRIC_WEAK or DEVICE_CREDENTIAL
    }
}
