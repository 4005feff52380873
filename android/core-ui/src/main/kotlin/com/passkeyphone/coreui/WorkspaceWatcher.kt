// The loop that keeps the phone in touch with its workspace: long-polls check_workspace, hands
// each update on (new approvals, status changes), and backs off while the network is down.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.WorkspaceUpdate

class WorkspaceWatcher(
    private val core: Authenticator,
    private val waitSeconds: UInt = 20u,
    private val firstRetryMillis: Long = 2_000,
    private val maxRetryMillis: Long = 300_000,
    private val dispatcher: CoroutineDispatcher = Dispatchers.IO,
) {
    /**
     * Runs until cancelled or until an error that waiting cannot fix (not activated, key lost,
     * refused); returns that error. Network trouble and a locked key are retried with backoff.
     */
    suspend fun watch(onUpdate: suspend (WorkspaceUpdate) -> Unit): AuthenticatorException {
        var retry = firstRetryMillis
        while (true) {
            when (val outcome = coreCall(dispatcher) { core.checkWorkspace(waitSeconds) }) {
                is Outcome.Ok -> {
                    retry = firstRetryMillis
                    onUpdate(outcome.value)
                }
                is Outcome.Failed -> {
                    if (!isTransient(outcome.error)) return outcome.error
                    delay(retry)
                    retry = (retry * 2).coerceAtMost(maxRetryMillis)
                }
            }
        }
    }

    companion object {
        fun isTransient(error: AuthenticatorException): Boolean = when (error) {
            is AuthenticatorException.Network,
            is AuthenticatorException.KeyTemporarilyUnavailable,
            is AuthenticatorException.Storage,
            is AuthenticatorException.Internal -> true
            else -> false
        }
    }
}
