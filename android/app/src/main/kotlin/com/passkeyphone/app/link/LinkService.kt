// The link foreground service: keeps the app alive while it serves the paired computers over
// the relay (and BLE when allowed), and holds the workspace watcher so administrators' requests
// arrive while the app is closed. What it says and when (starting, waiting, connected, the
// core's refusal) is core-ui's LinkServiceState, host-tested; here are only the Android calls.
package com.passkeyphone.app.link

import android.content.Context
import android.content.Intent
import android.content.pm.ServiceInfo
import android.os.Build
import android.util.Log
import androidx.core.app.ServiceCompat
import androidx.core.content.ContextCompat
import androidx.lifecycle.LifecycleService
import androidx.lifecycle.lifecycleScope
import com.passkeyphone.app.graph
import com.passkeyphone.app.platform.Notifications
import com.passkeyphone.app.ui.Permissions
import com.passkeyphone.coreui.LinkServiceState
import com.passkeyphone.coreui.Notices
import kotlinx.coroutines.launch

class LinkService : LifecycleService() {
    private var link: LinkServiceState? = null
    private var started = false

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        val type = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE
        } else {
            0
        }
        val notice = link?.ui?.value?.let { Notices.link(it.text) } ?: Notices.link(LinkServiceState.STARTING)
        try {
            ServiceCompat.startForeground(this, Notices.LINK_ID, Notifications.linkNotification(this, notice), type)
        } catch (e: RuntimeException) {
            // Android 12+ refuses a start from the background (ForegroundServiceStartNotAllowedException).
            Log.w(TAG, "cannot run in the foreground now: ${e.javaClass.simpleName}")
            stopSelf()
            return START_NOT_STICKY
        }
        if (!started) {
            started = true
            graph.watcher.hold()
            lifecycleScope.launch { serve() }
        }
        return START_STICKY
    }

    private suspend fun serve() {
        val core = graph.awaitCore() ?: return stopSelf()
        val context = applicationContext
        val state = LinkServiceState(core) { Notifications.updateLink(context, it) }
        link = state
        val useBle = graph.settings.bleEnabled && Permissions.bluetoothGranted(this)
        // Quick (it only spawns the core's tasks), and on the main thread it cannot race onDestroy.
        if (!state.start(useBle)) stopSelf()
    }

    override fun onDestroy() {
        if (started) graph.watcher.release()
        link?.stop()
        super.onDestroy()
    }

    companion object {
        private const val TAG = "PasskeyPhone"

        /** Starts the service; call while the app is on screen (Android 12+ rule). */
        fun start(context: Context) = ContextCompat.startForegroundService(context, Intent(context, LinkService::class.java))

        fun stop(context: Context) {
            context.stopService(Intent(context, LinkService::class.java))
        }
    }
}
