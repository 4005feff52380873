// The app's HybridAdvertiser (the core's foreign trait, `authenticator-core/src/api/hybrid.rs`)
// with everything that needs no Android: one advert at a time, the 16-bit UUID as the 128-bit
// string Android's ParcelUuid takes, a bounded wait for the radio's answer, its failure codes
// as AdvertiserException, and an idempotent stop. The radio itself (BluetoothLeAdvertiser) is
// the thin AdvertRadio in the app (`app/.../platform/BleAdvertRadio.kt`).
//
// Invariants: start returns only once the radio accepted the advert (or throws why not); an
// advert whose start timed out or failed is stopped, so a late success cannot leave the phone
// advertising; stop after stop, or without a start, does nothing. The service data is an
// encrypted advert (nothing secret): it is copied to the radio, never logged. start blocks its
// caller (the core's thread) while Android answers on the main thread: never call it there.
package com.passkeyphone.coreui

import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import uniffi.authenticator_core.AdvertiserException
import uniffi.authenticator_core.HybridAdvertiser

/** Whether the radio can advertise now, as the platform sees it before trying. */
sealed interface RadioAvailability {
    data object Ready : RadioAvailability

    /** Android 12+: BLUETOOTH_ADVERTISE not granted. */
    data object PermissionDenied : RadioAvailability

    /** Bluetooth off, no adapter, no LE advertising: [reason] is said to the user. */
    data class Unavailable(val reason: String) : RadioAvailability

    companion object {
        val NO_ADAPTER = Unavailable("this phone has no Bluetooth")
        val BLUETOOTH_OFF = Unavailable("Bluetooth is off; turn it on and scan again")
        val NO_LE_ADVERTISING = Unavailable("this phone cannot send Bluetooth adverts")

        /**
         * What the platform's answers mean, in the order Android is asked: the permission
         * (Android 12+), an adapter, Bluetooth on, LE advertising supported.
         */
        fun of(permitted: Boolean, hasAdapter: Boolean, enabled: Boolean, canAdvertise: Boolean): RadioAvailability = when {
            !permitted -> PermissionDenied
            !hasAdapter -> NO_ADAPTER
            !enabled -> BLUETOOTH_OFF
            !canAdvertise -> NO_LE_ADVERTISING
            else -> Ready
        }
    }
}

/** The platform's calls, kept thin: Android implements it over BluetoothLeAdvertiser. */
interface AdvertRadio {
    fun availability(): RadioAvailability

    /**
     * Starts a legacy, non-connectable advert carrying [serviceData] for [serviceUuid] (128-bit
     * string form). The radio answers once through [done]: null when it started, else its
     * failure code (Android's AdvertiseCallback.ADVERTISE_FAILED_*). May throw SecurityException
     * when a permission is missing.
     */
    fun start(serviceUuid: String, serviceData: ByteArray, done: (Int?) -> Unit)

    /** Stops the advert started last (also one whose start has not been answered yet). */
    fun stop()
}

class LeAdvertiser(
    private val radio: AdvertRadio,
    /** How long to wait for the radio's answer; Android answers within milliseconds. */
    private val startTimeoutMillis: Long = START_TIMEOUT_MILLIS,
) : HybridAdvertiser {
    private val lock = Any()

    /** True from a start the radio may have taken up until the next stop. */
    private var advertising = false

    override fun startAdvertising(serviceUuid16: UShort, serviceData: ByteArray) {
        synchronized(lock) { start(serviceUuid16, serviceData) }
    }

    override fun stopAdvertising() {
        synchronized(lock) { stopLocked() }
    }

    private fun start(serviceUuid16: UShort, serviceData: ByteArray) {
        // One advert at a time (the trait's contract): a new start replaces the last one.
        stopLocked()
        when (val availability = radio.availability()) {
            RadioAvailability.Ready -> Unit
            RadioAvailability.PermissionDenied -> throw AdvertiserException.PermissionDenied()
            is RadioAvailability.Unavailable -> throw AdvertiserException.Unavailable(availability.reason)
        }
        val answer = AtomicReference<Int?>()
        val answered = CountDownLatch(1)
        advertising = true
        try {
            radio.start(serviceUuidString(serviceUuid16), serviceData.copyOf()) { code ->
                if (answered.count > 0L) {
                    answer.set(code)
                    answered.countDown()
                }
            }
        } catch (e: SecurityException) {
            stopLocked()
            throw AdvertiserException.PermissionDenied()
        } catch (e: RuntimeException) {
            stopLocked()
            throw AdvertiserException.Failed("the Bluetooth stack refused the advert (${e.javaClass.simpleName})")
        }
        if (!answered.await(startTimeoutMillis, TimeUnit.MILLISECONDS)) {
            stopLocked()
            throw AdvertiserException.Failed("the Bluetooth stack did not answer within ${startTimeoutMillis} ms")
        }
        val code = answer.get() ?: return
        stopLocked()
        throw failure(code)
    }

    private fun stopLocked() {
        if (!advertising) return
        advertising = false
        // Stopping is best effort: the radio may already be off, and the core only needs the
        // advert gone, which turning Bluetooth off achieves too.
        try {
            radio.stop()
        } catch (e: RuntimeException) {
            Unit
        }
    }

    companion object {
        const val START_TIMEOUT_MILLIS = 5_000L

        /** Android's AdvertiseCallback failure codes (android.bluetooth.le.AdvertiseCallback). */
        const val ADVERTISE_FAILED_DATA_TOO_LARGE = 1
        const val ADVERTISE_FAILED_TOO_MANY_ADVERTISERS = 2
        const val ADVERTISE_FAILED_ALREADY_STARTED = 3
        const val ADVERTISE_FAILED_INTERNAL_ERROR = 4
        const val ADVERTISE_FAILED_FEATURE_UNSUPPORTED = 5

        /**
         * A 16-bit UUID inside the Bluetooth Base UUID (Core Specification 5.4, Vol 3, Part B,
         * 2.5.1: 0000xxxx-0000-1000-8000-00805F9B34FB), lower case as ParcelUuid.toString()
         * writes it: 0xFFF9 (hybrid, CTAP 2.2 11.5) -> "0000fff9-0000-1000-8000-00805f9b34fb".
         */
        fun serviceUuidString(uuid16: UShort): String =
            "0000%04x-0000-1000-8000-00805f9b34fb".format(uuid16.toInt())

        /** The radio's failure code as the core's error, in words the user can act on. */
        fun failure(code: Int): AdvertiserException = when (code) {
            ADVERTISE_FAILED_FEATURE_UNSUPPORTED ->
                AdvertiserException.Unavailable("this phone cannot send Bluetooth adverts")
            ADVERTISE_FAILED_TOO_MANY_ADVERTISERS ->
                AdvertiserException.Unavailable("other apps use all of this phone's Bluetooth adverts")
            ADVERTISE_FAILED_DATA_TOO_LARGE ->
                AdvertiserException.Failed("the advert is too large for this phone's Bluetooth")
            ADVERTISE_FAILED_ALREADY_STARTED ->
                AdvertiserException.Failed("the Bluetooth stack says this advert already runs")
            ADVERTISE_FAILED_INTERNAL_ERROR ->
                AdvertiserException.Failed("the Bluetooth stack reported an internal error")
            else -> AdvertiserException.Failed("the Bluetooth stack refused the advert (code $code)")
        }
    }
}
