// The Compose root: opening state of the vault, activation until the phone is enrolled, then the
// four tabs (passkeys, computers, approvals, settings), the PIN screen and the hybrid screen
// (a browser's FIDO:/ code); prompts on top.
package com.passkeyphone.app.ui

import android.os.Build
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.Icon
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.dynamicDarkColorScheme
import androidx.compose.material3.dynamicLightColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.painterResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.app.R
import com.passkeyphone.coreui.ActivationState
import com.passkeyphone.coreui.CoreState
import com.passkeyphone.coreui.Destination
import com.passkeyphone.coreui.Screens

@Composable
fun App(model: MainViewModel) {
    AppTheme {
        // Edge to edge (always on Android 15): keep content clear of the system bars.
        Surface(Modifier.fillMaxSize().safeDrawingPadding()) {
            val core by model.core.collectAsStateWithLifecycle()
            when (val state = core) {
                CoreState.Opening -> Centered { CircularProgressIndicator() }
                is CoreState.Failed -> Centered {
                    ErrorCard(state.message)
                    if (state.message.canRetry) Button(onClick = model::retryOpen) { Text("Try again") }
                }
                is CoreState.Ready -> {
                    val screens by model.screens.collectAsStateWithLifecycle()
                    screens?.let { Main(model, it) }
                }
            }
        }
        PromptHost(model.prompts)
        AskForNotifications()
    }
}

@Composable
private fun Main(model: MainViewModel, screens: Screens) {
    val activation by screens.activation.ui.collectAsStateWithLifecycle()
    val destination by model.flow.destination.collectAsStateWithLifecycle()
    LaunchedEffect(screens) { screens.activation.load() }
    val enrolled = activation.step == ActivationState.Step.Enrolled
    when (val shown = Destination.shown(activation.step, destination)) {
        null -> Centered { CircularProgressIndicator() }
        Destination.Activation -> ActivationScreen(model, screens.activation, enrolled)
        Destination.Pin -> PinScreen(model, screens.pin, onDone = { model.go(Destination.Settings) })
        Destination.Hybrid -> HybridScreen(model, screens.hybrid)
        else -> Scaffold(bottomBar = { Tabs(shown, model::go) }) { padding ->
            Box(Modifier.padding(padding)) {
                when (shown) {
                    Destination.Computers -> ComputersScreen(model, screens.pairing, screens.linkedBrowsers, screens.linkedSignIn)
                    Destination.Approvals -> ApprovalsScreen(model, screens.approvals)
                    Destination.Settings -> SettingsScreen(model, screens.settings)
                    else -> PasskeysScreen(model, screens.passkeys)
                }
            }
        }
    }
}

@Composable
private fun Tabs(current: Destination, go: (Destination) -> Unit) {
    NavigationBar {
        for ((tab, label) in Destination.TABS) {
            NavigationBarItem(
                selected = current == tab,
                onClick = { go(tab) },
                icon = { Icon(painterResource(R.drawable.ic_key), contentDescription = null) },
                label = { Text(label) },
            )
        }
    }
}

/** Android 13+: notifications (prompts, approvals, the link) need the user's permission. */
@Composable
private fun AskForNotifications() {
    val context = LocalContext.current
    val launcher = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { }
    LaunchedEffect(Unit) {
        if (!Permissions.notificationsGranted(context)) launcher.launch(Permissions.notifications)
    }
}

@Composable
private fun Centered(content: @Composable () -> Unit) {
    Column(
        Modifier.fillMaxSize().padding(24.dp),
        horizontalAlignment = Alignment.CenterHorizontally,
        verticalArrangement = Arrangement.Center,
    ) { content() }
}

@Composable
private fun AppTheme(content: @Composable () -> Unit) {
    val dark = isSystemInDarkTheme()
    val context = LocalContext.current
    val colors = when {
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.S && dark -> dynamicDarkColorScheme(context)
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.S -> dynamicLightColorScheme(context)
        dark -> darkColorScheme()
        else -> lightColorScheme()
    }
    MaterialTheme(colorScheme = colors, content = content)
}
