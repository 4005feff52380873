// The prompt queue between the core and the screen, driven by real CTAP requests: the core's
// presence prompt waits until the screen answers, a decline denies, and a prompt the core gives
// up on (timeout) leaves the queue.
package com.passkeyphone.coreui

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.PresencePrompt
import uniffi.authenticator_core.PromptScope
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.UserInterface
import uniffi.authenticator_core.UserOperation
import uniffi.authenticator_core.VerificationOutcome

class PromptBrokerTest {
    private companion object {
        const val CLIENT_PIN: Byte = 0x06
    }

    /** What the app's UserInterface does, minus Android: every question goes to the broker. */
    private class BrokeredUserInterface(val broker: PromptBroker) : UserInterface {
        override suspend fun confirmPresence(prompt: PresencePrompt) = broker.confirmPresence(prompt)
        override suspend fun verifyUser(prompt: PresencePrompt) = broker.verifyUser(prompt)
        override suspend fun chooseAccount(rpId: String, accounts: List<AccountOption>) =
            broker.chooseAccount(rpId, accounts)
        override fun notify(event: UserEvent) = Unit
    }

    /** Sends a makeCredential; [answer] plays the screen (null: nobody answers). Status, prompt. */
    private fun register(
        f: Fixture,
        broker: PromptBroker,
        verify: Boolean = false,
        timeoutMs: ULong = 5_000u,
        answer: ((Prompt) -> Unit)?,
    ): Pair<Int, Prompt> {
        val options = Fixture.OPTIONS.copy(userActionTimeoutMs = timeoutMs)
        f.core.close()
        return f.open(userInterface = BrokeredUserInterface(broker), options = options).use { core ->
            runBlocking {
                val request = async { core.handleCtap(Fixture.makeCredential("crm.example", "alice", verify)) }
                val prompt = withTimeout(5_000) { broker.current.filterNotNull().first() }
                answer?.invoke(prompt)
                request.await()[0].toInt() to prompt
            }
        }
    }

    @Test
    fun theCoreWaitsForTheAnswer() = Fixture().use { f ->
        val broker = PromptBroker()
        val (status, prompt) = register(f, broker) { assertTrue(broker.answer(it.id, true)) }
        assertEquals("CTAP2_OK", 0, status)
        prompt as Prompt.Presence
        assertEquals(UserOperation.REGISTER, prompt.prompt.operation)
        assertEquals("crm.example", prompt.prompt.rpId)
        assertEquals("Create a passkey for crm.example as alice?", prompt.prompt.message)
        assertEquals(1, f.open().use { it.passkeys().size })
        assertNull("answered prompts leave the queue", broker.current.value)
        assertFalse("an answer counts once", broker.answer(prompt.id, true))
    }

    @Test
    fun aDeclineDenies() = Fixture().use { f ->
        val broker = PromptBroker()
        val (status, _) = register(f, broker) { assertTrue(broker.answer(it.id, false)) }
        assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, status)
        assertEquals(0, f.open().use { it.passkeys().size })
    }

    /** clientPIN getUVRetries on a core opened on the fixture's folder. */
    private fun uvRetries(f: Fixture): Long = f.open().use { core ->
        val request = byteArrayOf(CLIENT_PIN) + Cbor.encode(mapOf(2 to 7))
        val response = runBlocking { core.handleCtap(request) }
        assertEquals("CTAP2_OK", 0, response[0].toInt())
        (CborReader(response, 1).read() as Map<*, *>)[5L] as Long
    }

    @Test
    fun aDeclinedVerificationIsDeniedAndCostsNoAttempt() = Fixture().use { f ->
        val broker = PromptBroker()
        repeat(10) {
            val (status, prompt) = register(f, broker, verify = true) {
                assertFalse("a verification is not a yes/no", broker.answer(it.id, false))
                assertTrue(broker.answerVerification(it.id, VerificationOutcome.DECLINED))
            }
            assertTrue("$prompt", prompt is Prompt.Verify)
            assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, status)
        }
        assertEquals(8L, uvRetries(f))
        assertEquals(0, f.open().use { it.passkeys().size })
    }

    @Test
    fun aFailedVerificationSpendsAnAttempt() = Fixture().use { f ->
        val broker = PromptBroker()
        val (status, _) = register(f, broker, verify = true) {
            assertTrue(broker.answerVerification(it.id, VerificationOutcome.FAILED))
        }
        assertEquals("CTAP2_ERR_UV_INVALID", 0x3F, status)
        assertEquals(7L, uvRetries(f))
        val (verified, _) = register(f, broker, verify = true) {
            assertTrue(broker.answerVerification(it.id, VerificationOutcome.VERIFIED))
        }
        assertEquals("CTAP2_OK", 0, verified)
        assertEquals("a success restores the attempts", 8L, uvRetries(f))
    }

    @Test
    fun declineAllDeclinesAVerification() = runBlocking {
        val broker = PromptBroker()
        val prompt = PresencePrompt(UserOperation.SIGN_IN, "crm.example", null, listOf(PromptScope.SIGN_IN), "Sign in to crm.example?")
        val answer = async { broker.verifyUser(prompt) }
        withTimeout(5_000) { broker.current.filterNotNull().first() }
        broker.declineAll()
        assertEquals(VerificationOutcome.DECLINED, answer.await())
    }

    @Test
    fun aScreenThatCannotVerifyDenies() = Fixture().use { f ->
        val broker = PromptBroker()
        val (status, prompt) = register(f, broker, verify = true) {
            assertTrue(broker.unavailable(it.id, "no screen lock is set"))
        }
        assertTrue("$prompt", prompt is Prompt.Verify)
        assertEquals("CTAP2_ERR_OPERATION_DENIED", 0x27, status)
        assertNull(broker.current.value)
    }

    @Test
    fun aPromptTheCoreGivesUpOnLeavesTheQueue() = Fixture().use { f ->
        val broker = PromptBroker()
        val (status, prompt) = register(f, broker, timeoutMs = 300u, answer = null)
        assertEquals("CTAP2_ERR_USER_ACTION_TIMEOUT", 0x2F, status)
        // The core's cancel reaches the waiting coroutine asynchronously (uniffi cancels its job).
        runBlocking { withTimeout(5_000) { broker.current.first { it == null } } }
        assertNull(broker.current.value)
        assertFalse(broker.answer(prompt.id, true))
    }

    @Test
    fun accountAnswersMustBeInRange() = runBlocking {
        val broker = PromptBroker()
        val accounts = listOf(AccountOption("a", null, 1u), AccountOption("b", null, 2u))
        val choice = async { broker.chooseAccount("crm.example", accounts) }
        val prompt = withTimeout(5_000) { broker.current.filterNotNull().first() }
        assertFalse(broker.answer(prompt.id, true))
        assertFalse(broker.answerAccount(prompt.id, 2u))
        assertTrue(broker.answerAccount(prompt.id, 1u))
        assertEquals(1u, choice.await())
    }
}
