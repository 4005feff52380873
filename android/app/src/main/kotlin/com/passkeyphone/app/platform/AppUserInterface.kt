// The core's prompts on Android: every question goes to the PromptBroker, which the activity
// shows (Compose dialogs, BiometricPrompt) and answers; while the app is not on screen a
// high-priority notification brings the user to it. The core's timeout ends a prompt nobody
// answers. Notices (notify) become notifications.
package com.passkeyphone.app.platform

import android.content.Context
import com.passkeyphone.coreui.PromptBroker
import kotlinx.coroutines.flow.StateFlow
import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.PresencePrompt
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.UserInterface
import uniffi.authenticator_core.VerificationOutcome

class AppUserInterface(
    context: Context,
    private val broker: PromptBroker,
    private val appVisible: StateFlow<Boolean>,
) : UserInterface {
    private val context = context.applicationContext

    override suspend fun confirmPresence(prompt: PresencePrompt): Boolean =
        withAttention(prompt.message) { broker.confirmPresence(prompt) }

    override suspend fun verifyUser(prompt: PresencePrompt): VerificationOutcome =
        withAttention(prompt.message) { broker.verifyUser(prompt) }

    override suspend fun chooseAccount(rpId: String, accounts: List<AccountOption>): UInt? =
        withAttention("Choose an account for $rpId") { broker.chooseAccount(rpId, accounts) }

    override fun notify(event: UserEvent) = Notifications.showEvent(context, event)

    private suspend fun <T> withAttention(message: String, ask: suspend () -> T): T {
        if (!appVisible.value) Notifications.showPromptWaiting(context, message)
        try {
            return ask()
        } finally {
            Notifications.cancelPromptWaiting(context)
        }
    }
}
