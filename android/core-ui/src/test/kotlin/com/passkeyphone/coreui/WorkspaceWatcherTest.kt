// The workspace loop of the link service against the real core: on a phone that is not
// activated it stops at once with NotActivated instead of polling forever.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException

class WorkspaceWatcherTest {
    @Test
    fun stopsOnANewPhone() = Fixture().use { f ->
        runBlocking {
            var updates = 0
            val stop = withTimeout(10_000) { WorkspaceWatcher(f.core, dispatcher = Fixture.direct).watch { updates++ } }
            assertTrue("$stop", stop is AuthenticatorException.NotActivated)
            assertEquals(0, updates)
        }
    }

    @Test
    fun onlyPassingTroubleIsRetried() {
        assertTrue(WorkspaceWatcher.isTransient(AuthenticatorException.Network("offline")))
        assertTrue(WorkspaceWatcher.isTransient(AuthenticatorException.KeyTemporarilyUnavailable("locked")))
        assertFalse(WorkspaceWatcher.isTransient(AuthenticatorException.Refused("revoked")))
        assertFalse(WorkspaceWatcher.isTransient(AuthenticatorException.NotActivated("new phone")))
    }
}
