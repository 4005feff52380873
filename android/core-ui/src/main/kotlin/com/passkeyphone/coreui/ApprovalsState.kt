// State of the approvals screen: administrators' requests to register passkeys on the user's
// behalf (OBR), and the user's decision on one (approving asks for user verification first).
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.ApprovalOutcome
import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.WorkspaceUpdate

class ApprovalsState(
    private val core: Authenticator,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<ApprovalsState.Ui>(Ui(), dispatcher) {
    data class Ui(
        val pending: List<ApprovalRequest> = emptyList(),
        /** What the last decision led to, for a summary ("registered at crm.example"). */
        val lastOutcome: ApprovalOutcome? = null,
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() = show(call { core.pendingApprovals() }.valueOrNull())

    /** Suspends for the whole session when approving: verification, then the admin's tool. */
    suspend fun decide(approvalId: String, approve: Boolean) {
        state.update { it.copy(lastOutcome = null) }
        val outcome = call { core.decideApproval(approvalId, approve) }.valueOrNull()
        if (outcome != null) state.update { it.copy(lastOutcome = outcome) }
        // Decided, expired or stopped meanwhile: the list changed either way.
        show(quietly { core.pendingApprovals() })
    }

    private fun show(list: List<ApprovalRequest>?) {
        if (list != null) state.update { it.copy(pending = list.sortedBy { a -> a.expiresAt }) }
    }

    /** Applies what a workspace check brought without another round trip. */
    fun apply(update: WorkspaceUpdate) = state.update { ui ->
        val stopped = update.stoppedApprovals.toSet() + update.refusedApprovals.map { it.approvalId }
        val known = ui.pending.map { it.id }.toSet()
        val merged = ui.pending + update.newApprovals.filter { it.id !in known }
        ui.copy(pending = merged.filter { it.id !in stopped }.sortedBy { it.expiresAt })
    }

    companion object {
        /** The list as shown: the request a notification pointed at ([focused]) first. */
        fun ordered(pending: List<ApprovalRequest>, focused: String?): List<ApprovalRequest> =
            pending.sortedByDescending { it.id == focused }

        /** What the last decision led to, in one line. */
        fun describe(outcome: ApprovalOutcome): String = when {
            outcome.refused != null -> "Declined (${outcome.refused})."
            outcome.registeredRpIds.isEmpty() -> "Approved; nothing was registered (${outcome.ended})."
            else -> "Registered at ${outcome.registeredRpIds.joinToString(", ")}."
        }

        /** One line for a request: who asks, for which sites, how many passkeys at most. */
        fun summary(request: ApprovalRequest): String {
            val count = request.maxRegistrations.toInt()
            val passkeys = if (count == 1) "1 passkey" else "$count passkeys"
            return "${request.adminName} (${request.workspaceName}) asks to register $passkeys for you " +
                "at ${request.rpIds.joinToString(", ")}."
        }
    }
}
