// The passkeys on this phone: each with its site and account; rename (the user's own label) and
// delete, both confirmed in a dialog.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
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
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.PasskeysState
import com.passkeyphone.coreui.formatTime
import uniffi.authenticator_core.Passkey

@Composable
fun PasskeysScreen(model: MainViewModel, state: PasskeysState) {
    val ui by state.ui.collectAsStateWithLifecycle()
    var renaming by remember { mutableStateOf<Passkey?>(null) }
    var deleting by remember { mutableStateOf<Passkey?>(null) }
    LaunchedEffect(state) { state.load() }

    Column {
        ScreenTitle("Passkeys")
        if (ui.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        ui.error?.let { ErrorCard(it, onDismiss = state::dismissError) }
        if (ui.loaded && ui.passkeys.isEmpty()) {
            Text("No passkeys yet. Sites you register this phone with appear here.", Modifier.padding(16.dp))
        }
        LazyColumn {
            items(ui.passkeys, key = { it.id }) { passkey ->
                ListItem(
                    headlineContent = { Text(PasskeysState.label(passkey)) },
                    supportingContent = { Text("${PasskeysState.subtitle(passkey)} · ${formatTime(passkey.createdAt)}") },
                    trailingContent = {
                        Column {
                            TextButton(onClick = { renaming = passkey }) { Text("Rename") }
                            TextButton(onClick = { deleting = passkey }) { Text("Delete") }
                        }
                    },
                )
            }
        }
    }

    renaming?.let { passkey ->
        var name by remember(passkey.id) { mutableStateOf(passkey.name ?: PasskeysState.label(passkey)) }
        AlertDialog(
            onDismissRequest = { renaming = null },
            title = { Text("Rename passkey") },
            text = { OutlinedTextField(value = name, onValueChange = { name = it }, singleLine = true) },
            confirmButton = {
                TextButton(onClick = {
                    val chosen = name
                    renaming = null
                    model.act { passkeys.rename(passkey.id, chosen) }
                }) { Text("Save") }
            },
            dismissButton = { TextButton(onClick = { renaming = null }) { Text("Cancel") } },
        )
    }
    deleting?.let { passkey ->
        AlertDialog(
            onDismissRequest = { deleting = null },
            title = { Text("Delete passkey?") },
            text = { Text("You will no longer be able to sign in to ${passkey.rpId} with it.") },
            confirmButton = {
                TextButton(onClick = {
                    deleting = null
                    model.act { passkeys.delete(passkey.id) }
                }) { Text("Delete") }
            },
            dismissButton = { TextButton(onClick = { deleting = null }) { Text("Cancel") } },
        )
    }
}
