// Which run-time permissions each feature needs on this Android version, and whether they are
// granted: Bluetooth (nearby devices on 12+, location before), the hybrid advert (12+),
// notifications (13+), camera.
package com.passkeyphone.app.ui

import android.Manifest
import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import androidx.core.content.ContextCompat

object Permissions {
    val bluetooth: Array<String> =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            arrayOf(Manifest.permission.BLUETOOTH_SCAN, Manifest.permission.BLUETOOTH_CONNECT)
        } else {
            arrayOf(Manifest.permission.ACCESS_FINE_LOCATION)
        }

    /** The hybrid advert; empty before Android 12, where BLUETOOTH_ADMIN (install time) covers it. */
    val advertise: Array<String> =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            arrayOf(Manifest.permission.BLUETOOTH_ADVERTISE)
        } else {
            emptyArray()
        }

    /** Empty before Android 13, where notifications need no run-time permission. */
    val notifications: Array<String> =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU) {
            arrayOf(Manifest.permission.POST_NOTIFICATIONS)
        } else {
            emptyArray()
        }

    const val CAMERA = Manifest.permission.CAMERA

    fun bluetoothGranted(context: Context) = bluetooth.all { granted(context, it) }

    fun advertiseGranted(context: Context) = advertise.all { granted(context, it) }

    fun notificationsGranted(context: Context) = notifications.all { granted(context, it) }

    fun granted(context: Context, permission: String) =
        ContextCompat.checkSelfPermission(context, permission) == PackageManager.PERMISSION_GRANTED
}
