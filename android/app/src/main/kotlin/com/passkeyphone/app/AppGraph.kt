// The process-wide objects: the Authenticator (core-ui's CoreHolder: opened off the main
// thread, reopened on demand when the key store was locked), the prompt queue, the app's own
// settings, the core's idle upkeep (core-ui's IdleUpkeep), and the one workspace watcher
// (core-ui's SharedWatcher) shared by the screen and the link service. Only the Android pieces live here: the Context, the data folder, the
// device's name, the Keystore protector, logcat and the notification manager.
package com.passkeyphone.app

import android.content.Context
import android.os.Build
import android.provider.Settings
import android.util.Log
import com.passkeyphone.app.platform.KeystoreKeyProtector
import com.passkeyphone.app.platform.LogcatLogger
import com.passkeyphone.app.platform.Notifications
import com.passkeyphone.app.platform.PreferencesSettingsStore
import com.passkeyphone.coreui.BrokeredUserInterface
import com.passkeyphone.coreui.CoreHolder
import com.passkeyphone.coreui.CoreState
import com.passkeyphone.coreui.IdleUpkeep
import com.passkeyphone.coreui.Notices
import com.passkeyphone.coreui.PromptBroker
import com.passkeyphone.coreui.SharedWatcher
import com.passkeyphone.coreui.WorkspaceWatcher
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.WorkspaceUpdate
import uniffi.authenticator_core.defaultOptions

class AppGraph(private val context: Context) {
    val prompts = PromptBroker()
    val settings = PreferencesSettingsStore(context)
    val notices = Notifications.Board(context)

    /** True while an activity of the app is on screen (prompts then need no notification). */
    val appVisible = MutableStateFlow(false)

    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val holder = CoreHolder(scope) {
        Authenticator.open(
            dataDir = dataDir().path,
            keyProtector = KeystoreKeyProtector(context),
            userInterface = BrokeredUserInterface(prompts, { appVisible.value }, notices),
            logger = LogcatLogger(),
            options = defaultOptions(deviceName()),
        )
    }
    val core: StateFlow<CoreState> = holder.core

    private val updates = MutableSharedFlow<WorkspaceUpdate>(extraBufferCapacity = 8)
    val workspaceUpdates: SharedFlow<WorkspaceUpdate> = updates.asSharedFlow()

    /** The screen (while visible) and the link service each hold it; one loop runs. */
    val watcher = SharedWatcher(scope) { watchWorkspace() }

    /** The core's idle upkeep, scheduled when the app leaves the screen (MainActivity.onStop). */
    val upkeep = IdleUpkeep(scope, { holder.awaitCore()?.runIdleMaintenance() })

    fun open() {
        holder.open()
    }

    suspend fun awaitCore(): Authenticator? = holder.awaitCore()

    private suspend fun watchWorkspace() {
        val core = awaitCore() ?: return
        val stop = WorkspaceWatcher(core).watch { update ->
            Notices.apply(update, appVisible.value, notices)
            updates.emit(update)
        }
        Log.i(TAG, "workspace watcher stopped: ${stop.javaClass.simpleName}")
    }

    /** The vault's folder; Auto Backup excludes it (res/xml/data_extraction_rules.xml). */
    private fun dataDir(): File = File(context.filesDir, "authenticator").apply { mkdirs() }

    /** "Pixel 8" or the name the user gave the phone, shown to the administrator. */
    private fun deviceName(): String =
        Settings.Global.getString(context.contentResolver, Settings.Global.DEVICE_NAME)
            ?.takeIf { it.isNotBlank() }?.take(64) ?: "${Build.MANUFACTURER} ${Build.MODEL}".take(64)

    private companion object {
        const val TAG = "PasskeyPhone"
    }
}
