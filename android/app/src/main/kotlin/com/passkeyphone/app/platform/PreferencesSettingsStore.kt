// The app's own switches (link service, BLE) in SharedPreferences, for SettingsState.
package com.passkeyphone.app.platform

import android.content.Context
import androidx.core.content.edit
import com.passkeyphone.coreui.SettingsStore

class PreferencesSettingsStore(context: Context) : SettingsStore {
    private val prefs = context.getSharedPreferences("settings", Context.MODE_PRIVATE)

    override var linkServiceEnabled: Boolean
        get() = prefs.getBoolean(LINK, true)
        set(value) = prefs.edit { putBoolean(LINK, value) }

    override var bleEnabled: Boolean
        get() = prefs.getBoolean(BLE, true)
        set(value) = prefs.edit { putBoolean(BLE, value) }

    private companion object {
        const val LINK = "link_service"
        const val BLE = "ble"
    }
}
