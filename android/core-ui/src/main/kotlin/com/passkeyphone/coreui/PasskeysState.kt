// State of the passkeys screen: the list of passkeys in the vault, renaming one (the user's own
// label) and deleting one.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.Passkey

class PasskeysState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<PasskeysState.Ui>(Ui(), dispatcher) {
    data class Ui(
        val passkeys: List<Passkey> = emptyList(),
        val loaded: Boolean = false,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() = show(call { core.passkeys() }.valueOrNull())

    suspend fun rename(passkeyId: String, name: String) {
        if (call { core.renamePasskey(passkeyId, name.trim()) } is Outcome.Ok) show(quietly { core.passkeys() })
    }

    suspend fun delete(passkeyId: String) {
        if (call { core.deletePasskey(passkeyId) } is Outcome.Ok) show(quietly { core.passkeys() })
    }

    private fun show(list: List<Passkey>?) {
        if (list != null) state.update { it.copy(passkeys = list.sortedBy { p -> label(p).lowercase() }, loaded = true) }
    }

    companion object {
        /** The line a list shows first: the user's label, else the account, else the site. */
        fun label(passkey: Passkey): String =
            listOfNotNull(passkey.name, passkey.userDisplayName, passkey.userName)
                .firstOrNull { it.isNotBlank() } ?: passkey.rpId

        /** The second line: the site, and the account when the label is the user's own. */
        fun subtitle(passkey: Passkey): String {
            val account = passkey.userName ?: passkey.userDisplayName
            return if (passkey.name.isNullOrBlank() || account == null) passkey.rpId else "$account · ${passkey.rpId}"
        }
    }
}
