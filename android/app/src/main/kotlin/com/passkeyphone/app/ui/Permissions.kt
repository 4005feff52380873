// Whether the run-time permissions each feature needs are granted. Which ones a feature needs
// on this Android version is core-ui's RuntimePermissions (host-tested).
package com.passkeyphone.app.ui

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import androidx.core.content.ContextCompat
import com.passkeyphone.coreui.RuntimePermissions

object Permissions {
    val bluetooth: Array<String> = RuntimePermissions.bluetooth(Build.VERSION.SDK_INT).toTypedArray()

    val advertise: Array<String> = RuntimePermissions.advertise(Build.VERSION.SDK_INT).toTypedArray()

    val notifications: Array<String> = RuntimePermissions.notifications(Build.VERSION.SDK_INT).toTypedArray()

    const val CAMERA = RuntimePermissions.CAMERA

    fun bluetoothGranted(context: Context) = bluetooth.all { granted(context, it) }

    fun advertiseGranted(context: Context) = advertise.all { granted(context, it) }

    fun notificationsGranted(context: Context) = notifications.all { granted(context, it) }

    fun granted(context: Context, permission: String) =
        ContextCompat.checkSelfPermission(context, permission) == PackageManager.PERMISSION_GRANTED
}
