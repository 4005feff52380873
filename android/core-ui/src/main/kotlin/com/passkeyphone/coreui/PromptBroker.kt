// The queue between the core's prompts (UserInterface calls, which suspend) and the screen that
// answers them: the oldest unanswered prompt is published; an answer resumes its caller; a caller
// the core cancels (timeout, request withdrawn) leaves the queue. A verification is answered
// with what happened (verified, failed, declined): only a failed one costs the user an attempt.
package com.passkeyphone.coreui

import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.PresencePrompt
import uniffi.authenticator_core.UserInterfaceException
import uniffi.authenticator_core.VerificationOutcome

/** A question waiting for the user. [id] ties the answer to it. */
sealed interface Prompt {
    val id: Long

    /** "Allow" / "Deny" (confirm_presence). */
    data class Presence(override val id: Long, val prompt: PresencePrompt) : Prompt

    /**
     * Biometric or device credential (verify_user); the screen runs the system prompt and
     * answers with [PromptBroker.answerVerification].
     */
    data class Verify(override val id: Long, val prompt: PresencePrompt) : Prompt

    /** Pick one account, or none (choose_account). */
    data class ChooseAccount(override val id: Long, val rpId: String, val accounts: List<AccountOption>) : Prompt
}

class PromptBroker {
    private class Pending(val prompt: Prompt, val answer: CompletableDeferred<Any?>)

    private val ids = AtomicLong()
    private val pending = ArrayList<Pending>()
    private val published = MutableStateFlow<Prompt?>(null)

    /** The prompt to show now, or null. */
    val current: StateFlow<Prompt?> = published.asStateFlow()

    suspend fun confirmPresence(prompt: PresencePrompt): Boolean =
        ask(Prompt.Presence(ids.incrementAndGet(), prompt)) as Boolean

    suspend fun verifyUser(prompt: PresencePrompt): VerificationOutcome =
        ask(Prompt.Verify(ids.incrementAndGet(), prompt)) as VerificationOutcome

    suspend fun chooseAccount(rpId: String, accounts: List<AccountOption>): UInt? =
        ask(Prompt.ChooseAccount(ids.incrementAndGet(), rpId, accounts)) as UInt?

    /** Answers a Presence prompt. False if it is no longer waiting. */
    fun answer(id: Long, allowed: Boolean): Boolean = complete(id, allowed) { it is Prompt.Presence }

    /**
     * Answers a Verify prompt: VERIFIED, FAILED (someone was not recognised, or the system locked
     * verification out: spends one of the core's attempts) or DECLINED (cancelled: costs none).
     * False if it is no longer waiting.
     */
    fun answerVerification(id: Long, outcome: VerificationOutcome): Boolean =
        complete(id, outcome) { it is Prompt.Verify }

    /** Answers a ChooseAccount prompt with an index into its accounts, or null for none. */
    fun answerAccount(id: Long, index: UInt?): Boolean = complete(id, index) { prompt ->
        prompt is Prompt.ChooseAccount && (index == null || index.toInt() in prompt.accounts.indices)
    }

    /** The screen cannot ask (no screen lock for verification, say): the core hears why. */
    fun unavailable(id: Long, reason: String): Boolean {
        val entry = synchronized(pending) { pending.firstOrNull { it.prompt.id == id } } ?: return false
        return entry.answer.completeExceptionally(UserInterfaceException.Unavailable(reason))
    }

    /** Declines everything waiting (the app is going away). */
    fun declineAll() {
        val all = synchronized(pending) { pending.toList() }
        all.forEach {
            val answer: Any? = when (it.prompt) {
                is Prompt.Presence -> false
                is Prompt.Verify -> VerificationOutcome.DECLINED
                is Prompt.ChooseAccount -> null
            }
            complete(it.prompt.id, answer) { true }
        }
    }

    private suspend fun ask(prompt: Prompt): Any? {
        val entry = Pending(prompt, CompletableDeferred())
        synchronized(pending) {
            pending.add(entry)
            publish()
        }
        try {
            return entry.answer.await()
        } finally {
            synchronized(pending) {
                pending.remove(entry)
                publish()
            }
        }
    }

    private fun complete(id: Long, value: Any?, accepts: (Prompt) -> Boolean): Boolean {
        val entry = synchronized(pending) { pending.firstOrNull { it.prompt.id == id } } ?: return false
        return accepts(entry.prompt) && entry.answer.complete(value)
    }

    private fun publish() {
        published.value = pending.firstOrNull()?.prompt
    }

    companion object {
        /** The account chooser's title. */
        fun chooseAccountTitle(rpId: String) = "Sign in to $rpId as"

        /** One account in the chooser: its display name, else its user name, else its place. */
        fun accountLabel(account: AccountOption, index: Int): String =
            account.displayName ?: account.userName ?: "Account ${index + 1}"
    }
}
