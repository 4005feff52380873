// Which run-time permissions each feature asks for on a given Android version (API level):
// Bluetooth for the link (nearby devices on 12+, location before), the hybrid advert (12+),
// notifications (13+), the camera. The app asks for these and checks them; the names are
// android.Manifest.permission's values.
package com.passkeyphone.coreui

object RuntimePermissions {
    const val BLUETOOTH_SCAN = "android.permission.BLUETOOTH_SCAN"
    const val BLUETOOTH_CONNECT = "android.permission.BLUETOOTH_CONNECT"
    const val BLUETOOTH_ADVERTISE = "android.permission.BLUETOOTH_ADVERTISE"
    const val ACCESS_FINE_LOCATION = "android.permission.ACCESS_FINE_LOCATION"
    const val POST_NOTIFICATIONS = "android.permission.POST_NOTIFICATIONS"
    const val CAMERA = "android.permission.CAMERA"

    /** Build.VERSION_CODES.S (Android 12) and TIRAMISU (Android 13). */
    const val ANDROID_12 = 31
    const val ANDROID_13 = 33

    /** The link's Bluetooth scan and connection; location before Android 12. */
    fun bluetooth(sdkInt: Int): List<String> =
        if (sdkInt >= ANDROID_12) listOf(BLUETOOTH_SCAN, BLUETOOTH_CONNECT) else listOf(ACCESS_FINE_LOCATION)

    /** The hybrid advert; none before Android 12, where BLUETOOTH_ADMIN (install time) covers it. */
    fun advertise(sdkInt: Int): List<String> = if (sdkInt >= ANDROID_12) listOf(BLUETOOTH_ADVERTISE) else emptyList()

    /** None before Android 13, where notifications need no run-time permission. */
    fun notifications(sdkInt: Int): List<String> = if (sdkInt >= ANDROID_13) listOf(POST_NOTIFICATIONS) else emptyList()
}
