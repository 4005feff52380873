// Which permissions each feature asks for on each Android version, and the screens' dates.
package com.passkeyphone.coreui

import java.text.SimpleDateFormat
import java.util.Locale
import java.util.TimeZone
import org.junit.Assert.assertEquals
import org.junit.Test

class RuntimePermissionsTest {
    @Test
    fun bluetoothIsNearbyDevicesFromAndroid12AndLocationBefore() {
        assertEquals(
            listOf("android.permission.BLUETOOTH_SCAN", "android.permission.BLUETOOTH_CONNECT"),
            RuntimePermissions.bluetooth(31),
        )
        assertEquals(listOf("android.permission.ACCESS_FINE_LOCATION"), RuntimePermissions.bluetooth(30))
        assertEquals(listOf("android.permission.ACCESS_FINE_LOCATION"), RuntimePermissions.bluetooth(28))
    }

    @Test
    fun theAdvertAsksFromAndroid12AndNotificationsFrom13() {
        assertEquals(listOf("android.permission.BLUETOOTH_ADVERTISE"), RuntimePermissions.advertise(31))
        assertEquals(emptyList<String>(), RuntimePermissions.advertise(30))
        assertEquals(listOf("android.permission.POST_NOTIFICATIONS"), RuntimePermissions.notifications(33))
        assertEquals(emptyList<String>(), RuntimePermissions.notifications(32))
        assertEquals("android.permission.CAMERA", RuntimePermissions.CAMERA)
    }

    @Test
    fun datesAreTheCoresSecondsInTheGivenFormat() {
        val utc = SimpleDateFormat("yyyy-MM-dd HH:mm:ss", Locale.ROOT).apply { timeZone = TimeZone.getTimeZone("UTC") }
        assertEquals("2023-11-14 22:13:20", formatTime(1_700_000_000u, utc))
        assertEquals("1970-01-01 00:00:00", formatTime(0u, utc))
    }
}
