// Administrators' requests to register passkeys on the user's behalf: who asks, for which sites,
// until when; approve (the phone verifies the user first) or deny. A notification tap lands here
// with its request first.
package com.passkeyphone.app.ui

import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.passkeyphone.coreui.ApprovalsState
import com.passkeyphone.coreui.formatTime

@Composable
fun ApprovalsScreen(model: MainViewModel, state: ApprovalsState) {
    val ui by state.ui.collectAsStateWithLifecycle()
    val focused by model.flow.focusedApproval.collectAsStateWithLifecycle()
    LaunchedEffect(state) { state.load() }
    val requests = ApprovalsState.ordered(ui.pending, focused)

    Column {
        ScreenTitle("Approvals")
        if (ui.busy) LinearProgressIndicator(Modifier.fillMaxWidth())
        ui.error?.let { ErrorCard(it, onDismiss = state::dismissError) }
        ui.lastOutcome?.let { Text(ApprovalsState.describe(it), Modifier.padding(16.dp)) }
        if (requests.isEmpty() && !ui.busy) Text("No requests from administrators.", Modifier.padding(16.dp))
        LazyColumn {
            items(requests, key = { it.id }) { request ->
                Card(Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp)) {
                    Column(Modifier.padding(16.dp)) {
                        Text(ApprovalsState.summary(request), style = MaterialTheme.typography.bodyLarge)
                        Text("Until ${formatTime(request.expiresAt)}", style = MaterialTheme.typography.bodySmall)
                        Row {
                            Button(
                                enabled = !ui.busy,
                                onClick = { model.act { approvals.decide(request.id, approve = true) } },
                            ) { Text("Approve") }
                            OutlinedButton(
                                enabled = !ui.busy,
                                onClick = { model.act { approvals.decide(request.id, approve = false) } },
                                modifier = Modifier.padding(start = 8.dp),
                            ) { Text("Deny") }
                        }
                    }
                }
            }
        }
    }
}
