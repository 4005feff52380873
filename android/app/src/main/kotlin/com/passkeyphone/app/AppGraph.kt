// The process-wide objects: the Authenticator (opened off the main thread, reopened on demand
// when the key store was locked), the prompt queue, the app's own settings, and the one
// workspace watcher (check_workspace long-polls) shared by the screen and the link service.
package com.passkeyphone.app

import android.content.Context
import android.os.Build
import android.provider.Settings
import android.util.Log
import com.passkeyphone.app.platform.AppUserInterface
import com.passkeyphone.app.platform.KeystoreKeyProtector
import com.passkeyphone.app.platform.LogcatLogger
import com.passkeyphone.app.platform.Notifications
import com.passkeyphone.app.platform.PreferencesSettingsStore
import com.passkeyphone.coreui.PromptBroker
import com.passkeyphone.coreui.UserMessage
import com.passkeyphone.coreui.WorkspaceWatcher
import com.passkeyphone.coreui.toUserMessage
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.WorkspaceUpdate
import uniffi.authenticator_core.defaultOptions

sealed interface CoreState {
    data object Opening : CoreState
    data class Ready(val core: Authenticator) : CoreState
    data class Failed(val message: UserMessage) : CoreState
}

class AppGraph(private val context: Context) {
    val prompts = PromptBroker()
    val settings = PreferencesSettingsStore(context)

    /** True while an activity of the app is on screen (prompts then need no notification). */
    val appVisible = MutableStateFlow(false)

    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    private val state = MutableStateFlow<CoreState>(CoreState.Opening)
    val core: StateFlow<CoreState> = state.asStateFlow()

    private val updates = MutableSharedFlow<WorkspaceUpdate>(extraBufferCapacity = 8)
    val workspaceUpdates: SharedFlow<WorkspaceUpdate> = updates.asSharedFlow()
    private var watchers = 0
    private var watcher: Job? = null

    /** Opens the vault; after a failure (say, the key store was locked) it can be called again. */
    fun open() {
        if (state.value is CoreState.Ready) return
        state.value = CoreState.Opening
        scope.launch {
            state.value = try {
                CoreState.Ready(
                    Authenticator.open(
                        dataDir = dataDir().path,
                        keyProtector = KeystoreKeyProtector(context),
                        userInterface = AppUserInterface(context, prompts, appVisible),
                        logger = LogcatLogger(),
                        options = defaultOptions(deviceName()),
                    ),
                )
            } catch (e: AuthenticatorException) {
                CoreState.Failed(e.toUserMessage())
            }
        }
    }

    /** The open Authenticator, waiting for it; null if opening failed. */
    suspend fun awaitCore(): Authenticator? =
        (state.filter { it !is CoreState.Opening }.first() as? CoreState.Ready)?.core

    /** The screen (while visible) and the link service each hold the watcher; one runs. */
    @Synchronized
    fun holdWorkspaceWatcher() {
        if (watchers++ == 0) watcher = scope.launch { watchWorkspace() }
    }

    @Synchronized
    fun releaseWorkspaceWatcher() {
        if (--watchers == 0) watcher?.cancel().also { watcher = null }
    }

    /** After activation: a watcher that stopped because the phone was not activated starts again. */
    @Synchronized
    fun restartWorkspaceWatcher() {
        if (watchers == 0) return
        watcher?.cancel()
        watcher = scope.launch { watchWorkspace() }
    }

    private suspend fun watchWorkspace() {
        val core = awaitCore() ?: return
        val stop = WorkspaceWatcher(core).watch { update ->
            if (!appVisible.value) update.newApprovals.forEach { Notifications.showApprovalRequest(context, it) }
            update.stoppedApprovals.forEach { Notifications.cancelApprovalRequest(context, it) }
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
