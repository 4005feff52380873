// Settings: what protects the vault key, the security key's PIN, the link service and BLE
// switches (asking for the Bluetooth permissions when BLE is turned on), and the audit log.
package com.passkeyphone.app.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.app.NativeInit
import com.passkeyphone.coreui.Destination
import com.passkeyphone.coreui.SettingsState
import com.passkeyphone.coreui.formatTime

@Composable
fun SettingsScreen(model: MainViewModel, state: SettingsState) {
    val ui by state.ui.collectAsStateWithLifecycle()
    val context = LocalContext.current
    LaunchedEffect(state) { state.load() }
    val bluetooth = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { result ->
        if (result.values.all { it }) model.setBle(true)
    }

    LazyColumn {
        item { ScreenTitle("Settings") }
        item { if (ui.busy) LinearProgressIndicator(Modifier.fillMaxWidth()) }
        ui.error?.let { item { ErrorCard(it, onDismiss = state::dismissError) } }
        item {
            ListItem(
                headlineContent = { Text("Key protection") },
                supportingContent = { Text(ui.keyProtection?.let { SettingsState.describe(it) } ?: "…") },
            )
        }
        item {
            ListItem(
                headlineContent = { Text("Security key PIN") },
                trailingContent = { TextButton(onClick = { model.go(Destination.Pin) }) { Text("Set or change") } },
            )
        }
        item {
            ListItem(
                headlineContent = { Text("Serve my computers") },
                supportingContent = { Text(SettingsState.describeLink(ui.linkServiceRunning)) },
                trailingContent = { Switch(checked = ui.linkServiceEnabled, onCheckedChange = model::setLinkService) },
            )
        }
        item {
            ListItem(
                headlineContent = { Text("Bluetooth") },
                supportingContent = {
                    Text(SettingsState.describeBluetooth(NativeInit.initialized))
                },
                trailingContent = {
                    Switch(
                        checked = ui.bleEnabled,
                        onCheckedChange = { on ->
                            if (!on || Permissions.bluetoothGranted(context)) model.setBle(on) else bluetooth.launch(Permissions.bluetooth)
                        },
                    )
                },
            )
        }
        item { Text("Audit log", style = MaterialTheme.typography.titleMedium, modifier = Modifier.fillMaxWidth()) }
        if (ui.auditLog.isEmpty()) item { ListItem(headlineContent = { Text("Nothing yet") }) }
        items(ui.auditLog, key = { it.seq.toString() }) { record ->
            ListItem(
                headlineContent = { Text(formatTime(record.at)) },
                supportingContent = { Text(SettingsState.describe(record)) },
            )
        }
    }
}
