// The hybrid screen's state against the real core and the app's own advertiser logic
// (LeAdvertiser over a scripted radio): a code the core refuses never reaches the network or
// the radio; with a loopback tunnel server the core opens `/cable/new/...`, the radio gets the
// 20-byte advert for 0xFFF9 and the screen says "advertising"; Cancel ends the session with
// the advert stopped; a radio without permission or a refusing tunnel server end it with the
// core's error in words; the outcome lines; the answer to "Remember this computer?" (a name
// the app refuses never reaches the core; linking itself: LinkedBrowsersStateTest).
package com.passkeyphone.coreui

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.HybridOperation
import uniffi.authenticator_core.HybridServed

class HybridStateTest {
    private fun fixture(tunnel: LoopbackTunnelServer?) = Fixture(
        options = Fixture.OPTIONS.copy(hybridTunnelUrl = tunnel?.url ?: "ws://127.0.0.1:9"),
    )

    @Test
    fun aCodeTheCoreRefusesReachesNeitherTheNetworkNorTheRadio() = LoopbackTunnelServer().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val radio = ScriptedRadio()
                val hybrid = HybridState(f.core, LeAdvertiser(radio), Fixture.direct)
                // Shaped like a code (the scanner lets it through) but no CBOR map inside.
                hybrid.serve("FIDO:/000")
                assertEquals("Check what you entered", hybrid.ui.value.error?.title)
                assertEquals(HybridState.Step.Finished, hybrid.ui.value.step)
                assertNull(hybrid.ui.value.served)
                assertEquals(emptyList<String>(), radio.calls)
                assertEquals(emptyList<String>(), tunnel.requests)
            }
        }
    }

    @Test
    fun advertisesOnceTheTunnelIsOpenAndCancelStopsIt() = LoopbackTunnelServer().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val radio = ScriptedRadio()
                val hybrid = HybridState(f.core, LeAdvertiser(radio), Dispatchers.IO)
                val session = async(Dispatchers.IO) { hybrid.serve(ScannedCodeTest.CHROME_QR) }
                withTimeout(20_000) { hybrid.ui.first { it.step == HybridState.Step.Advertising } }
                assertTrue("a running session shows Cancel", hybrid.ui.value.running)
                assertEquals("Keep the phone near the computer: it is looking for the phone over Bluetooth.",
                    HybridState.describe(hybrid.ui.value.step))
                val request = tunnel.requests.single()
                assertTrue(request, Regex("GET /cable/new/[0-9A-F]{32} HTTP/1.1").matches(request))
                assertEquals(listOf("start 0000fff9-0000-1000-8000-00805f9b34fb"), radio.calls)
                assertEquals(20, radio.sent.single().size)

                hybrid.cancel()
                withTimeout(20_000) { session.await() }
                assertEquals(HybridState.Step.Finished, hybrid.ui.value.step)
                assertEquals("Cancelled", hybrid.ui.value.error?.title)
                assertFalse("an ended one shows Done", hybrid.ui.value.running)
                assertNull(hybrid.ui.value.served)
                assertEquals("stop", radio.calls.last())
                assertEquals(1, radio.calls.count { it == "stop" })
            }
        }
    }

    @Test
    fun noAdvertisePermissionIsSaidInWords() = LoopbackTunnelServer().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val radio = ScriptedRadio(availability = RadioAvailability.PermissionDenied)
                val hybrid = HybridState(f.core, LeAdvertiser(radio), Dispatchers.IO)
                withTimeout(20_000) { hybrid.serve(ScannedCodeTest.CHROME_QR) }
                val error = hybrid.ui.value.error
                assertEquals("Bluetooth unavailable", error?.title)
                assertTrue("${error?.detail}", error!!.detail.contains("permission not granted"))
                assertEquals(HybridState.Step.Finished, hybrid.ui.value.step)
                assertEquals(emptyList<String>(), radio.calls)
            }
        }
    }

    @Test
    fun aTunnelServerThatRefusesIsNoConnectionAndNothingIsAdvertised() =
        LoopbackTunnelServer(status = 403).use { tunnel ->
            fixture(tunnel).use { f ->
                runBlocking {
                    val radio = ScriptedRadio()
                    val hybrid = HybridState(f.core, LeAdvertiser(radio), Dispatchers.IO)
                    withTimeout(20_000) { hybrid.serve(ScannedCodeTest.CHROME_QR) }
                    assertEquals("No connection", hybrid.ui.value.error?.title)
                    assertEquals(1, tunnel.requests.size)
                    assertEquals(emptyList<String>(), radio.calls)
                }
            }
        }

    @Test
    fun aDamagedScanIsShownWithoutTheCore() = fixture(null).use { f ->
        val hybrid = HybridState(f.core, LeAdvertiser(ScriptedRadio()), Fixture.direct)
        hybrid.rejectScan(ScannedCode.DAMAGED_HYBRID)
        assertEquals(ScannedCode.DAMAGED_HYBRID, hybrid.ui.value.error)
        assertEquals(HybridState.Step.Finished, hybrid.ui.value.step)
        hybrid.reset()
        assertEquals(HybridState.Ui(), hybrid.ui.value)
    }

    @Test
    fun aNameForTheLinkIsCheckedBeforeTheCore() = fixture(null).use { f ->
        val hybrid = HybridState(f.core, LeAdvertiser(ScriptedRadio()), Fixture.direct)
        hybrid.consent("   ")
        assertEquals(
            UserMessage("Check what you entered", "Give the computer a name, or choose Not this time.", canRetry = true),
            hybrid.ui.value.error,
        )
        assertNull("no answer recorded", hybrid.ui.value.consent)
        hybrid.consent("x".repeat(65))
        assertEquals("The name is longer than 64 characters.", hybrid.ui.value.error?.detail)
        assertNull(hybrid.ui.value.consent)
        hybrid.consent(" Office PC ")
        assertEquals(HybridState.Consent("Office PC"), hybrid.ui.value.consent)
        assertNull("a good answer clears the error", hybrid.ui.value.error)
        hybrid.consent(null)
        assertEquals(HybridState.Consent(null), hybrid.ui.value.consent)
        assertEquals(emptyList<Any>(), f.core.linkedBrowsers())
    }

    @Test
    fun outcomes() {
        assertEquals("Signed in at example.com.", HybridState.describe(HybridServed(HybridOperation.SIGN_IN, "example.com")))
        assertEquals(
            "Registered a passkey at example.com.",
            HybridState.describe(HybridServed(HybridOperation.REGISTER, "example.com")),
        )
    }

    @Test
    fun bluetoothOffIsSaidInWordsAndNothingIsAdvertised() = LoopbackTunnelServer().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val off = RadioAvailability.of(permitted = true, hasAdapter = true, enabled = false, canAdvertise = false)
                assertEquals(RadioAvailability.BLUETOOTH_OFF, off)
                val radio = ScriptedRadio(availability = off)
                val hybrid = HybridState(f.core, LeAdvertiser(radio), Dispatchers.IO)
                withTimeout(20_000) { hybrid.serve(ScannedCodeTest.CHROME_QR) }
                assertEquals(
                    UserMessage(
                        "Bluetooth unavailable",
                        "Bluetooth advertising is not available: Bluetooth is off; turn it on and scan again.",
                        canRetry = true,
                    ),
                    hybrid.ui.value.error,
                )
                assertEquals(emptyList<String>(), radio.calls)
            }
        }
    }

    @Test
    fun whatTheAdaptersStateMeans() {
        assertEquals(RadioAvailability.PermissionDenied, RadioAvailability.of(false, true, true, true))
        assertEquals(
            RadioAvailability.Unavailable("this phone has no Bluetooth"),
            RadioAvailability.of(true, hasAdapter = false, enabled = false, canAdvertise = false),
        )
        assertEquals(
            RadioAvailability.Unavailable("Bluetooth is off; turn it on and scan again"),
            RadioAvailability.of(true, hasAdapter = true, enabled = false, canAdvertise = true),
        )
        assertEquals(
            RadioAvailability.Unavailable("this phone cannot send Bluetooth adverts"),
            RadioAvailability.of(true, hasAdapter = true, enabled = true, canAdvertise = false),
        )
        assertEquals(RadioAvailability.Ready, RadioAvailability.of(true, true, true, true))
    }
}
