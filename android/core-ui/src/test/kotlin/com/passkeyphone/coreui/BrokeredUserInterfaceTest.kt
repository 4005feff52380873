// The app's UserInterface against the real core: with the app off screen a waiting prompt puts
// "Your computer is asking" with the core's question on the shade, and the notice goes when
// the prompt ends (answered, or timed out by the core); on screen there is no notice; the
// core's notices reach the board in words.
package com.passkeyphone.coreui

import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AccountOption

class BrokeredUserInterfaceTest {
    private class Run(val status: Int, val waitingWhileAsked: Notice?, val board: RecordingBoard)

    /** A makeCredential through BrokeredUserInterface; [answer] plays the screen (null: nobody). */
    private fun register(
        visible: Boolean,
        timeoutMs: ULong = 5_000u,
        answer: ((PromptBroker, Prompt) -> Unit)?,
    ): Run = Fixture().use { f ->
        val broker = PromptBroker()
        val board = RecordingBoard()
        f.core.close()
        val options = Fixture.OPTIONS.copy(userActionTimeoutMs = timeoutMs)
        f.open(userInterface = BrokeredUserInterface(broker, { visible }, board), options = options).use { core ->
            runBlocking {
                val request = async { core.handleCtap(Fixture.makeCredential("crm.example", "alice", verify = false)) }
                val prompt = withTimeout(5_000) { broker.current.filterNotNull().first() }
                val waiting = board.promptWaiting
                answer?.invoke(broker, prompt)
                Run(request.await()[0].toInt(), waiting, board)
            }
        }
    }

    @Test
    fun offScreenAPromptIsNotifiedUntilAnswered() {
        val run = register(visible = false) { broker, prompt -> assertTrue(broker.answer(prompt.id, true)) }
        assertEquals("CTAP2_OK", 0, run.status)
        assertEquals(Notice("Your computer is asking", "Create a passkey for crm.example as alice?"), run.waitingWhileAsked)
        assertNull("the notice goes with the answer", run.board.promptWaiting)
        assertEquals(
            listOf(
                "prompt Your computer is asking: Create a passkey for crm.example as alice?",
                "cancel prompt",
                "event Passkey Phone: New passkey for alice at crm.example",
            ),
            run.board.calls,
        )
    }

    @Test
    fun aPromptTheCoreTimesOutTakesItsNoticeAlong() {
        val run = register(visible = false, timeoutMs = 300u, answer = null)
        assertEquals("CTAP2_ERR_USER_ACTION_TIMEOUT", 0x2F, run.status)
        assertEquals("Create a passkey for crm.example as alice?", run.waitingWhileAsked?.text)
        // The core's cancel reaches the waiting coroutine asynchronously (uniffi cancels its job).
        runBlocking { withTimeout(5_000) { while (run.board.promptWaiting != null) delay(10) } }
        assertNull(run.board.promptWaiting)
        assertEquals(
            listOf("prompt Your computer is asking: Create a passkey for crm.example as alice?", "cancel prompt"),
            run.board.calls,
        )
    }

    @Test
    fun onScreenThereIsNoNotice() {
        val run = register(visible = true) { broker, prompt -> assertTrue(broker.answer(prompt.id, false)) }
        assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, run.status)
        assertNull(run.waitingWhileAsked)
        assertEquals(listOf("cancel prompt"), run.board.calls)
    }

    @Test
    fun anAccountChoiceOffScreenNamesTheSite() = runBlocking {
        val broker = PromptBroker()
        val board = RecordingBoard()
        val ui = BrokeredUserInterface(broker, { false }, board)
        val accounts = listOf(AccountOption("alice", null, 1u), AccountOption("bob", null, 2u))
        val choice = async { ui.chooseAccount("crm.example", accounts) }
        val prompt = withTimeout(5_000) { broker.current.filterNotNull().first() }
        assertEquals(Notice("Your computer is asking", "Choose an account for crm.example"), board.promptWaiting)
        assertTrue(broker.answerAccount(prompt.id, 1u))
        assertEquals(1u, choice.await())
        assertNull(board.promptWaiting)
    }
}
