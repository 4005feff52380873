// The process's one Authenticator and the one workspace watcher, as the app holds them: the
// core is opened off the main thread and can be opened again after a failure (a key store that
// was locked); the watcher (check_workspace long-polls) runs while anyone holds it (the screen
// while visible, the link service while it runs) and starts again after an activation.
//
// Invariants: a failed open shows the core's error as a UserMessage and keeps nothing open;
// at most one open runs at a time and an open core is never opened twice; at most one watcher
// loop runs, and none once every holder let go.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException

sealed interface CoreState {
    data object Opening : CoreState

    data class Ready(val core: Authenticator) : CoreState

    data class Failed(val message: UserMessage) : CoreState
}

class CoreHolder(
    private val scope: CoroutineScope,
    /** Authenticator.open with the platform's protector, prompts and options. */
    private val opener: () -> Authenticator,
) {
    /** Opening until the first open() ended. */
    private val state = MutableStateFlow<CoreState>(CoreState.Opening)
    val core: StateFlow<CoreState> = state.asStateFlow()
    private var opening: Job? = null

    /**
     * Opens the vault; after a failure (say, the key store was locked) it can be called again.
     * Null (nothing started) while the core is open or an open runs.
     */
    @Synchronized
    fun open(): Job? {
        if (state.value is CoreState.Ready || opening?.isActive == true) return null
        state.value = CoreState.Opening
        opening = scope.launch {
            state.value = try {
                CoreState.Ready(opener())
            } catch (e: AuthenticatorException) {
                CoreState.Failed(e.toUserMessage())
            }
        }
        return opening
    }

    /** The open Authenticator, waiting while it opens; null if opening failed. */
    suspend fun awaitCore(): Authenticator? =
        (state.first { it !is CoreState.Opening } as? CoreState.Ready)?.core
}

/** One loop ([run], the workspace watcher) shared by reference count. */
class SharedWatcher(private val scope: CoroutineScope, private val run: suspend () -> Unit) {
    private var holders = 0
    private var job: Job? = null

    /** True while the loop runs. */
    val running: Boolean
        @Synchronized get() = job?.isActive == true

    @Synchronized
    fun hold() {
        if (holders++ == 0) job = scope.launch { run() }
    }

    @Synchronized
    fun release() {
        if (holders == 0) return
        if (--holders == 0) job?.cancel().also { job = null }
    }

    /** After activation: a loop that stopped because the phone was not activated starts again. */
    @Synchronized
    fun restart() {
        if (holders == 0) return
        job?.cancel()
        job = scope.launch { run() }
    }
}
