// State of the linked browsers list: the browsers this phone remembers after a hybrid sign-in
// the user agreed to link (state-assisted hybrid: they can reach the phone again without a QR
// code), each with the name the user gave it and when it was linked and last used, as the core
// reports them; removing one once the user has confirmed; the list read again after a sign-in
// linked a new one (AppFlow).
//
// Invariants: a browser is unlinked only by confirmRemove() after askRemove() named it, and
// only that one; a link's id is used as a key and passed back to the core, never shown or
// logged.
package com.passkeyphone.coreui

import java.text.DateFormat
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.getAndUpdate
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.LinkedBrowser

class LinkedBrowsersState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<LinkedBrowsersState.Ui>(Ui(), dispatcher) {
    data class Ui(
        /** Most recently used first, as the core lists them. */
        val browsers: List<LinkedBrowser> = emptyList(),
        val loaded: Boolean = false,
        /** The browser the user asked to remove: the screen shows the confirmation. */
        val confirming: LinkedBrowser? = null,
        /** The name of the browser removed last, for a "Removed ..." line. */
        val removed: String? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() = show(call { core.linkedBrowsers() }.valueOrNull())

    /** The user tapped Remove: nothing changes until [confirmRemove]. */
    fun askRemove(browser: LinkedBrowser) = state.update { it.copy(confirming = browser, removed = null) }

    fun cancelRemove() = state.update { it.copy(confirming = null) }

    /** Unlinks the browser [askRemove] named; one already gone is said as Not found. */
    suspend fun confirmRemove() {
        val browser = state.getAndUpdate { it.copy(confirming = null) }.confirming ?: return
        when (val outcome = call { core.unlinkBrowser(browser.id) }) {
            is Outcome.Ok -> if (outcome.value) state.update { it.copy(removed = browser.name) } else reject(NOT_LINKED)
            is Outcome.Failed -> Unit
        }
        show(quietly { core.linkedBrowsers() })
    }

    private fun show(list: List<LinkedBrowser>?) {
        if (list != null) state.update { it.copy(browsers = list, loaded = true) }
    }

    companion object {
        val NOT_LINKED = UserMessage("Not found", "This browser is no longer linked to the phone.", canRetry = false)

        const val EMPTY =
            "No browser is linked. When you sign in with \"use a phone\" and let the phone remember " +
                "the computer, its browser is listed here."

        const val CONFIRM_TEXT =
            "Its browser will no longer reach this phone without a QR code. To sign in there again, " +
                "scan the code it shows."

        fun confirmTitle(browser: LinkedBrowser) = "Remove ${browser.name}?"

        fun removed(name: String) = "Removed $name."

        /** "Linked 6 Dec 2026, 14:31 · last used 7 Dec 2026, 09:02" (no second part before a reuse). */
        fun whenUsed(
            browser: LinkedBrowser,
            format: DateFormat = DateFormat.getDateTimeInstance(DateFormat.MEDIUM, DateFormat.SHORT),
        ): String {
            val linked = "Linked ${formatTime(browser.linkedAt, format)}"
            if (browser.lastUsedAt <= browser.linkedAt) return linked
            return "$linked · last used ${formatTime(browser.lastUsedAt, format)}"
        }

        /** A stable key for a list row (the link's id in hex). */
        fun key(browser: LinkedBrowser): String = browser.id.joinToString("") { "%02x".format(it) }
    }
}
