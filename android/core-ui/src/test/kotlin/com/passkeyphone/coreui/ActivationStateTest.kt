// The activation screen's state against the real core: a new phone needs a link; a malformed
// link shows the core's exact sentence without any network use; an unreachable workspace is a
// network error; PIN entry before activation is refused.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

class ActivationStateTest {
    @Test
    fun aNewPhoneAsksForTheLink() = Fixture().use { f ->
        runBlocking {
            val activation = ActivationState(f.core, Fixture.direct)
            assertEquals(ActivationState.Step.Loading, activation.ui.value.step)
            activation.load()
            assertEquals(ActivationState.Step.NeedLink, activation.ui.value.step)
            assertNull(activation.ui.value.enrollment)
            assertNull(activation.ui.value.error)
        }
    }

    @Test
    fun aMalformedLinkShowsTheExactMessage() = Fixture().use { f ->
        runBlocking {
            val activation = ActivationState(f.core, Fixture.direct)
            activation.load()
            activation.activate("https://acme.example/activate?code=0123456789ABCDEFGHJKMNPQRS&x=1")
            assertEquals(
                UserMessage(
                    "Check what you entered",
                    "This activation link has an unexpected parameter \"x\"; it may have been altered.",
                    canRetry = true,
                ),
                activation.ui.value.error,
            )
            assertNull("nothing was parsed", activation.ui.value.workspaceHost)
            assertEquals(ActivationState.Step.NeedLink, activation.ui.value.step)
        }
    }

    @Test
    fun aWellFormedLinkNamesItsWorkspace() = Fixture().use { f ->
        val info = f.core.parseActivationLink("passkeyphone://activate?host=Acme.Example&code=0123456789ABCDEFGHJKMNPQRS")
        assertEquals("acme.example", info.workspaceHost)
    }

    @Test
    fun anUnreachableWorkspaceIsANetworkError() = Fixture().use { f ->
        runBlocking {
            val activation = ActivationState(f.core, Fixture.direct)
            // Loopback port 9 (discard): nothing listens, the connection is refused at once.
            activation.activate("http://127.0.0.1:9/activate?code=0123456789ABCDEFGHJKMNPQRS")
            assertEquals("127.0.0.1:9", activation.ui.value.workspaceHost)
            val error = activation.ui.value.error!!
            assertEquals("No connection", error.title)
            assertTrue(error.canRetry)
            assertNull(f.core.enrollment())
        }
    }

    @Test
    fun aPinBeforeActivationIsRefused() = Fixture().use { f ->
        runBlocking {
            val activation = ActivationState(f.core, Fixture.direct)
            activation.submitPin("123456")
            assertEquals("Not activated yet", activation.ui.value.error!!.title)
        }
    }
}
