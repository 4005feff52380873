// Where the user is in the app and what the activity's actions do, over the screens' state
// holders: the tabs and the screens over them, an activation link opened from outside, the
// approval a notification pointed at, and the route of a scanned QR code (a browser's `FIDO:/`
// code waits for the hybrid screen, which serves it once the user has said whether to remember
// the computer; a damaged one is shown there without the core; any other text goes to
// pairing). A session that linked a browser refreshes the linked browsers list. The activity's view model keeps only the Android
// glue (its scope, the link service's start and stop).
//
// Invariants: nothing runs before the core is open (no Screens yet); a waiting `FIDO:/` code
// is served at most once and never kept after; an activation link (a one-time secret) is kept
// only until the activation screen takes it, and neither is logged.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.getAndUpdate
import kotlinx.coroutines.launch
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.HybridAdvertiser

/** Where the user is: one of the tabs, or a screen over them. */
enum class Destination {
    Activation, Passkeys, Computers, Approvals, Settings, Pin, Hybrid;

    companion object {
        /** The bottom bar's tabs, in order, with their labels. */
        val TABS = listOf(Passkeys to "Passkeys", Computers to "Computers", Approvals to "Approvals", Settings to "Settings")

        /**
         * What is on screen: nothing but a spinner while the enrollment loads, activation until
         * the phone is enrolled (whatever was asked), then the screen asked for; a tab otherwise
         * unknown is the passkeys tab. Null: the loading spinner.
         */
        fun shown(step: ActivationState.Step, asked: Destination): Destination? = when {
            step == ActivationState.Step.Loading -> null
            step != ActivationState.Step.Enrolled -> Activation
            else -> asked
        }
    }
}

/** The state holders of every screen, over one open Authenticator. */
class Screens(
    core: Authenticator,
    store: SettingsStore,
    advertiser: HybridAdvertiser,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) {
    val activation = ActivationState(core, dispatcher)
    val pin = PinState(core, dispatcher)
    val passkeys = PasskeysState(core, dispatcher)
    val pairing = PairingState(core, dispatcher)
    val linkedBrowsers = LinkedBrowsersState(core, dispatcher)
    val approvals = ApprovalsState(core, dispatcher)
    val settings = SettingsState(core, store, dispatcher)
    val hybrid = HybridState(core, advertiser, dispatcher)
    val linkedSignIn = LinkedSignInState(core, advertiser, linkedBrowsers, dispatcher)
}

class AppFlow(
    private val scope: CoroutineScope,
    /** The screens once the core is open, null before. */
    private val screens: StateFlow<Screens?>,
    /** After a successful activation (the app restarts its workspace watcher). */
    private val onActivated: () -> Unit = {},
) {
    private val place = MutableStateFlow(Destination.Passkeys)
    val destination: StateFlow<Destination> = place.asStateFlow()

    private val link = MutableStateFlow<String?>(null)

    /** An activation link opened from outside, waiting for the activation screen. */
    val pendingLink: StateFlow<String?> = link.asStateFlow()

    private val hybridCode = MutableStateFlow<String?>(null)

    /** A browser's FIDO:/ code waiting for the hybrid screen (and its permission request). */
    val pendingHybridCode: StateFlow<String?> = hybridCode.asStateFlow()

    private val approval = MutableStateFlow<String?>(null)

    /** The approval a notification pointed at, shown first. */
    val focusedApproval: StateFlow<String?> = approval.asStateFlow()

    fun go(to: Destination) {
        place.value = to
    }

    fun openActivationLink(text: String) {
        link.value = text
        place.value = Destination.Activation
    }

    fun openApproval(id: String?) {
        approval.value = id
        place.value = Destination.Approvals
    }

    /** Runs an action of a screen's state holder; null (nothing runs) before the core is open. */
    fun act(action: suspend Screens.() -> Unit): Job? {
        val open = screens.value ?: return null
        return scope.launch { open.action() }
    }

    /** A scanned QR code: a browser's FIDO:/ code to the hybrid screen, any other to pairing. */
    fun scanned(text: String): Job? = when (val code = ScannedCode.recognize(text)) {
        is ScannedCode.Hybrid -> {
            hybridCode.value = code.text
            place.value = Destination.Hybrid
            null
        }
        is ScannedCode.DamagedHybrid -> {
            screens.value?.hybrid?.rejectScan(code.message)
            place.value = Destination.Hybrid
            null
        }
        is ScannedCode.Pairing -> act { pairing.pair(code.text) }
    }

    /**
     * Serves the waiting FIDO:/ code once, with the user's answer to "Remember this computer?"
     * (the screen calls it after that answer and the permission request; before the answer
     * nothing runs and the code keeps waiting).
     */
    fun serveHybrid(): Job? {
        val open = screens.value ?: return null
        if (open.hybrid.ui.value.consent == null) return null
        val code = hybridCode.getAndUpdate { null } ?: return null
        return act {
            hybrid.serve(code)
            if (hybrid.ui.value.linked != null) linkedBrowsers.load()
        }
    }

    /** The user left the hybrid screen without answering: the waiting code is forgotten. */
    fun discardHybridCode() {
        hybridCode.value = null
        screens.value?.hybrid?.reset()
    }

    /** The link leaves memory once used; an enrolled phone goes on to its passkeys. */
    fun activate(text: String): Job? = act {
        link.value = null
        activation.activate(text)
        if (activation.ui.value.enrollment != null) {
            onActivated()
            place.value = Destination.Passkeys
        }
    }
}
