// The phone serving a browser's `FIDO:/` code ("use a phone" in the browser): asks "Remember
// this computer?" (a name, or not this time; core-ui's HybridState checks the answer), then
// the advertise permission (Android 12+), then shows the session's progress (connecting,
// advertising, connected), a Cancel button, and the outcome (registered or signed in at the
// site, and whether the browser was linked) or the core's error. The prompts of the request
// itself come through PromptHost.
package com.passkeyphone.app.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.Destination
import com.passkeyphone.coreui.HybridState

@Composable
fun HybridScreen(model: MainViewModel, state: HybridState) {
    val ui by state.ui.collectAsStateWithLifecycle()
    val pending by model.flow.pendingHybridCode.collectAsStateWithLifecycle()
    val context = LocalContext.current
    // Serve whatever the user answered: without the permission the core's advertiser reports
    // PermissionDenied and the screen says so.
    val permission = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        model.flow.serveHybrid()
    }
    val asking = pending != null && ui.consent == null
    LaunchedEffect(pending, ui.consent) {
        if (pending == null || ui.consent == null) return@LaunchedEffect
        if (Permissions.advertiseGranted(context)) model.flow.serveHybrid() else permission.launch(Permissions.advertise)
    }

    Column(Modifier.padding(16.dp)) {
        ScreenTitle("Sign in on a computer")
        if (asking) {
            var name by remember(pending) { mutableStateOf(HybridState.DEFAULT_NAME) }
            Text(HybridState.LINK_QUESTION)
            Text(HybridState.LINK_EXPLANATION, Modifier.padding(vertical = 8.dp))
            OutlinedTextField(value = name, onValueChange = { name = it }, singleLine = true, label = { Text("Name") })
            Button(onClick = { state.consent(name) }) { Text("Remember it") }
            TextButton(onClick = { state.consent(null) }) { Text("Not this time") }
            TextButton(onClick = {
                model.flow.discardHybridCode()
                model.go(Destination.Computers)
            }) { Text("Cancel") }
        }
        if (ui.running) {
            LinearProgressIndicator(Modifier.fillMaxWidth())
            Text(HybridState.describe(ui.step), Modifier.padding(vertical = 16.dp))
            Button(onClick = state::cancel) { Text("Cancel") }
        }
        ui.served?.let { Text(HybridState.describe(it), Modifier.padding(vertical = 16.dp)) }
        HybridState.describeLink(ui)?.let { Text(it, Modifier.padding(bottom = 16.dp)) }
        ui.error?.let { ErrorCard(it) }
        if (!ui.running && !asking) {
            TextButton(onClick = {
                state.reset()
                model.go(Destination.Computers)
            }) { Text("Done") }
        }
    }
}
