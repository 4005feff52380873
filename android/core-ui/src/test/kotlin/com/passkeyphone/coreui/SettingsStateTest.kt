// The settings screen's state against the real core: key protection as the protector reports
// it, the link service stopped, switches kept in the app's store, an empty audit log.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.KeyProtectionInfo

class SettingsStateTest {
    private class MapStore : SettingsStore {
        override var linkServiceEnabled = false
        override var bleEnabled = true
    }

    @Test
    fun showsKeyProtectionServiceAndSwitches() = Fixture().use { f ->
        runBlocking {
            val store = MapStore()
            val settings = SettingsState(f.core, store, Fixture.direct)
            settings.load()
            val ui = settings.ui.value
            assertEquals(KeyProtectionInfo(false, "kotlin-test-software"), ui.keyProtection)
            assertFalse(ui.linkServiceRunning)
            assertFalse(ui.linkServiceEnabled)
            assertTrue(ui.bleEnabled)
            assertEquals(emptyList<Any>(), ui.auditLog)

            settings.setLinkServiceEnabled(true)
            settings.setBleEnabled(false)
            assertTrue(store.linkServiceEnabled)
            assertFalse(store.bleEnabled)
            assertTrue(settings.ui.value.linkServiceEnabled)
            assertFalse(settings.ui.value.bleEnabled)
        }
    }

    @Test
    fun describesKeyProtection() {
        assertEquals(
            "Android Keystore, StrongBox security chip (key kept in secure hardware)",
            SettingsState.describe(KeyProtectionInfo(true, "android-strongbox")),
        )
        assertEquals(
            "software-key-file (key not in secure hardware)",
            SettingsState.describe(KeyProtectionInfo(false, "software-key-file")),
        )
    }
}
