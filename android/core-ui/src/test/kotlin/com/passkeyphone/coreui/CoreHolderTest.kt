// The app's one core and its shared watcher, against the real core: an open the key store
// refuses for now (locked phone) is shown as "Unlock your phone" in the core's words and can be
// tried again, then the same vault opens with its passkeys; a lost key cannot be retried; the
// watcher runs while anyone holds it, once, and restarts only while held.
package com.passkeyphone.coreui

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.KeyProtectorException

class CoreHolderTest {
    @Test
    fun aLockedKeyStoreCanBeRetried() = Fixture().use { f ->
        runBlocking {
            val registered = f.core.handleCtap(Fixture.makeCredential("crm.example", "alice", verify = false))
            assertEquals(0, registered[0].toInt())
            f.core.close()
            val protector = f.protector
            protector.unwrapFailure = KeyProtectorException.TemporarilyUnavailable("the phone is locked")
            val holder = CoreHolder(this) { f.open(protector = protector) }
            assertEquals(CoreState.Opening, holder.core.value)
            holder.open()!!.join()
            val failed = holder.core.value as CoreState.Failed
            assertEquals("Unlock your phone", failed.message.title)
            assertTrue(failed.message.canRetry)
            assertEquals(
                "The vault key is temporarily unavailable (the phone is locked); try again after unlocking.",
                failed.message.detail,
            )
            assertNull(holder.awaitCore())

            protector.unwrapFailure = null
            holder.open()!!.join()
            val core = holder.awaitCore()!!
            assertSame((holder.core.value as CoreState.Ready).core, core)
            assertEquals(listOf("crm.example"), core.passkeys().map { it.rpId })
            assertNull("an open core is not opened twice", holder.open())
            core.close()
        }
    }

    @Test
    fun aLostKeyCannotBeRetried() = Fixture().use { f ->
        runBlocking {
            f.core.close()
            f.protector.unwrapFailure = KeyProtectorException.PermanentlyLost("the Android Keystore invalidated the vault's key")
            val holder = CoreHolder(this) { f.open() }
            holder.open()!!.join()
            val failed = holder.core.value as CoreState.Failed
            assertEquals("Your passkeys cannot be opened", failed.message.title)
            assertFalse(failed.message.canRetry)
        }
    }

    @Test
    fun theWatcherRunsOnceWhileHeld() = runBlocking {
        val scope = CoroutineScope(Dispatchers.Default)
        val starts = AtomicInteger()
        val watcher = SharedWatcher(scope) {
            starts.incrementAndGet()
            awaitCancellation()
        }
        watcher.restart()
        assertFalse("not held: no restart", watcher.running)
        watcher.hold()
        watcher.hold()
        withTimeout(5_000) { while (starts.get() < 1) delay(5) }
        assertTrue(watcher.running)
        watcher.release()
        assertTrue("one holder is left", watcher.running)
        watcher.restart()
        withTimeout(5_000) { while (starts.get() < 2) delay(5) }
        assertTrue(watcher.running)
        watcher.release()
        assertFalse(watcher.running)
        watcher.release() // one release too many changes nothing
        watcher.hold()
        withTimeout(5_000) { while (starts.get() < 3) delay(5) }
        assertTrue("held again after an extra release", watcher.running)
        watcher.release()
        assertFalse(watcher.running)
        assertEquals(3, starts.get())
    }
}
