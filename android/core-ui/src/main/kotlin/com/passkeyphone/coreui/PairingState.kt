// State of the paired computers screen: the computers that may reach this phone, pairing a new
// one from the QR code its pairing tool shows, and removing one.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.PairedComputer

class PairingState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<PairingState.Ui>(Ui(), dispatcher) {
    data class Ui(
        val computers: List<PairedComputer> = emptyList(),
        /** The computer paired by the last scan, for a "Paired with ..." confirmation. */
        val justPaired: PairedComputer? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() = show(call { core.pairedComputers() }.valueOrNull())

    /**
     * [qrText] is the scanned text as is; the core checks it (and its freshness) and the
     * computer's name comes with the pairing.
     */
    suspend fun pair(qrText: String) {
        state.update { it.copy(justPaired = null) }
        val computer = call { core.pair(qrText) }.valueOrNull() ?: return
        state.update { it.copy(justPaired = computer) }
        show(quietly { core.pairedComputers() })
    }

    suspend fun remove(pairingId: String) {
        if (call { core.removePairedComputer(pairingId) } is Outcome.Ok) show(quietly { core.pairedComputers() })
    }

    private fun show(list: List<PairedComputer>?) {
        if (list != null) state.update { it.copy(computers = list.sortedByDescending { c -> c.lastUsedAt }) }
    }
}
