// The Application: starts the native side (JNI init), the notification channels, and opens the
// one Authenticator of the process in the background.
package com.passkeyphone.app

import android.app.Application
import com.passkeyphone.app.platform.Notifications

class PasskeyPhoneApp : Application() {
    lateinit var graph: AppGraph
        private set

    override fun onCreate() {
        super.onCreate()
        NativeInit.initialize(this)
        Notifications.createChannels(this)
        graph = AppGraph(this)
        graph.open()
    }
}

/** The app's single graph, reachable from any Context. */
val android.content.Context.graph: AppGraph
    get() = (applicationContext as PasskeyPhoneApp).graph
