// The lines the screens show, moved out of the Compose code: the PIN screen's title and
// policy line as the real core's PIN status makes them (before and after a first PIN, after a
// wrong one), the enrollment line, an approval decision's outcome and the approvals' order,
// the account chooser, and the settings' link and Bluetooth lines.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test
import uniffi.authenticator_core.AccountOption
import uniffi.authenticator_core.ApprovalOutcome
import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.EnrollmentInfo
import uniffi.authenticator_core.KeyState
import uniffi.authenticator_core.PinStatus

class ScreenTextsTest {
    @Test
    fun thePinScreenFollowsTheCoresPinStatus() = Fixture().use { f ->
        runBlocking {
            val pin = PinState(f.core, Fixture.direct)
            pin.load()
            val fresh = pin.ui.value.status!!
            assertEquals("Set a PIN", PinState.title(fresh))
            assertEquals("At least ${fresh.minLength} characters.", PinState.describe(fresh))
            pin.setPin("135790", "135790")
            pin.changePin("000000", "24681357", "24681357")
            val set = pin.ui.value.status!!
            assertEquals("Change PIN", PinState.title(set))
            assertEquals("At least ${set.minLength} characters. 7 attempts left.", PinState.describe(set))
        }
        assertEquals("Set a PIN", PinState.title(null))
        assertEquals(
            "At least 6 characters. 8 attempts left. Your PIN must be changed before its next use.",
            PinState.describe(PinStatus(isSet = true, retriesLeft = 8u, minLength = 6u, mustChange = true)),
        )
    }

    @Test
    fun theEnrollmentLine() {
        val info = EnrollmentInfo(KeyState.ACTIVE, "Example Corp", "alice@example.com", "Alice", "k1", false)
        assertEquals("Alice (alice@example.com) at Example Corp: active", ActivationState.describe(info))
        assertEquals(
            "Alice (alice@example.com) at Example Corp: pending",
            ActivationState.describe(info.copy(status = KeyState.PENDING)),
        )
    }

    @Test
    fun anApprovalsOutcome() {
        assertEquals(
            "Registered at crm.example, hr.example.",
            ApprovalsState.describe(ApprovalOutcome(listOf("crm.example", "hr.example"), 2u, null, "done")),
        )
        assertEquals(
            "Approved; nothing was registered (the administrator's tool stopped).",
            ApprovalsState.describe(ApprovalOutcome(emptyList(), 0u, null, "the administrator's tool stopped")),
        )
        assertEquals(
            "Declined (user declined).",
            ApprovalsState.describe(ApprovalOutcome(emptyList(), 0u, "user declined", "refused")),
        )
    }

    @Test
    fun theAccountChooser() {
        assertEquals("Sign in to crm.example as", PromptBroker.chooseAccountTitle("crm.example"))
        assertEquals("Alice A.", PromptBroker.accountLabel(AccountOption("alice", "Alice A.", 1u), 0))
        assertEquals("alice", PromptBroker.accountLabel(AccountOption("alice", null, 1u), 0))
        assertEquals("Account 3", PromptBroker.accountLabel(AccountOption(null, null, 1u), 2))
    }

    @Test
    fun theFocusedApprovalComesFirst() {
        val a = ApprovalRequest("a", "Ada", "Example Corp", listOf("crm.example"), 1u, 100u)
        val b = ApprovalRequest("b", "Ada", "Example Corp", listOf("hr.example"), 1u, 200u)
        val c = ApprovalRequest("c", "Ada", "Example Corp", listOf("wiki.example"), 1u, 300u)
        assertEquals(listOf("b", "a", "c"), ApprovalsState.ordered(listOf(a, b, c), "b").map { it.id })
        assertEquals(listOf("a", "b", "c"), ApprovalsState.ordered(listOf(a, b, c), null).map { it.id })
        assertEquals(listOf("a", "b", "c"), ApprovalsState.ordered(listOf(a, b, c), "gone").map { it.id })
    }

    @Test
    fun theSettingsLinesFollowTheCoresLinkService() = Fixture().use { f ->
        val store = object : SettingsStore {
            override var linkServiceEnabled = true
            override var bleEnabled = false
        }
        val settings = SettingsState(f.core, store, Fixture.direct)
        settings.refreshRunning()
        assertEquals("Stopped", SettingsState.describeLink(settings.ui.value.linkServiceRunning))
        val link = LinkServiceState(f.core) {}
        link.start(useBle = false)
        settings.refreshRunning()
        assertEquals("Running", SettingsState.describeLink(settings.ui.value.linkServiceRunning))
        link.stop()
        assertEquals("Reach computers nearby without the internet", SettingsState.describeBluetooth(true))
        assertEquals("Not available in this build", SettingsState.describeBluetooth(false))
    }
}
