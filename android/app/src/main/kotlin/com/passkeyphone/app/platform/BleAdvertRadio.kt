// The hybrid advert's radio: BluetoothLeAdvertiser calls only. The rules (one advert at a
// time, the bounded wait, the error words, what the adapter's state means) are core-ui's
// LeAdvertiser and RadioAvailability, tested on the host.
//
// The advert is what Chromium's phone side sends: legacy advertising (a browser's scanner need
// not support extended adverts), not connectable, no name or TX power (the 20-byte service data
// of 0xFFF9 fills the 31-byte PDU), low latency and high power so that the PC sees it within
// a second, no timeout (the core stops it once the browser connected).
package com.passkeyphone.app.platform

import android.Manifest
import android.annotation.SuppressLint
import android.bluetooth.BluetoothManager
import android.bluetooth.le.AdvertiseCallback
import android.bluetooth.le.AdvertiseData
import android.bluetooth.le.AdvertiseSettings
import android.bluetooth.le.BluetoothLeAdvertiser
import android.content.Context
import android.os.Build
import android.os.ParcelUuid
import com.passkeyphone.app.ui.Permissions
import com.passkeyphone.coreui.AdvertRadio
import com.passkeyphone.coreui.LeAdvertiser
import com.passkeyphone.coreui.RadioAvailability

class BleAdvertRadio(private val context: Context) : AdvertRadio {
    /** The callback of the advert started last: stopAdvertising needs the same object. */
    private var current: AdvertiseCallback? = null
    private var currentAdvertiser: BluetoothLeAdvertiser? = null

    override fun availability(): RadioAvailability {
        val permitted = Build.VERSION.SDK_INT < Build.VERSION_CODES.S ||
            Permissions.granted(context, Manifest.permission.BLUETOOTH_ADVERTISE)
        val adapter = if (permitted) context.getSystemService(BluetoothManager::class.java)?.adapter else null
        return RadioAvailability.of(
            permitted = permitted,
            hasAdapter = adapter != null,
            enabled = adapter?.isEnabled == true,
            canAdvertise = adapter?.isMultipleAdvertisementSupported == true,
        )
    }

    // availability() checked BLUETOOTH_ADVERTISE; a revoked permission throws SecurityException,
    // which LeAdvertiser turns into PermissionDenied.
    @SuppressLint("MissingPermission")
    override fun start(serviceUuid: String, serviceData: ByteArray, done: (Int?) -> Unit) {
        val advertiser = context.getSystemService(BluetoothManager::class.java)?.adapter?.bluetoothLeAdvertiser
        if (advertiser == null) {
            // Null while Bluetooth is off.
            done(LeAdvertiser.ADVERTISE_FAILED_FEATURE_UNSUPPORTED)
            return
        }
        val settings = AdvertiseSettings.Builder()
            .setAdvertiseMode(AdvertiseSettings.ADVERTISE_MODE_LOW_LATENCY)
            .setTxPowerLevel(AdvertiseSettings.ADVERTISE_TX_POWER_HIGH)
            .setConnectable(false)
            .setTimeout(0)
            .build()
        val data = AdvertiseData.Builder()
            .setIncludeDeviceName(false)
            .setIncludeTxPowerLevel(false)
            .addServiceData(ParcelUuid.fromString(serviceUuid), serviceData)
            .build()
        val callback = object : AdvertiseCallback() {
            override fun onStartSuccess(settingsInEffect: AdvertiseSettings) = done(null)

            override fun onStartFailure(errorCode: Int) = done(errorCode)
        }
        current = callback
        currentAdvertiser = advertiser
        advertiser.startAdvertising(settings, data, callback)
    }

    @SuppressLint("MissingPermission")
    override fun stop() {
        val callback = current ?: return
        current = null
        currentAdvertiser?.stopAdvertising(callback)
        currentAdvertiser = null
    }
}
