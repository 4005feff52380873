// The computers paired with this phone: scan the QR code the pairing tool shows (ZXing's
// embedded scanner, after the camera permission), and remove a computer. The same scanner
// takes a browser's FIDO:/ code ("use a phone"): MainViewModel.scanned routes it to hybrid.
// Below them, the browsers linked by such sign-ins (LinkedBrowsersSection), each with "Sign in
// from this computer" (after the advertise permission, as the hybrid screen asks it).
package com.passkeyphone.app.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
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
import com.journeyapps.barcodescanner.ScanContract
import com.journeyapps.barcodescanner.ScanOptions
import com.passkeyphone.coreui.LinkedBrowsersState
import com.passkeyphone.coreui.LinkedSignInState
import com.passkeyphone.coreui.PairingState
import com.passkeyphone.coreui.formatTime
import uniffi.authenticator_core.LinkedBrowser
import uniffi.authenticator_core.PairedComputer

@Composable
fun ComputersScreen(model: MainViewModel, state: PairingState, linked: LinkedBrowsersState, signIn: LinkedSignInState) {
    val ui by state.ui.collectAsStateWithLifecycle()
    val linkedUi by linked.ui.collectAsStateWithLifecycle()
    val signInUi by signIn.ui.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var removing by remember { mutableStateOf<PairedComputer?>(null) }
    LaunchedEffect(state) { state.load() }
    LaunchedEffect(linked) { linked.load() }

    val scanner = rememberLauncherForActivityResult(ScanContract()) { result ->
        result.contents?.let(model.flow::scanned)
    }
    val scanOptions = ScanOptions()
        .setDesiredBarcodeFormats(ScanOptions.QR_CODE)
        .setPrompt("Scan the code your computer or browser shows")
        .setBeepEnabled(false)
        .setOrientationLocked(false)
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) scanner.launch(scanOptions)
    }
    // Waits whatever the user answered: without the permission the core's advertiser reports
    // PermissionDenied once the browser calls, and the row says so.
    var waitFor by remember { mutableStateOf<LinkedBrowser?>(null) }
    val advertise = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {
        waitFor?.let { browser -> model.act { linkedSignIn.signIn(browser) } }
        waitFor = null
    }
    val startSignIn: (LinkedBrowser) -> Unit = { browser ->
        if (Permissions.advertiseGranted(context)) {
            model.act { linkedSignIn.signIn(browser) }
        } else {
            waitFor = browser
            advertise.launch(Permissions.advertise)
        }
    }

    Column {
        ScreenTitle("Computers") {
            Button(onClick = {
                if (Permissions.granted(context, Permissions.CAMERA)) scanner.launch(scanOptions) else camera.launch(Permissions.CAMERA)
            }) { Text("Pair") }
        }
        if (ui.busy || linkedUi.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        ui.error?.let { ErrorCard(it, onDismiss = state::dismissError) }
        ui.justPaired?.let { Text("Paired with ${it.name}.", Modifier.padding(16.dp)) }
        if (ui.computers.isEmpty() && !ui.busy) {
            Text("No computer is paired. Start the pairing tool on your computer and scan its code.", Modifier.padding(16.dp))
        }
        Text(
            "To sign in on any computer without pairing, choose \"use a phone\" in its browser and scan the code it shows.",
            Modifier.padding(horizontal = 16.dp),
        )
        LazyColumn {
            items(ui.computers, key = { it.id }) { computer ->
                ListItem(
                    headlineContent = { Text(computer.name) },
                    supportingContent = { Text("Last used ${formatTime(computer.lastUsedAt)}") },
                    trailingContent = { TextButton(onClick = { removing = computer }) { Text("Remove") } },
                )
            }
            linkedBrowsers(linkedUi, linked, signInUi, signIn, startSignIn)
        }
    }
    ConfirmUnlink(model, linkedUi, linked)

    removing?.let { computer ->
        AlertDialog(
            onDismissRequest = { removing = null },
            title = { Text("Remove ${computer.name}?") },
            text = { Text("It will no longer reach this phone until you pair it again.") },
            confirmButton = {
                TextButton(onClick = {
                    removing = null
                    model.act { pairing.remove(computer.id) }
                }) { Text("Remove") }
            },
            dismissButton = { TextButton(onClick = { removing = null }) { Text("Cancel") } },
        )
    }
}
