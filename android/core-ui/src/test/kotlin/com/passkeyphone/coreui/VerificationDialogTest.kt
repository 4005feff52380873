// The system verification dialog's bookkeeping against the real core: a Verify prompt shows
// one dialog; its ending answers the core (success: registered; cancel or the negative button:
// denied, no attempt spent; lockout: UV_INVALID, one attempt spent; any other error or no
// screen lock: denied with no dialog); a prompt the core gives up on takes the dialog down and
// a late ending answers nothing; a dialog restored after a rotation is not shown twice.
package com.passkeyphone.coreui

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Test
import uniffi.authenticator_core.VerificationOutcome

class VerificationDialogTest {
    private companion object {
        const val CLIENT_PIN: Byte = 0x06
        const val ERROR_HW_UNAVAILABLE = 1
    }

    /** A verified makeCredential; [screen] plays the activity with the dialog. CTAP status. */
    private fun register(
        f: Fixture,
        timeoutMs: ULong = 5_000u,
        screen: (PromptBroker, Prompt) -> Unit,
    ): Int {
        val broker = PromptBroker()
        val ui = BrokeredUserInterface(broker, { true }, RecordingBoard())
        f.core.close()
        return f.open(userInterface = ui, options = Fixture.OPTIONS.copy(userActionTimeoutMs = timeoutMs)).use { core ->
            runBlocking {
                val request = async { core.handleCtap(Fixture.makeCredential("crm.example", "alice", verify = true)) }
                val prompt = withTimeout(5_000) { broker.current.filterNotNull().first() }
                screen(broker, prompt)
                request.await()[0].toInt()
            }
        }
    }

    private fun uvRetries(f: Fixture): Long = f.open().use { core ->
        val response = runBlocking { core.handleCtap(byteArrayOf(CLIENT_PIN) + Cbor.encode(mapOf(2 to 7))) }
        (CborReader(response, 1).read() as Map<*, *>)[5L] as Long
    }

    /** Shows the dialog for [prompt] and ends it with [end]. */
    private fun dialog(broker: PromptBroker, prompt: Prompt, end: (VerificationDialog) -> Unit) {
        val dialog = VerificationDialog(broker)
        val step = dialog.onPrompt(prompt) { true }
        assertSame(prompt, step.show)
        assertFalse(step.dismiss)
        assertEquals(prompt.id, dialog.verifying)
        assertNull("one dialog per prompt", dialog.onPrompt(prompt) { true }.show)
        end(dialog)
        assertNull(dialog.verifying)
    }

    @Test
    fun successRegisters() = Fixture().use { f ->
        assertEquals("CTAP2_OK", 0, register(f) { b, p -> dialog(b, p) { it.onSucceeded() } })
        assertEquals(1, f.open().use { it.passkeys().size })
    }

    @Test
    fun cancelsAndTheNegativeButtonDenyWithoutSpendingAnAttempt() = Fixture().use { f ->
        for (code in listOf(
            VerificationDialog.ERROR_NEGATIVE_BUTTON,
            VerificationDialog.ERROR_USER_CANCELED,
            VerificationDialog.ERROR_CANCELED,
        )) {
            val status = register(f) { b, p -> dialog(b, p) { it.onError(code, "Cancelled") } }
            assertEquals("code $code: CTAP2_ERR_OPERATION_DENIED", 0x27, status)
        }
        assertEquals(8L, uvRetries(f))
        assertEquals(0, f.open().use { it.passkeys().size })
    }

    @Test
    fun aLockoutIsAFailedVerification() = Fixture().use { f ->
        for ((code, retries) in listOf(VerificationDialog.ERROR_LOCKOUT to 7L, VerificationDialog.ERROR_LOCKOUT_PERMANENT to 6L)) {
            val status = register(f) { b, p -> dialog(b, p) { it.onError(code, "Too many attempts") } }
            assertEquals("code $code: CTAP2_ERR_UV_INVALID", 0x3F, status)
            assertEquals(retries, uvRetries(f))
        }
    }

    @Test
    fun anyOtherErrorIsUnavailable() = Fixture().use { f ->
        val status = register(f) { b, p -> dialog(b, p) { it.onError(ERROR_HW_UNAVAILABLE, "Hardware unavailable") } }
        assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, status)
        assertEquals(8L, uvRetries(f))
    }

    @Test
    fun noScreenLockDeniesWithoutADialog() = Fixture().use { f ->
        val status = register(f) { broker, prompt ->
            val dialog = VerificationDialog(broker)
            assertEquals(VerificationDialog.Step(dismiss = false, show = null), dialog.onPrompt(prompt) { false })
            assertNull(dialog.verifying)
        }
        assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, status)
    }

    @Test
    fun aPromptTheCoreGivesUpOnTakesTheDialogDown() = Fixture().use { f ->
        val status = register(f, timeoutMs = 300u) { broker, prompt ->
            val dialog = VerificationDialog(broker)
            assertSame(prompt, dialog.onPrompt(prompt) { true }.show)
            runBlocking { withTimeout(5_000) { broker.current.first { it == null } } }
            assertEquals(VerificationDialog.Step(dismiss = true, show = null), dialog.onPrompt(null) { true })
            assertNull(dialog.verifying)
            dialog.onSucceeded() // the dialog's late success: nothing is waiting for it
            assertFalse(broker.answerVerification(prompt.id, VerificationOutcome.VERIFIED))
        }
        assertEquals("CTAP2_ERR_USER_ACTION_TIMEOUT", 0x2F, status)
        assertEquals(0, f.open().use { it.passkeys().size })
    }

    @Test
    fun aRestoredDialogIsNotShownTwice() = Fixture().use { f ->
        val status = register(f) { broker, prompt ->
            val restored = VerificationDialog(broker, restored = prompt.id)
            assertEquals(VerificationDialog.Step(dismiss = false, show = null), restored.onPrompt(prompt) { true })
            restored.onSucceeded()
        }
        assertEquals("CTAP2_OK", 0, status)
    }

    @Test
    fun strongBiometricsWithTheScreenLockFromAndroid11() {
        assertEquals(0x800F, VerificationDialog.allowedAuthenticators(30))
        assertEquals(0x800F, VerificationDialog.allowedAuthenticators(35))
        assertEquals(0x80FF, VerificationDialog.allowedAuthenticators(29))
    }
}
