// The security key's PIN (the one the computer asks for): set a first one, or change it with the
// current one. Shows the minimum length and the attempts left.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
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
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.PinState

@Composable
fun PinScreen(model: MainViewModel, state: PinState, onDone: () -> Unit) {
    val ui by state.ui.collectAsStateWithLifecycle()
    var current by remember { mutableStateOf("") }
    var new by remember { mutableStateOf("") }
    var again by remember { mutableStateOf("") }
    LaunchedEffect(state) { state.load() }
    LaunchedEffect(ui.saved) {
        if (ui.saved) {
            state.acknowledgeSaved()
            onDone()
        }
    }
    val status = ui.status

    Column(Modifier.fillMaxSize().padding(24.dp)) {
        ScreenTitle(PinState.title(status))
        if (ui.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        ui.error?.let { ErrorCard(it, onDismiss = state::dismissError) }
        status?.let { Text(PinState.describe(it)) }
        if (status?.isSet == true) PinField("Current PIN", current) { current = it }
        PinField("New PIN", new) { new = it }
        PinField("New PIN again", again) { again = it }
        Button(
            enabled = !ui.busy && status != null && new.isNotEmpty(),
            onClick = {
                val (c, n, a) = Triple(current, new, again)
                current = ""
                new = ""
                again = ""
                model.act { if (status?.isSet == true) pin.changePin(c, n, a) else pin.setPin(n, a) }
            },
        ) { Text("Save") }
        TextButton(onClick = onDone) { Text("Cancel") }
    }
}

@Composable
private fun PinField(label: String, value: String, onChange: (String) -> Unit) = OutlinedTextField(
    value = value,
    onValueChange = onChange,
    label = { Text(label) },
    singleLine = true,
    visualTransformation = PasswordVisualTransformation(),
    keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password),
    modifier = Modifier.fillMaxWidth(),
)
