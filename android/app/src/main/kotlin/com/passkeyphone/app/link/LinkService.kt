// The link foreground service: keeps the app alive while it serves the paired computers over
// the relay (and BLE when allowed), shows what the link does in its ongoing notification, and
// holds the workspace watcher so administrators' requests arrive while the app is closed.
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
import com.passkeyphone.coreui.asSentence
import com.passkeyphone.coreui.toUserMessage
import kotlinx.coroutines.launch
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.LinkObserver
import uniffi.authenticator_core.LinkServiceEvent

class LinkService : LifecycleService() {
    private var core: Authenticator? = null
    private var started = false

    override fun onStartCommand(intent: Intent?, flags: Int, startId: Int): Int {
        super.onStartCommand(intent, flags, startId)
        val type = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) {
            ServiceInfo.FOREGROUND_SERVICE_TYPE_CONNECTED_DEVICE
        } else {
            0
        }
        try {
            ServiceCompat.startForeground(this, Notifications.LINK_ID, Notifications.linkNotification(this, "Starting…"), type)
        } catch (e: RuntimeException) {
            // Android 12+ refuses a start from the background (ForegroundServiceStartNotAllowedException).
            Log.w(TAG, "cannot run in the foreground now: ${e.javaClass.simpleName}")
            stopSelf()
            return START_NOT_STICKY
        }
        if (!started) {
            started = true
            graph.holdWorkspaceWatcher()
            lifecycleScope.launch { serve() }
        }
        return START_STICKY
    }

    private suspend fun serve() {
        val core = graph.awaitCore() ?: return stopSelf()
        this.core = core
        val useBle = graph.settings.bleEnabled && Permissions.bluetoothGranted(this)
        try {
            // Quick (it only spawns the core's tasks), and on the main thread it cannot race onDestroy.
            core.startLinkService(useBle, Observer(applicationContext))
            Notifications.updateLink(this, if (useBle) "Waiting for your computers (relay and Bluetooth)" else "Waiting for your computers (relay)")
        } catch (e: AuthenticatorException) {
            Notifications.updateLink(this, e.toUserMessage().detail)
            stopSelf()
        }
    }

    override fun onDestroy() {
        if (started) graph.releaseWorkspaceWatcher()
        core?.stopLinkService()
        super.onDestroy()
    }

    /** Turns the core's link events into the ongoing notification's text. */
    private class Observer(private val context: Context) : LinkObserver {
        override fun onLinkEvent(event: LinkServiceEvent) {
            val text = when (event) {
                is LinkServiceEvent.Connected -> "Connected to ${event.computer} (${event.transport})"
                is LinkServiceEvent.Served -> "Answered ${event.computer}"
                is LinkServiceEvent.Ended -> "Waiting for your computers"
                is LinkServiceEvent.Refused -> "Refused a connection: ${asSentence(event.reason)}"
                is LinkServiceEvent.RelayTrouble -> "Relay unreachable, retrying: ${asSentence(event.reason)}"
                is LinkServiceEvent.BluetoothUnavailable -> "Bluetooth off, using the relay: ${asSentence(event.reason)}"
            }
            Notifications.updateLink(context, text)
        }
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
