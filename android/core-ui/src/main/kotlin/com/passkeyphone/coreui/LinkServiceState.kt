// The link service's state as its foreground service shows it: starting, waiting for the
// paired computers (over the relay, and Bluetooth when allowed), connected to one, or failed to
// start; each change is one line of the service's ongoing notification. It starts and stops
// the core's service (`startLinkService`, `stopLinkService`) and is the core's LinkObserver.
//
// Invariants: a start the core refuses (already running, a library without Bluetooth, not
// open) is Failed with the core's reason as a sentence, and the core runs nothing; events
// arrive on the core's threads, so every change is one atomic update of the state, and one
// arriving after a stop posts nothing (a notification outliving its service). A paired
// computer in bad faith can only pick its own name, which the lines show as given.
package com.passkeyphone.coreui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.updateAndGet
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.LinkObserver
import uniffi.authenticator_core.LinkServiceEvent

class LinkServiceState(
    private val core: Authenticator,
    /** Called with the ongoing notification's new words after each change. */
    private val show: (Notice) -> Unit,
) : LinkObserver {
    enum class Phase { Stopped, Waiting, Connected, Failed }

    data class Ui(val phase: Phase = Phase.Stopped, val text: String = STOPPED, val useBle: Boolean = false)

    private val state = MutableStateFlow(Ui())
    val ui: StateFlow<Ui> = state.asStateFlow()

    /**
     * Starts the core's service; false (and Failed, with the core's reason) if it refused. The
     * state is Waiting before the core is called: its first event can come before it returns.
     */
    fun start(useBle: Boolean): Boolean {
        state.value = Ui(Phase.Waiting, waiting(useBle), useBle)
        try {
            core.startLinkService(useBle, this)
        } catch (e: AuthenticatorException) {
            change { Ui(Phase.Failed, e.toUserMessage().detail, useBle) }
            return false
        }
        show(Notices.link(state.value.text))
        return true
    }

    /** Ends the core's service; nothing is shown (the ongoing notification goes with the service). */
    fun stop() {
        core.stopLinkService()
        state.value = Ui()
    }

    /** An event after a stop or a failed start (a late one from the core's threads) shows nothing. */
    override fun onLinkEvent(event: LinkServiceEvent) {
        var live = false
        val ui = state.updateAndGet { ui ->
            live = ui.phase == Phase.Waiting || ui.phase == Phase.Connected
            if (!live) return@updateAndGet ui
            val phase = when (event) {
                is LinkServiceEvent.Connected, is LinkServiceEvent.Served -> Phase.Connected
                is LinkServiceEvent.Ended -> Phase.Waiting
                else -> ui.phase
            }
            ui.copy(phase = phase, text = describe(event))
        }
        if (live) show(Notices.link(ui.text))
    }

    private fun change(next: (Ui) -> Ui) = show(Notices.link(state.updateAndGet(next).text))

    companion object {
        /** The ongoing notification's line until the core answers (Android wants one at once). */
        const val STARTING = "Starting…"
        const val STOPPED = "Stopped"

        /** Right after a start: which ways the computers can reach the phone. */
        fun waiting(useBle: Boolean): String =
            if (useBle) "Waiting for your computers (relay and Bluetooth)" else "Waiting for your computers (relay)"

        /** One line for each event of the core's service. */
        fun describe(event: LinkServiceEvent): String = when (event) {
            is LinkServiceEvent.Connected -> "Connected to ${event.computer} (${event.transport})"
            is LinkServiceEvent.Served -> "Answered ${event.computer}"
            is LinkServiceEvent.Ended -> "Waiting for your computers"
            is LinkServiceEvent.Refused -> "Refused a connection: ${asSentence(event.reason)}"
            is LinkServiceEvent.RelayTrouble -> "Relay unreachable, retrying: ${asSentence(event.reason)}"
            is LinkServiceEvent.BluetoothUnavailable -> "Bluetooth off, using the relay: ${asSentence(event.reason)}"
        }
    }
}
