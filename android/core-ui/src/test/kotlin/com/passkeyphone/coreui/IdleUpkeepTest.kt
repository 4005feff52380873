// The idle upkeep against the real core: after registrations one run checkpoints the log and
// checks the vault file, the next finds nothing to do; triggers in a burst make one run; runs
// never overlap; the core's VaultUnreadable is shown in the core's words.
package com.passkeyphone.coreui

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.IdleMaintenance

class IdleUpkeepTest {
    private fun ok(upkeep: IdleUpkeep): IdleMaintenance =
        (upkeep.outcome.value as Outcome.Ok).value

    @Test
    fun aRunAfterRegistrationsCheckpointsAndChecksTheVaultOnce() = Fixture().use { f ->
        runBlocking {
            for (name in listOf("alice", "bob", "carol")) {
                val registered = f.core.handleCtap(Fixture.makeCredential("crm.example", name, verify = false))
                assertEquals(0, registered[0].toInt())
            }
            val upkeep = IdleUpkeep(this, { f.core.runIdleMaintenance() }, delayMs = 10, dispatcher = Fixture.direct)
            assertNull(upkeep.outcome.value)
            upkeep.schedule().join()
            val first = ok(upkeep)
            assertTrue("pages checkpointed: ${first.checkpointedPages}", first.checkpointedPages > 0u)
            assertTrue(first.checkedVaultFile)

            upkeep.schedule().join()
            val second = ok(upkeep)
            assertEquals(0uL, second.checkpointedPages)
            assertFalse("the whole file is checked once per open", second.checkedVaultFile)
        }
    }

    @Test
    fun aBurstOfTriggersMakesOneRunAndRunsNeverOverlap() = runBlocking {
        val runs = AtomicInteger()
        val inside = AtomicInteger()
        val overlapped = AtomicInteger()
        val release = CompletableDeferred<Unit>()
        val upkeep = IdleUpkeep(this, {
            if (inside.incrementAndGet() > 1) overlapped.incrementAndGet()
            runs.incrementAndGet()
            release.await()
            inside.decrementAndGet()
            IdleMaintenance(0u, false, 0u, 0u, 0u)
        }, delayMs = 50, dispatcher = Fixture.direct)
        repeat(5) { upkeep.schedule() }
        val firstRun = upkeep.schedule()
        withTimeout(5_000) { while (runs.get() < 1) kotlinx.coroutines.delay(5) }
        // A trigger while the run is inside the core does not cancel it; its own run waits.
        val secondRun = upkeep.schedule()
        kotlinx.coroutines.delay(200)
        assertFalse("the running one is not cancelled", firstRun.isCancelled)
        assertEquals(1, runs.get())
        release.complete(Unit)
        firstRun.join()
        secondRun.join()
        assertEquals(2, runs.get())
        assertEquals(0, overlapped.get())
    }

    @Test
    fun anUnreadableVaultIsShownInTheCoresWords() = runBlocking {
        val reason = "the vault file is damaged (integrity check failed: page 7); it will be moved aside when it is opened next"
        val upkeep = IdleUpkeep(this, { throw AuthenticatorException.VaultUnreadable(reason) }, delayMs = 1, dispatcher = Fixture.direct)
        upkeep.schedule().join()
        val failed = upkeep.outcome.value as Outcome.Failed
        assertEquals("Your passkeys cannot be opened", failed.message.title)
        assertFalse(failed.message.canRetry)
        assertEquals(
            "The vault file is damaged (integrity check failed: page 7); it will be moved aside when it is opened next.",
            failed.message.detail,
        )
    }

    @Test
    fun nothingIsRecordedWhileNoCoreIsOpen() = runBlocking {
        val upkeep = IdleUpkeep(this, { null }, delayMs = 1, dispatcher = Fixture.direct)
        upkeep.schedule().join()
        assertNull(upkeep.outcome.value)
    }
}
