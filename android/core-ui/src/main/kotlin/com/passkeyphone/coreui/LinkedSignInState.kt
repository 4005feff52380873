// "Sign in from this computer" on a linked browser's row: the phone waits for that browser to
// call (the core's `serveLinkedBrowser`: up to a minute at the tunnel server, then the same
// session as a QR code's), shows that it waits and then the advert's steps, offers Cancel
// (`cancelHybrid`), and ends with the QR flow's outcome texts (HybridState.describe) or the
// core's error; a link removed meanwhile is said as LinkedBrowsersState.NOT_LINKED. Afterwards
// the list is read again, so the row's "last used" shows this reconnect.
//
// There is no push wake: the browser can reach the phone only while this waits, so the user
// starts it on the phone, then signs in on the computer.
//
// Invariants: one session at a time. A second sign-in from this holder while one runs does
// nothing (the screen hides the buttons then); a QR session and a linked one exclude each other
// in the core, whose InvalidState error is shown by the one that came second, and neither
// changes the other's state. Cancel only acts while this holder's session runs, so it never
// ends a QR session, and it is never lost: `cancelHybrid` ends a session the core holds, and
// the call itself is cancelled too, in case the tap came before the core took the session
// (uniffi then drops the core's future, which ends it). The link's id goes to the core only,
// never to a log.
package com.passkeyphone.coreui

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.async
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.supervisorScope
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.HybridAdvertiser
import uniffi.authenticator_core.HybridServed
import uniffi.authenticator_core.LinkedBrowser

class LinkedSignInState(
    private val core: Authenticator,
    advertiser: HybridAdvertiser,
    /** The list whose rows carry the button; read again after each session. */
    private val list: LinkedBrowsersState,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<LinkedSignInState.Ui>(Ui(), dispatcher) {
    enum class Step {
        /** Nothing runs. */
        Idle,

        /** At the tunnel server, until the linked browser calls. */
        Waiting,

        /** The browser called; the advert runs until it proves it is near and joins. */
        Advertising,

        /** The browser joined; its request and the user's answer follow. */
        Connected,

        /** Ended: see [Ui.served] or [Ui.error]. */
        Finished,
    }

    data class Ui(
        val step: Step = Step.Idle,
        /** The browser waited for (or served last): the row that shows the progress. */
        val browser: LinkedBrowser? = null,
        /** What the last session served, for "Signed in at example.com." */
        val served: HybridServed? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    ) {
        /** A session runs: the row shows its progress and Cancel, no other row its button. */
        val running: Boolean get() = step != Step.Idle && step != Step.Finished
    }

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    private val observed = ReportingAdvertiser(
        advertiser,
        onStarted = { state.update { if (it.step == Step.Waiting) it.copy(step = Step.Advertising) else it } },
        onStopped = { state.update { if (it.step == Step.Advertising) it.copy(step = Step.Connected) else it } },
    )

    /** One tap of the button: its core call, and whether Cancel was tapped for it. */
    private class Attempt {
        @Volatile var call: Job? = null
        @Volatile var cancelled = false
    }

    private val lock = Any()

    /** The last attempt started (guarded by [lock]); it is the running one while [Ui.running]. */
    private var current: Attempt? = null

    /** Waits for [browser] to call and serves it; suspends until the session ends. */
    suspend fun signIn(browser: LinkedBrowser) {
        val attempt = synchronized(lock) {
            if (state.value.running) return
            state.update { Ui(step = Step.Waiting, browser = browser) }
            Attempt().also { current = it }
        }
        val outcome = call {
            supervisorScope {
                val call = async { core.serveLinkedBrowser(browser.id, observed) }
                attempt.call = call
                // Set before the flag is read, as cancel() sets the flag before reading the
                // call: a tap at any moment is seen by one of the two.
                if (attempt.cancelled) call.cancel()
                try {
                    call.await()
                } catch (e: CancellationException) {
                    ensureActive() // the caller's own cancellation goes on up
                    throw AuthenticatorException.Cancelled(CANCELLED)
                }
            }
        }
        // Read whatever the outcome: a handshake that succeeded set "last used", even if the
        // user then declined.
        list.load()
        val key = LinkedBrowsersState.key(browser)
        val gone = outcome is Outcome.Failed && outcome.error is AuthenticatorException.InvalidInput &&
            list.ui.value.loaded && list.ui.value.browsers.none { LinkedBrowsersState.key(it) == key }
        if (gone) reject(LinkedBrowsersState.NOT_LINKED)
        state.update { it.copy(step = Step.Finished, served = outcome.valueOrNull()) }
    }

    /** Ends this holder's waiting or running session; it ends with the Cancelled text. */
    fun cancel() {
        val attempt = synchronized(lock) { current.takeIf { state.value.running } } ?: return
        attempt.cancelled = true
        core.cancelHybrid()
        attempt.call?.cancel()
    }

    /** Back to Idle after the user read the outcome. */
    fun reset() = state.update { if (it.running) it else Ui() }

    companion object {
        const val SIGN_IN = "Sign in from this computer"

        /** The core's own reason for a cancelled session, for a call cancelled before it got there. */
        private const val CANCELLED = "the session was cancelled"

        /** One line for each step while it runs; [name] is the browser's. */
        fun describe(step: Step, name: String): String = when (step) {
            Step.Idle -> "Tap $SIGN_IN, then start signing in on $name."
            Step.Waiting ->
                "Waiting for $name (up to a minute): in its browser, start signing in and choose this phone."
            Step.Advertising -> HybridState.describe(HybridState.Step.Advertising)
            Step.Connected -> HybridState.describe(HybridState.Step.Connected)
            Step.Finished -> HybridState.describe(HybridState.Step.Finished)
        }
    }
}
