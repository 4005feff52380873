// The app's HybridAdvertiser over a scripted radio: what the radio is asked to send (UUID
// string, a copy of the bytes), that start returns only on the radio's answer, the errors the
// core hears for each failure (permission, Bluetooth off, each AdvertiseCallback code, a radio
// that never answers, an exception), and that every failed or replaced advert is stopped.
package com.passkeyphone.coreui

import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import uniffi.authenticator_core.AdvertiserException

class LeAdvertiserTest {
    private val advert = ByteArray(20) { (it * 7).toByte() }

    @Test
    fun sendsTheServiceDataUnderTheFullUuidAndStopsOnce() {
        val radio = ScriptedRadio()
        val advertiser = LeAdvertiser(radio)
        advertiser.startAdvertising(0xFFF9u, advert)
        assertEquals(listOf("start 0000fff9-0000-1000-8000-00805f9b34fb"), radio.calls)
        assertArrayEquals(advert, radio.sent.single())
        advertiser.stopAdvertising()
        advertiser.stopAdvertising()
        assertEquals(listOf("start 0000fff9-0000-1000-8000-00805f9b34fb", "stop"), radio.calls)
    }

    @Test
    fun theRadioGetsACopyOfTheBytes() {
        val radio = ScriptedRadio()
        val data = advert.copyOf()
        LeAdvertiser(radio).startAdvertising(0xFFF9u, data)
        data.fill(0)
        assertArrayEquals(advert, radio.sent.single())
    }

    @Test
    fun stopWithoutStartDoesNothing() {
        val radio = ScriptedRadio()
        LeAdvertiser(radio).stopAdvertising()
        assertEquals(emptyList<String>(), radio.calls)
    }

    @Test
    fun aSecondStartReplacesTheFirstAdvert() {
        val radio = ScriptedRadio()
        val advertiser = LeAdvertiser(radio)
        advertiser.startAdvertising(0xFFF9u, advert)
        advertiser.startAdvertising(0xFDE2u, advert)
        assertEquals(
            listOf(
                "start 0000fff9-0000-1000-8000-00805f9b34fb",
                "stop",
                "start 0000fde2-0000-1000-8000-00805f9b34fb",
            ),
            radio.calls,
        )
    }

    @Test
    fun uuidStrings() {
        assertEquals("0000fff9-0000-1000-8000-00805f9b34fb", LeAdvertiser.serviceUuidString(0xFFF9u))
        assertEquals("00000000-0000-1000-8000-00805f9b34fb", LeAdvertiser.serviceUuidString(0u))
        assertEquals("0000180d-0000-1000-8000-00805f9b34fb", LeAdvertiser.serviceUuidString(0x180Du))
    }

    @Test
    fun startReturnsOnlyOnTheRadiosAnswer() {
        val later = Executors.newSingleThreadScheduledExecutor()
        try {
            val radio = ScriptedRadio(answer = { done -> later.schedule({ done(null) }, 300, TimeUnit.MILLISECONDS) })
            val began = System.nanoTime()
            LeAdvertiser(radio).startAdvertising(0xFFF9u, advert)
            val waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began)
            assertTrue("returned after $waited ms", waited >= 250)
        } finally {
            later.shutdownNow()
        }
    }

    @Test
    fun aLateFailureAnswerIsReported() {
        val later = Executors.newSingleThreadScheduledExecutor()
        try {
            val radio = ScriptedRadio(answer = { done ->
                later.schedule({ done(LeAdvertiser.ADVERTISE_FAILED_INTERNAL_ERROR) }, 100, TimeUnit.MILLISECONDS)
            })
            val error = startError(LeAdvertiser(radio))
            assertEquals("Failed: the Bluetooth stack reported an internal error", said(error))
            assertEquals("stop", radio.calls.last())
        } finally {
            later.shutdownNow()
        }
    }

    @Test
    fun aRadioThatNeverAnswersTimesOutAndIsStopped() {
        val radio = ScriptedRadio(answer = null)
        val advertiser = LeAdvertiser(radio, startTimeoutMillis = 200)
        val error = startError(advertiser)
        assertTrue("$error", error is AdvertiserException.Failed)
        assertEquals("Failed: the Bluetooth stack did not answer within 200 ms", said(error))
        assertEquals(listOf("start 0000fff9-0000-1000-8000-00805f9b34fb", "stop"), radio.calls)
        // A success arriving after the timeout changes nothing: the advert was already stopped.
        radio.lastDone!!.invoke(null)
        advertiser.stopAdvertising()
        assertEquals(2, radio.calls.size)
    }

    @Test
    fun eachFailureCodeIsNamed() {
        val expected = mapOf(
            LeAdvertiser.ADVERTISE_FAILED_DATA_TOO_LARGE to
                "Failed: the advert is too large for this phone's Bluetooth",
            LeAdvertiser.ADVERTISE_FAILED_TOO_MANY_ADVERTISERS to
                "Unavailable: other apps use all of this phone's Bluetooth adverts",
            LeAdvertiser.ADVERTISE_FAILED_ALREADY_STARTED to
                "Failed: the Bluetooth stack says this advert already runs",
            LeAdvertiser.ADVERTISE_FAILED_INTERNAL_ERROR to
                "Failed: the Bluetooth stack reported an internal error",
            LeAdvertiser.ADVERTISE_FAILED_FEATURE_UNSUPPORTED to
                "Unavailable: this phone cannot send Bluetooth adverts",
            99 to "Failed: the Bluetooth stack refused the advert (code 99)",
        )
        for ((code, message) in expected) {
            val radio = ScriptedRadio(answer = { it(code) })
            val error = startError(LeAdvertiser(radio))
            assertEquals("code $code", message, said(error))
            // The failed advert is stopped, so nothing is left half-started.
            assertEquals("code $code", listOf("start 0000fff9-0000-1000-8000-00805f9b34fb", "stop"), radio.calls)
        }
        assertTrue(LeAdvertiser.failure(5) is AdvertiserException.Unavailable)
        assertTrue(LeAdvertiser.failure(2) is AdvertiserException.Unavailable)
        assertTrue(LeAdvertiser.failure(1) is AdvertiserException.Failed)
    }

    @Test
    fun noPermissionOrNoBluetoothNeverReachesTheRadio() {
        val denied = ScriptedRadio(availability = RadioAvailability.PermissionDenied)
        val error = startError(LeAdvertiser(denied))
        assertTrue("$error", error is AdvertiserException.PermissionDenied)
        assertEquals("PermissionDenied", said(error))

        val off = ScriptedRadio(availability = RadioAvailability.Unavailable("Bluetooth is off"))
        val offError = startError(LeAdvertiser(off))
        assertTrue("$offError", offError is AdvertiserException.Unavailable)
        assertEquals("Unavailable: Bluetooth is off", said(offError))
        assertEquals(emptyList<String>(), denied.calls + off.calls)
    }

    @Test
    fun aSecurityExceptionIsPermissionDeniedAndOtherExceptionsAreFailed() {
        val secure = ScriptedRadio(throwOnStart = SecurityException("Need android.permission.BLUETOOTH_ADVERTISE"))
        assertTrue(startError(LeAdvertiser(secure)) is AdvertiserException.PermissionDenied)
        assertEquals("stop", secure.calls.last())

        val broken = ScriptedRadio(throwOnStart = IllegalStateException("BT Adapter is not turned ON"))
        val error = startError(LeAdvertiser(broken))
        assertEquals(
            "Failed: the Bluetooth stack refused the advert (IllegalStateException)",
            said(error),
        )
    }

    @Test
    fun aStopThatThrowsIsSwallowedAndCountsAsStopped() {
        val radio = ScriptedRadio(throwOnStop = IllegalStateException("BT Adapter is not turned ON"))
        val advertiser = LeAdvertiser(radio)
        advertiser.startAdvertising(0xFFF9u, advert)
        advertiser.stopAdvertising()
        advertiser.stopAdvertising()
        assertEquals(1, radio.calls.count { it == "stop" })
    }

    /** The variant and its reason, as the core turns it into its error's sentence. */
    private fun said(error: AdvertiserException): String = when (error) {
        is AdvertiserException.Unavailable -> "Unavailable: ${error.reason}"
        is AdvertiserException.PermissionDenied -> "PermissionDenied"
        is AdvertiserException.Failed -> "Failed: ${error.reason}"
    }

    private fun startError(advertiser: LeAdvertiser): AdvertiserException {
        try {
            advertiser.startAdvertising(0xFFF9u, advert)
        } catch (e: AdvertiserException) {
            return e
        }
        fail("start succeeded")
        throw AssertionError()
    }
}
