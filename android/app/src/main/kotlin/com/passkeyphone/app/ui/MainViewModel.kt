// The activity's view model: the screens' state holders (made once the Authenticator is open),
// where the user is in the app, and the actions the screens call, run in viewModelScope;
// scanned codes are routed here (a browser's FIDO:/ code to the hybrid screen, others to pairing).
package com.passkeyphone.app.ui

import android.app.Application
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import com.passkeyphone.app.AppGraph
import com.passkeyphone.app.CoreState
import com.passkeyphone.app.graph
import com.passkeyphone.app.link.LinkService
import com.passkeyphone.app.platform.BleAdvertRadio
import com.passkeyphone.app.platform.PreferencesSettingsStore
import com.passkeyphone.coreui.ActivationState
import com.passkeyphone.coreui.ApprovalsState
import com.passkeyphone.coreui.HybridState
import com.passkeyphone.coreui.LeAdvertiser
import com.passkeyphone.coreui.PairingState
import com.passkeyphone.coreui.PasskeysState
import com.passkeyphone.coreui.PinState
import com.passkeyphone.coreui.ScannedCode
import com.passkeyphone.coreui.SettingsState
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn
import kotlinx.coroutines.launch
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.HybridAdvertiser

/** Where the user is: one of the tabs, or a screen over them. */
enum class Destination { Activation, Passkeys, Computers, Approvals, Settings, Pin, Hybrid }

/** The state holders of every screen, over one open Authenticator. */
class Screens(core: Authenticator, store: PreferencesSettingsStore, advertiser: HybridAdvertiser) {
    val activation = ActivationState(core)
    val pin = PinState(core)
    val passkeys = PasskeysState(core)
    val pairing = PairingState(core)
    val approvals = ApprovalsState(core)
    val settings = SettingsState(core, store)
    val hybrid = HybridState(core, advertiser)
}

class MainViewModel(application: Application) : AndroidViewModel(application) {
    private val graph: AppGraph = application.graph
    val core: StateFlow<CoreState> = graph.core
    val prompts = graph.prompts

    /** The hybrid advert (BluetoothLeAdvertiser); one per activity's model, one advert at a time. */
    private val advertiser = LeAdvertiser(BleAdvertRadio(application))

    val screens: StateFlow<Screens?> = graph.core
        .map { (it as? CoreState.Ready)?.let { ready -> Screens(ready.core, graph.settings, advertiser) } }
        .stateIn(viewModelScope, SharingStarted.Eagerly, null)

    private val place = MutableStateFlow(Destination.Passkeys)
    val destination: StateFlow<Destination> = place.asStateFlow()

    /** An activation link opened from outside, waiting for the activation screen. */
    private val link = MutableStateFlow<String?>(null)
    val pendingLink: StateFlow<String?> = link.asStateFlow()

    /** A browser's FIDO:/ code waiting for the hybrid screen (and its permission request). */
    private val hybridCode = MutableStateFlow<String?>(null)
    val pendingHybridCode: StateFlow<String?> = hybridCode.asStateFlow()

    /** The approval a notification pointed at, shown first. */
    private val approval = MutableStateFlow<String?>(null)
    val focusedApproval: StateFlow<String?> = approval.asStateFlow()

    init {
        viewModelScope.launch {
            graph.workspaceUpdates.collect { update ->
                screens.value?.approvals?.apply(update)
                screens.value?.activation?.load()
            }
        }
    }

    fun go(to: Destination) {
        place.value = to
    }

    fun retryOpen() = graph.open()

    fun openActivationLink(text: String) {
        link.value = text
        place.value = Destination.Activation
    }

    fun openApproval(id: String?) {
        approval.value = id
        place.value = Destination.Approvals
    }

    /** Runs an action of a screen's state holder; nothing happens before the core is open. */
    fun act(action: suspend Screens.() -> Unit) {
        val open = screens.value ?: return
        viewModelScope.launch { open.action() }
    }

    /** A scanned QR code: a browser's FIDO:/ code to the hybrid screen, any other to pairing. */
    fun scanned(text: String) {
        when (val code = ScannedCode.recognize(text)) {
            is ScannedCode.Hybrid -> {
                hybridCode.value = code.text
                place.value = Destination.Hybrid
            }
            is ScannedCode.DamagedHybrid -> {
                screens.value?.hybrid?.rejectScan(code.message)
                place.value = Destination.Hybrid
            }
            is ScannedCode.Pairing -> act { pairing.pair(code.text) }
        }
    }

    /** Serves the waiting FIDO:/ code once (the screen calls it after the permission request). */
    fun serveHybrid() {
        val code = hybridCode.value ?: return
        hybridCode.value = null
        act { hybrid.serve(code) }
    }

    fun activate(text: String) = act {
        link.value = null
        activation.activate(text)
        if (activation.ui.value.enrollment != null) {
            graph.restartWorkspaceWatcher()
            place.value = Destination.Passkeys
        }
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
