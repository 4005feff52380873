// The activity's view model: Android glue over core-ui's AppFlow (where the user is, the scan
// routing, the actions of the screens' state holders, all host-tested): it makes the Screens
// once the Authenticator is open, runs the actions in viewModelScope, forwards workspace
// updates to the screens, and starts or stops the link service as the settings ask.
package com.passkeyphone.app.ui

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import com.passkeyphone.app.AppGraph
import com.passkeyphone.app.graph
import com.passkeyphone.app.link.LinkService
import com.passkeyphone.app.platform.BleAdvertRadio
import com.passkeyphone.coreui.AppFlow
import com.passkeyphone.coreui.CoreState
import com.passkeyphone.coreui.Destination
import com.passkeyphone.coreui.LeAdvertiser
import com.passkeyphone.coreui.Screens
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch

class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val graph: AppGraph = application.graph
    val core: StateFlow<CoreState> = graph.core
    val prompts = graph.prompts

    /** The hybrid advert (BluetoothLeAdvertiser); one per activity's model, one advert at a time. */
    private val advertiser = LeAdvertiser(BleAdvertRadio(application))

    val screens: StateFlow<Screens?> = graph.core
        .map { (it as? CoreState.Ready)?.let { ready -> Screens(ready.core, graph.settings, advertiser) } }
        .stateIn(viewModelScope, SharingStarted.Eagerly, null)

    /** Navigation, scans and the screens' actions (core-ui). */
    val flow = AppFlow(viewModelScope, screens, onActivated = graph.watcher::restart)

    init {
        viewModelScope.launch {
            graph.workspaceUpdates.collect { update ->
                screens.value?.approvals?.apply(update)
                screens.value?.activation?.load()
            }
        }
    }

    fun go(to: Destination) = flow.go(to)

    fun retryOpen() = graph.open()

    fun act(action: suspend Screens.() -> Unit) {
        flow.act(action)
    }

    /** Starts or stops the link service as the settings ask (call while the app is on screen). */
    fun applyLinkSetting() {
        val context = getApplication<Application>()
        if (graph.settings.linkServiceEnabled) LinkService.start(context) else LinkService.stop(context)
        screens.value?.settings?.refreshRunning()
    }

    fun setLinkService(enabled: Boolean) {
        screens.value?.settings?.setLinkServiceEnabled(enabled)
        applyLinkSetting()
    }

    /** A changed BLE choice takes effect on the next start of the service. */
    fun setBle(enabled: Boolean) {
        screens.value?.settings?.setBleEnabled(enabled)
        if (graph.settings.linkServiceEnabled) {
            val context = getApplication<Application>()
            LinkService.stop(context)
            LinkService.start(context)
        }
    }
}
