// The core's idle upkeep (Authenticator.runIdleMaintenance: the vault's WAL checkpoint, its
// whole-file check once per open, queued OBR receipts) run when the app goes to the background:
// debounced (a new request to run within [delayMs] replaces the waiting one), never two runs at
// once, and the outcome kept for the screen, the core's error as a UserMessage like every other
// core call (VaultUnreadable: "Your passkeys cannot be opened").
//
// Invariants: a run that started is never cancelled by a later schedule() (the core's call
// finishes; the next run waits for it); nothing runs while the core is not open (the runner
// returns null, and no outcome is recorded).
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import uniffi.authenticator_core.IdleMaintenance

class IdleUpkeep(
    private val scope: CoroutineScope,
    /** The core's runIdleMaintenance on the open core; null while none is open. */
    private val run: suspend () -> IdleMaintenance?,
    private val delayMs: Long = DEBOUNCE_MS,
    private val dispatcher: CoroutineDispatcher = Dispatchers.IO,
) {
    private val last = MutableStateFlow<Outcome<IdleMaintenance>?>(null)

    /** The last run's outcome; null before the first run. */
    val outcome: StateFlow<Outcome<IdleMaintenance>?> = last.asStateFlow()
    private val running = Mutex()
    private var waiting: Job? = null

    /** Runs the upkeep after [delayMs] unless schedule() is called again meanwhile. */
    @Synchronized
    fun schedule(): Job {
        waiting?.cancel()
        val job = scope.launch(start = CoroutineStart.LAZY) {
            delay(delayMs)
            if (claim(coroutineContext[Job])) runOnce()
        }
        waiting = job
        job.start()
        return job
    }

    /** The waiting job becomes the running one: a later schedule() no longer cancels it. */
    @Synchronized
    private fun claim(job: Job?): Boolean {
        if (waiting !== job) return false
        waiting = null
        return true
    }

    private suspend fun runOnce() = running.withLock {
        when (val done = coreCall(dispatcher) { run() }) {
            is Outcome.Ok -> done.value?.let { last.value = Outcome.Ok(it) }
            is Outcome.Failed -> last.value = done
        }
    }

    companion object {
        /** Quiet time after the last trigger (the app left the screen, a prompt ended). */
        const val DEBOUNCE_MS = 2_000L
    }
}
