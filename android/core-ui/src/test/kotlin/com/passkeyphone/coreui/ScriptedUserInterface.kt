// A UserInterface for host tests: answers every prompt from a script and records what the core
// asked and told, so tests can check both.
package com.passkeyphone.coreui

import java.util.Collections
import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.PresencePrompt
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.UserInterface
import uniffi.authenticator_core.VerificationOutcome

class ScriptedUserInterface(
    @Volatile var allowPresence: Boolean = true,
    @Volatile var verification: VerificationOutcome = VerificationOutcome.VERIFIED,
    @Volatile var accountChoice: UInt? = 0u,
) : UserInterface {
    val asked: MutableList<String> = Collections.synchronizedList(mutableListOf())
    val events: MutableList<UserEvent> = Collections.synchronizedList(mutableListOf())

    override suspend fun confirmPresence(prompt: PresencePrompt): Boolean {
        asked += "presence ${prompt.operation} ${prompt.rpId}"
        return allowPresence
    }

    override suspend fun verifyUser(prompt: PresencePrompt): VerificationOutcome {
        asked += "verify ${prompt.operation} ${prompt.rpId}"
        return verification
    }

    override suspend fun chooseAccount(rpId: String, accounts: List<AccountOption>): UInt? {
        asked += "choose $rpId ${accounts.size}"
        return accountChoice
    }

    override fun notify(event: UserEvent) {
        events += event
    }
}
