// State of the hybrid screen: the phone serving a browser that shows a `FIDO:/` code (CTAP 2.2
// hybrid, "use a phone"). The core does the whole session (`serveHybrid`); this holder shows
// where it is, from what the core asks of the advertiser (connecting, then advertising until
// the browser joins, then the request), and how it ended: registered or signed in at the site,
// or the core's error in words. Cancel asks the core to end the session (`cancelHybrid`).
// Before a code is served the user answers "Remember this computer?" ([consent]): yes, with a
// name, serves it with `serveHybridAndLink` (the core links the browser if its code asks for
// it), and the outcome says whether a browser was linked and under which name.
//
// Invariants: one session at a time (a second serve while one runs is the core's InvalidState
// error, shown); the QR text is passed on, never kept in the state or logged; consent is per
// code: it is used by one serve and then forgotten, and a browser is linked only with it.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.getAndUpdate
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.HybridAdvertiser
import uniffi.authenticator_core.HybridOperation
import uniffi.authenticator_core.HybridServed
import uniffi.authenticator_core.LinkedBrowser

class HybridState(
    private val core: Authenticator,
    private val advertiser: HybridAdvertiser,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<HybridState.Ui>(Ui(), dispatcher) {
    enum class Step {
        /** Nothing runs. */
        Idle,

        /** Reaching the tunnel server. */
        Connecting,

        /** The advert runs: the computer must be within Bluetooth range. */
        Advertising,

        /** The browser joined; its request and the user's answer follow. */
        Connected,

        /** Ended: see [Ui.served] or [Ui.error]. */
        Finished,
    }

    /** The user's answer to "Remember this computer?" for the code about to be served. */
    data class Consent(
        /** The name the browser is listed under; null: not this time (nothing is linked). */
        val linkAs: String?,
    )

    data class Ui(
        val step: Step = Step.Idle,
        /** The answer for the waiting code; null: not asked yet (the screen asks). */
        val consent: Consent? = null,
        /** What the last session served, for "Signed in at example.com". */
        val served: HybridServed? = null,
        /** The last session ran with the user's consent to link. */
        val linkAsked: Boolean = false,
        /** The browser the last session linked, if it did. */
        val linked: LinkedBrowser? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    ) {
        /** A session runs: the screen shows its progress and Cancel. */
        val running: Boolean get() = step != Step.Idle && step != Step.Finished
    }

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    /** Does what [advertiser] does, then reports the advert's start and stop to the screen. */
    private val observed = ReportingAdvertiser(
        advertiser,
        onStarted = { state.update { if (it.step == Step.Connecting) it.copy(step = Step.Advertising) else it } },
        onStopped = { state.update { if (it.step == Step.Advertising) it.copy(step = Step.Connected) else it } },
    )

    /**
     * The user's answer for the waiting code: [linkAs] is the name they gave the computer
     * ("Remember it"), null for "Not this time". A blank or too long name is refused here.
     */
    fun consent(linkAs: String?) {
        val name = linkAs?.trim()
        when {
            name == null -> state.update { it.copy(consent = Consent(null), error = null) }
            name.isEmpty() -> reject(NO_NAME)
            name.length > MAX_NAME_LENGTH -> reject(NAME_TOO_LONG)
            else -> state.update { it.copy(consent = Consent(name), error = null) }
        }
    }

    /**
     * Serves the browser whose code is [qrText] with the consent given for it (none: not
     * linked); suspends until the session ends. The consent is used up either way.
     */
    suspend fun serve(qrText: String) {
        val linkAs = state.getAndUpdate { it.copy(consent = null) }.consent?.linkAs
        // The links before, so that the one this session adds can be told apart.
        val before = linkAs?.let { quietly { core.linkedBrowsers() }?.map(LinkedBrowsersState::key)?.toSet() }
        state.update { it.copy(step = Step.Connecting, served = null, linkAsked = linkAs != null, linked = null) }
        val served = call {
            if (linkAs == null) core.serveHybrid(qrText, observed) else core.serveHybridAndLink(qrText, linkAs, observed)
        }.valueOrNull()
        // The core stores the link as soon as the browser holds it, before the request: look
        // whatever the outcome.
        val linked = before?.let { quietly { core.linkedBrowsers() }?.firstOrNull { b -> LinkedBrowsersState.key(b) !in it } }
        state.update { it.copy(step = Step.Finished, served = served, linked = linked) }
    }

    /** A scanned `FIDO:/` text that cannot be a browser's code: shown without calling the core. */
    fun rejectScan(message: UserMessage) {
        state.update { it.copy(step = Step.Finished, consent = null, served = null, linkAsked = false, linked = null) }
        reject(message)
    }

    /** Ends the running session (its advert stops; [serve] ends with the core's Cancelled). */
    fun cancel() = core.cancelHybrid()

    /** Back to Idle after the user read the outcome. */
    fun reset() = state.update { Ui() }

    companion object {
        /** Longer names do not fit a list row. */
        const val MAX_NAME_LENGTH = 64

        const val LINK_QUESTION = "Remember this computer?"
        const val LINK_EXPLANATION =
            "If its browser offers it, the phone remembers it: next time it can reach the phone " +
                "without a QR code. You are still asked before each sign-in."
        const val DEFAULT_NAME = "My computer"

        val NO_NAME = UserMessage(
            "Check what you entered",
            "Give the computer a name, or choose Not this time.",
            canRetry = true,
        )
        val NAME_TOO_LONG = UserMessage(
            "Check what you entered",
            "The name is longer than $MAX_NAME_LENGTH characters.",
            canRetry = true,
        )

        /** Whether the last session linked its browser; null when linking was not asked. */
        fun describeLink(ui: Ui): String? = when {
            !ui.linkAsked || ui.step != Step.Finished -> null
            ui.linked != null -> "This computer's browser is linked as ${ui.linked.name}: it is listed under Computers."
            ui.served != null -> "The browser did not offer to be remembered: nothing was linked."
            else -> null
        }

        /** "Signed in at example.com." or "Registered a passkey at example.com." */
        fun describe(served: HybridServed): String = when (served.operation) {
            HybridOperation.REGISTER -> "Registered a passkey at ${served.rpId}."
            HybridOperation.SIGN_IN -> "Signed in at ${served.rpId}."
        }

        /** One line for each step while it runs. */
        fun describe(step: Step): String = when (step) {
            Step.Idle -> "Scan the code your browser shows."
            Step.Connecting -> "Connecting…"
            Step.Advertising -> "Keep the phone near the computer: it is looking for the phone over Bluetooth."
            Step.Connected -> "Connected to the browser. Answer on the phone when asked."
            Step.Finished -> "Finished."
        }
    }
}
