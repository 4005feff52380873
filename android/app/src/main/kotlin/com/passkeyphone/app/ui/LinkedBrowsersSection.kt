// The browsers linked to this phone (hybrid sign-ins the user let the phone remember), as a
// section of the Computers screen: each with its name and when it was linked and last used,
// Remove with a confirmation. Thin over core-ui's LinkedBrowsersState, which holds the list,
// the browser being confirmed, the texts and the errors.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyListScope
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import com.passkeyphone.coreui.LinkedBrowsersState

/** The section's rows, inside the Computers screen's list. */
fun LazyListScope.linkedBrowsers(ui: LinkedBrowsersState.Ui, state: LinkedBrowsersState) {
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
            supportingContent = { Text(LinkedBrowsersState.whenUsed(browser)) },
            trailingContent = { TextButton(onClick = { state.askRemove(browser) }) { Text("Remove") } },
        )
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
