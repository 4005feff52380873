// State of the hybrid screen: the phone serving a browser that shows a `FIDO:/` code (CTAP 2.2
// hybrid, "use a phone"). The core does the whole session (`serveHybrid`); this holder shows
// where it is, from what the core asks of the advertiser (connecting, then advertising until
// the browser joins, then the request), and how it ended: registered or signed in at the site,
// or the core's error in words. Cancel asks the core to end the session (`cancelHybrid`).
//
// Invariants: one session at a time (a second serve while one runs is the core's InvalidState
// error, shown); the QR text is passed on, never kept in the state or logged.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.HybridAdvertiser
import uniffi.authenticator_core.HybridOperation
import uniffi.authenticator_core.HybridServed

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

    data class Ui(
        val step: Step = Step.Idle,
        /** What the last session served, for "Signed in at example.com". */
        val served: HybridServed? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    ) {
        /** A session runs: the screen shows its progress and Cancel. */
        val running: Boolean get() = step != Step.Idle && step != Step.Finished
    }

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    /** Reports the advert's start and stop to the screen, then does what [advertiser] does. */
    private val observed = object : HybridAdvertiser {
        override fun startAdvertising(serviceUuid16: UShort, serviceData: ByteArray) {
            advertiser.startAdvertising(serviceUuid16, serviceData)
            state.update { if (it.step == Step.Connecting) it.copy(step = Step.Advertising) else it }
        }

        override fun stopAdvertising() {
            advertiser.stopAdvertising()
            state.update { if (it.step == Step.Advertising) it.copy(step = Step.Connected) else it }
        }
    }

    /** Serves the browser whose code is [qrText]; suspends until the session ends. */
    suspend fun serve(qrText: String) {
        state.update { it.copy(step = Step.Connecting, served = null) }
        val served = call { core.serveHybrid(qrText, observed) }.valueOrNull()
        state.update { it.copy(step = Step.Finished, served = served) }
    }

    /** A scanned `FIDO:/` text that cannot be a browser's code: shown without calling the core. */
    fun rejectScan(message: UserMessage) {
        state.update { it.copy(step = Step.Finished, served = null) }
        reject(message)
    }

    /** Ends the running session (its advert stops; [serve] ends with the core's Cancelled). */
    fun cancel() = core.cancelHybrid()

    /** Back to Idle after the user read the outcome. */
    fun reset() = state.update { Ui() }

    companion object {
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
