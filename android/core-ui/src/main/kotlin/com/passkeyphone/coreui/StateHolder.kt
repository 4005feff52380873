// The common shape of every screen's state holder: one immutable UI state in a StateFlow, a busy
// flag while the core works, and the last error as a UserMessage.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update

abstract class StateHolder<U : Any>(initial: U, protected val dispatcher: CoroutineDispatcher) {
    protected val state = MutableStateFlow(initial)
    val ui: StateFlow<U> = state.asStateFlow()

    /** A copy of this state with the busy flag and the error line replaced. */
    protected abstract fun U.withStatus(busy: Boolean, error: UserMessage?): U

    fun dismissError() = state.update { it.withStatus(busy = false, error = null) }

    /** One core call: busy while it runs, its error (if any) shown afterwards. */
    protected suspend fun <T> call(block: suspend () -> T): Outcome<T> {
        state.update { it.withStatus(busy = true, error = null) }
        val outcome = coreCall(dispatcher, block)
        val error = (outcome as? Outcome.Failed)?.message
        state.update { it.withStatus(busy = false, error = error) }
        return outcome
    }

    /** A follow-up read (a list after a change) that leaves the busy flag and error line alone. */
    protected suspend fun <T> quietly(block: suspend () -> T): T? = coreCall(dispatcher, block).valueOrNull()

    /** Shows a problem found before calling the core (two PINs that differ, an empty name). */
    protected fun reject(message: UserMessage) = state.update { it.withStatus(busy = false, error = message) }
}

/** The value of a successful call, or null after a failure (already shown). */
fun <T> Outcome<T>.valueOrNull(): T? = (this as? Outcome.Ok)?.value
