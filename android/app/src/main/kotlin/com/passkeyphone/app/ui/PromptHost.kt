// The core's questions as dialogs: "Allow" for presence, a list for choosing an account.
// Verification is not here: MainActivity runs the system's BiometricPrompt for it.
package com.passkeyphone.app.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.Prompt
import com.passkeyphone.coreui.PromptBroker

@Composable
fun PromptHost(broker: PromptBroker) {
    val prompt by broker.current.collectAsStateWithLifecycle()
    when (val p = prompt) {
        is Prompt.Presence -> AlertDialog(
            onDismissRequest = { broker.answer(p.id, false) },
            title = { Text("Allow?") },
            text = { Text(p.prompt.message) },
            confirmButton = { TextButton(onClick = { broker.answer(p.id, true) }) { Text("Allow") } },
            dismissButton = { TextButton(onClick = { broker.answer(p.id, false) }) { Text("Deny") } },
        )
        is Prompt.ChooseAccount -> AlertDialog(
            onDismissRequest = { broker.answerAccount(p.id, null) },
            title = { Text(PromptBroker.chooseAccountTitle(p.rpId)) },
            text = {
                Column {
                    p.accounts.forEachIndexed { index, account ->
                        Column(
                            Modifier.fillMaxWidth()
                                .clickable { broker.answerAccount(p.id, index.toUInt()) }
                                .padding(vertical = 12.dp),
                        ) {
                            Text(PromptBroker.accountLabel(account, index))
                            account.userName?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                        }
                        HorizontalDivider()
                    }
                }
            },
            confirmButton = {},
            dismissButton = { TextButton(onClick = { broker.answerAccount(p.id, null) }) { Text("Cancel") } },
        )
        is Prompt.Verify, null -> Unit
    }
}
