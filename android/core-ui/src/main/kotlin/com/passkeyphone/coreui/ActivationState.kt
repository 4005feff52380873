// State of the activation screen: the administrator's link (opened from the email or pasted),
// the activation PIN the workspace sends separately, and the resulting enrollment.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.EnrollmentInfo

class ActivationState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<ActivationState.Ui>(Ui(), dispatcher) {
    enum class Step { Loading, NeedLink, NeedPin, Enrolled }

    data class Ui(
        val step: Step = Step.Loading,
        /** The workspace named by the last link that parsed, shown while activating. */
        val workspaceHost: String? = null,
        val enrollment: EnrollmentInfo? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() {
        when (val outcome = call { core.enrollment() }) {
            is Outcome.Ok -> outcome.value?.let(::show) ?: state.update { it.copy(step = Step.NeedLink) }
            is Outcome.Failed -> state.update { it.copy(step = Step.NeedLink) }
        }
    }

    /** Checks the link on the phone first, so a cut or altered link never reaches the network. */
    suspend fun activate(link: String) {
        val info = call { core.parseActivationLink(link) }.valueOrNull() ?: return
        state.update { it.copy(workspaceHost = info.workspaceHost) }
        call { core.activate(link) }.valueOrNull()?.let(::show)
    }

    suspend fun submitPin(pin: String) {
        call { core.submitActivationPin(pin) }.valueOrNull()?.let(::show)
    }

    suspend fun refresh() {
        call { core.refreshEnrollment() }.valueOrNull()?.let(::show)
    }

    private fun show(enrollment: EnrollmentInfo) = state.update {
        it.copy(step = if (enrollment.waitingForPin) Step.NeedPin else Step.Enrolled, enrollment = enrollment)
    }

    companion object {
        /** "Alice (alice@example.com) at Example Corp: active" */
        fun describe(enrollment: EnrollmentInfo): String =
            "${enrollment.userDisplayName} (${enrollment.userEmail}) at ${enrollment.workspaceName}: " +
                enrollment.status.name.lowercase()
    }
}
