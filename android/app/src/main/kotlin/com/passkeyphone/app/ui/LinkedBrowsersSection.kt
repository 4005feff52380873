// The browsers linked to this phone (hybrid sign-ins the user let the phone remember), as a
// section of the Computers screen: each with its name and when it was linked and last used,
// Remove with a confirmation, and "Sign in from this computer" (the phone waits for that
// browser: its progress, Cancel and outcome under the row). Thin over core-ui's
// LinkedBrowsersState and LinkedSignInState, which hold the list, the browser being confirmed
// or waited for, the texts and the errors.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyListScope
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import com.passkeyphone.coreui.HybridState
import com.passkeyphone.coreui.LinkedBrowsersState
import com.passkeyphone.coreui.LinkedSignInState
import uniffi.authenticator_core.LinkedBrowser

/** The section's rows, inside the Computers screen's list; [startSignIn] asks for the advertise permission first. */
fun LazyListScope.linkedBrowsers(
    ui: LinkedBrowsersState.Ui,
    state: LinkedBrowsersState,
    signIn: LinkedSignInState.Ui,
    signInState: LinkedSignInState,
    startSignIn: (LinkedBrowser) -> Unit,
) {
    item(key = "linked-title") {
        Text("Linked browsers", style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp))
    }
    ui.error?.let { item(key = "linked-error") { ErrorCard(it, onDismiss = state::dismissError) } }
    ui.removed?.let { item(key = "linked-removed") { Text(LinkedBrowsersState.removed(it), Modifier.padding(horizontal = 16.dp)) } }
    if (ui.loaded && ui.browsers.isEmpty()) {
        item(key = "linked-empty") { Text(LinkedBrowsersState.EMPTY, Modifier.padding(horizontal = 16.dp)) }
    }
    items(ui.browsers, key = { "linked-" + LinkedBrowsersState.key(it) }) { browser ->
        ListItem(
            headlineContent = { Text(browser.name) },
            supportingContent = {
                Column {
                    Text(LinkedBrowsersState.whenUsed(browser))
                    if (!signIn.running) {
                        TextButton(onClick = { startSignIn(browser) }) { Text(LinkedSignInState.SIGN_IN) }
                    }
                }
            },
            trailingContent = { TextButton(onClick = { state.askRemove(browser) }) { Text("Remove") } },
        )
        val shown = signIn.browser
        if (shown != null && LinkedBrowsersState.key(shown) == LinkedBrowsersState.key(browser)) {
            SignInProgress(signIn, signInState)
        }
    }
    // The outcome of a sign-in whose row is gone (the link was removed meanwhile).
    val orphan = signIn.browser?.takeIf { b -> ui.browsers.none { LinkedBrowsersState.key(it) == LinkedBrowsersState.key(b) } }
    if (orphan != null) item(key = "linked-sign-in-orphan") { SignInProgress(signIn, signInState) }
}

/** Under the row being served: waiting and the advert's steps with Cancel, then the outcome. */
@Composable
private fun SignInProgress(ui: LinkedSignInState.Ui, state: LinkedSignInState) {
    val name = ui.browser?.name ?: return
    Column(Modifier.padding(horizontal = 16.dp)) {
        if (ui.running) {
            LinearProgressIndicator(Modifier.fillMaxWidth())
            Text(LinkedSignInState.describe(ui.step, name), Modifier.padding(vertical = 8.dp))
            TextButton(onClick = state::cancel) { Text("Cancel") }
        } else {
            ui.served?.let { Text(HybridState.describe(it), Modifier.padding(vertical = 8.dp)) }
            ui.error?.let { ErrorCard(it) }
            TextButton(onClick = state::reset) { Text("Done") }
        }
    }
}

/** The confirmation of a removal the user asked for. */
@Composable
fun ConfirmUnlink(model: MainViewModel, ui: LinkedBrowsersState.Ui, state: LinkedBrowsersState) {
    val browser = ui.confirming ?: return
    AlertDialog(
        onDismissRequest = state::cancelRemove,
        title = { Text(LinkedBrowsersState.confirmTitle(browser)) },
        text = { Text(LinkedBrowsersState.CONFIRM_TEXT) },
        confirmButton = { TextButton(onClick = { model.act { linkedBrowsers.confirmRemove() } }) { Text("Remove") } },
        dismissButton = { TextButton(onClick = state::cancelRemove) { Text("Cancel") } },
    )
}
