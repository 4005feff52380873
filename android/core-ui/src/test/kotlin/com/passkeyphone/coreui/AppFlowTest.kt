// Where the user goes and what the activity's actions do, against the real core: a browser's
// code waits for the hybrid screen and the user's answer to "Remember this computer?", and is
// served once (the core refuses a bad one in words); a damaged one is shown there without the
// core; any other scan goes to pairing, where the core refuses it in words; a failed activation keeps the user on the activation screen with the
// link consumed; a notification's approval is focused; nothing runs before the core is open;
// a phone not enrolled shows activation whatever was asked, an enrolled one the screen asked.
package com.passkeyphone.coreui

import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Test

class AppFlowTest {
    private class MapStore : SettingsStore {
        override var linkServiceEnabled = true
        override var bleEnabled = false
    }

    private fun screens(f: Fixture) = Screens(f.core, MapStore(), LeAdvertiser(ScriptedRadio()), Fixture.direct)

    @Test
    fun aBrowsersCodeWaitsForTheHybridScreenAndIsServedOnce() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            val flow = AppFlow(this, MutableStateFlow(screens))
            // Shaped like a browser's code (the scanner lets it through); the core refuses it.
            assertNull(flow.scanned("  FIDO:/000\n"))
            assertEquals(Destination.Hybrid, flow.destination.value)
            assertEquals("FIDO:/000", flow.pendingHybridCode.value)
            assertNull("the hybrid screen has not served it yet", screens.hybrid.ui.value.error)
            assertNull("not before the user said whether to remember the computer", flow.serveHybrid())
            assertEquals("FIDO:/000", flow.pendingHybridCode.value)
            screens.hybrid.consent(null)
            flow.serveHybrid()!!.join()
            assertNull("served once, then forgotten", flow.pendingHybridCode.value)
            assertEquals("Check what you entered", screens.hybrid.ui.value.error?.title)
            assertEquals(HybridState.Step.Finished, screens.hybrid.ui.value.step)
            assertNull("nothing waits any more", flow.serveHybrid())
        }
    }

    @Test
    fun aCodeLeftUnansweredIsForgotten() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            val flow = AppFlow(this, MutableStateFlow(screens))
            assertNull(flow.scanned(ScannedCodeTest.CHROME_QR))
            flow.discardHybridCode()
            assertNull(flow.pendingHybridCode.value)
            screens.hybrid.consent("Office PC")
            flow.discardHybridCode()
            assertNull("the answer went with the code", screens.hybrid.ui.value.consent)
            assertNull("nothing to serve", flow.serveHybrid())
        }
    }

    @Test
    fun aDamagedCodeIsShownOnTheHybridScreenWithoutTheCore() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            val flow = AppFlow(this, MutableStateFlow(screens))
            assertNull(flow.scanned("FIDO:/12"))
            assertEquals(Destination.Hybrid, flow.destination.value)
            assertNull(flow.pendingHybridCode.value)
            assertEquals(ScannedCode.DAMAGED_HYBRID, screens.hybrid.ui.value.error)
            assertEquals("Code not readable", screens.hybrid.ui.value.error?.title)
        }
    }

    @Test
    fun anyOtherScanGoesToPairing() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            val flow = AppFlow(this, MutableStateFlow(screens))
            flow.go(Destination.Computers)
            flow.scanned("hello")!!.join()
            assertEquals(Destination.Computers, flow.destination.value)
            assertEquals("Check what you entered", screens.pairing.ui.value.error?.title)
            assertNull(flow.pendingHybridCode.value)
        }
    }

    @Test
    fun aFailedActivationStaysOnTheActivationScreen() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            var activated = 0
            val flow = AppFlow(this, MutableStateFlow(screens)) { activated++ }
            val link = "https://acme.example/activate?code=0123456789ABCDEFGHJKMNPQRS&x=1"
            flow.openActivationLink(link)
            assertEquals(Destination.Activation, flow.destination.value)
            assertEquals(link, flow.pendingLink.value)
            flow.activate(link)!!.join()
            assertNull("the one-time link leaves memory once used", flow.pendingLink.value)
            assertEquals(
                "This activation link has an unexpected parameter \"x\"; it may have been altered.",
                screens.activation.ui.value.error?.detail,
            )
            assertEquals(Destination.Activation, flow.destination.value)
            assertEquals(0, activated)
        }
    }

    @Test
    fun aNotificationsApprovalIsFocused() = runBlocking {
        val flow = AppFlow(this, MutableStateFlow(null))
        flow.openApproval("a1")
        assertEquals(Destination.Approvals, flow.destination.value)
        assertEquals("a1", flow.focusedApproval.value)
    }

    @Test
    fun nothingRunsBeforeTheCoreIsOpen() = runBlocking {
        val flow = AppFlow(this, MutableStateFlow(null))
        assertNull(flow.scanned("hello"))
        assertNull(flow.activate("https://acme.example/activate?code=0123456789ABCDEFGHJKMNPQRS"))
        assertNull(flow.scanned(ScannedCodeTest.CHROME_QR))
        assertEquals(ScannedCodeTest.CHROME_QR, flow.pendingHybridCode.value)
        assertNull(flow.serveHybrid())
        assertEquals("kept for when the core is open", ScannedCodeTest.CHROME_QR, flow.pendingHybridCode.value)
        assertFalse(flow.destination.value == Destination.Passkeys)
    }

    @Test
    fun aPhoneNotEnrolledShowsActivationWhateverWasAsked() = Fixture().use { f ->
        runBlocking {
            val screens = screens(f)
            assertEquals("a spinner while loading", null, Destination.shown(screens.activation.ui.value.step, Destination.Passkeys))
            screens.activation.load()
            val step = screens.activation.ui.value.step
            assertEquals(ActivationState.Step.NeedLink, step)
            for (asked in Destination.entries) assertEquals("$asked", Destination.Activation, Destination.shown(step, asked))
        }
    }

    @Test
    fun anEnrolledPhoneShowsWhatWasAsked() {
        for (asked in Destination.entries) assertEquals(asked, Destination.shown(ActivationState.Step.Enrolled, asked))
        assertEquals(
            listOf("Passkeys", "Computers", "Approvals", "Settings"),
            Destination.TABS.map { it.second },
        )
        assertEquals(
            listOf(Destination.Passkeys, Destination.Computers, Destination.Approvals, Destination.Settings),
            Destination.TABS.map { it.first },
        )
    }
}
