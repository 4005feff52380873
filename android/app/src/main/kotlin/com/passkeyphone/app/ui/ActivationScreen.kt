// Activation: the administrator's link (from the email, opened or pasted), then the activation
// PIN sent separately, which becomes the security key's PIN; then the enrollment's status.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.ActivationState
import com.passkeyphone.coreui.ActivationState.Step
import com.passkeyphone.coreui.Destination

@Composable
fun ActivationScreen(model: MainViewModel, state: ActivationState, enrolled: Boolean) {
    val ui by state.ui.collectAsStateWithLifecycle()
    val opened by model.flow.pendingLink.collectAsStateWithLifecycle()
    // The link text stays in memory only (it holds a one-time secret).
    var link by remember(opened) { mutableStateOf(opened.orEmpty()) }
    var pin by remember { mutableStateOf("") }

    Column(Modifier.fillMaxSize().verticalScroll(rememberScrollState()).padding(24.dp)) {
        ScreenTitle("Activate this phone")
        if (ui.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        ui.error?.let { ErrorCard(it, onDismiss = state::dismissError) }
        ui.enrollment?.let { Text(ActivationState.describe(it)) }
        when (ui.step) {
            Step.NeedPin -> {
                Text("Enter the PIN your administrator sent you. It becomes this security key's PIN.")
                OutlinedTextField(
                    value = pin,
                    onValueChange = { pin = it },
                    label = { Text("Activation PIN") },
                    visualTransformation = PasswordVisualTransformation(),
                    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
                    singleLine = true,
                    modifier = Modifier.fillMaxWidth(),
                )
                Button(
                    enabled = !ui.busy && pin.isNotEmpty(),
                    onClick = {
                        val entered = pin
                        pin = ""
                        model.act { activation.submitPin(entered) }
                    },
                ) { Text("Submit PIN") }
            }
            else -> {
                Text(
                    "Open the activation link from your administrator's email on this phone, or paste it here.",
                    style = MaterialTheme.typography.bodyMedium,
                )
                ui.workspaceHost?.let { Text("Workspace: $it") }
                OutlinedTextField(
                    value = link,
                    onValueChange = { link = it },
                    label = { Text("Activation link") },
                    modifier = Modifier.fillMaxWidth(),
                )
                Button(enabled = !ui.busy && link.isNotBlank(), onClick = { model.flow.activate(link.trim()) }) {
                    Text("Activate")
                }
            }
        }
        if (enrolled) TextButton(onClick = { model.go(Destination.Passkeys) }) { Text("Back") }
    }
}
