// The core's UserInterface as the app implements it: every question goes to the PromptBroker
// (the screen shows and answers it); while the app is off screen a "your computer is asking"
// notice brings the user to it, and it is taken down when the prompt ends (answered, timed
// out or withdrawn by the core). The core's notices become notices on the board.
//
// Invariants: the waiting notice carries only the core's prompt line (site and account name);
// a prompt the core cancels leaves neither the queue nor the notice behind.
package com.passkeyphone.coreui

import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.PresencePrompt
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.UserInterface
import uniffi.authenticator_core.VerificationOutcome

class BrokeredUserInterface(
    private val broker: PromptBroker,
    /** True while an activity of the app is on screen (read when a prompt arrives). */
    private val appVisible: () -> Boolean,
    private val board: NoticeBoard,
) : UserInterface {
    override suspend fun confirmPresence(prompt: PresencePrompt): Boolean =
        withAttention(prompt.message) { broker.confirmPresence(prompt) }

    override suspend fun verifyUser(prompt: PresencePrompt): VerificationOutcome =
        withAttention(prompt.message) { broker.verifyUser(prompt) }

    override suspend fun chooseAccount(rpId: String, accounts: List<AccountOption>): UInt? =
        withAttention(Notices.chooseAccount(rpId)) { broker.chooseAccount(rpId, accounts) }

    override fun notify(event: UserEvent) = board.showEvent(Notices.event(event))

    private suspend fun <T> withAttention(message: String, ask: suspend () -> T): T {
        if (!appVisible()) board.showPromptWaiting(Notices.promptWaiting(message))
        try {
            return ask()
        } finally {
            board.cancelPromptWaiting()
        }
    }
}
