// The notifications' words: every core notice (UserEvent) as the user reads it, one made by a
// real registration, an approval request's notice, and what a workspace check puts on the
// shade (new requests only while the app is off screen; stopped ones removed either way).
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotEquals
import org.junit.Test
import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.EnrollmentInfo
import uniffi.authenticator_core.KeyState
import uniffi.authenticator_core.RefusedApproval
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.WorkspaceUpdate

class NoticesTest {
    @Test
    fun everyEventInWords() {
        val expected = mapOf(
            UserEvent.PasskeyCreated("crm.example", "alice") to "New passkey for alice at crm.example",
            UserEvent.PasskeyCreated("crm.example", null) to "New passkey for crm.example",
            UserEvent.SignedIn("crm.example", "alice") to "Signed in to crm.example as alice",
            UserEvent.SignedIn("crm.example", null) to "Signed in to crm.example",
            UserEvent.PasskeyDeleted("crm.example", "alice") to "Passkey for alice at crm.example deleted",
            UserEvent.AuthenticatorReset to "All passkeys and the PIN were erased",
            UserEvent.PinChanged to "Your security key PIN was changed",
            UserEvent.RegisteredOnYourBehalf("Ada Admin", "hr.example") to
                "Ada Admin registered a passkey for you at hr.example",
            UserEvent.PinAuthBlocked to "Too many wrong PINs: restart the app to try again",
            UserEvent.PinBlocked to "The PIN is blocked: only a reset makes the security key usable again",
            UserEvent.SilentAssertionsFromComputer("Office PC", 12u, 5u) to
                "Office PC had your phone sign 12 times without asking you within 5 minutes: " +
                "remove it if you do not trust it",
        )
        expected.forEach { (event, text) -> assertEquals(Notice("Passkey Phone", text), Notices.event(event)) }
    }

    @Test
    fun aRealRegistrationIsNoticed() = Fixture().use { f ->
        val response = runBlocking { f.core.handleCtap(Fixture.makeCredential("crm.example", "alice", verify = false)) }
        assertEquals("CTAP2_OK", 0, response[0].toInt())
        val notices = f.ui.events.map(Notices::event)
        assertEquals(listOf(Notice("Passkey Phone", "New passkey for alice at crm.example")), notices)
    }

    private val request = ApprovalRequest("a1", "Ada Admin", "Example Corp", listOf("crm.example", "hr.example"), 2u, 1_900_000_000u)

    private fun update(new: List<ApprovalRequest>, stopped: List<String>, refused: List<RefusedApproval> = emptyList()) =
        WorkspaceUpdate(
            EnrollmentInfo(KeyState.ACTIVE, "Example Corp", "alice@example.com", "Alice", "k1", false),
            new,
            stopped,
            refused,
        )

    @Test
    fun anApprovalRequestNotice() {
        assertEquals(
            Notice(
                "Approve registration?",
                "Ada Admin (Example Corp) asks to register 2 passkeys for you at crm.example, hr.example.",
            ),
            Notices.approvalRequest(request),
        )
        assertEquals(Notices.approvalNotificationId("a1"), Notices.approvalNotificationId("a1"))
        assertNotEquals(Notices.approvalNotificationId("a1"), Notices.approvalNotificationId("a2"))
        for (id in listOf("a1", "", "x".repeat(100))) {
            val n = Notices.approvalNotificationId(id)
            assert(n >= 1000 && n != Notices.LINK_ID && n != Notices.PROMPT_ID && n != Notices.EVENT_ID) { "$id -> $n" }
        }
    }

    @Test
    fun newRequestsAreNotifiedOnlyOffScreenAndStoppedOnesRemoved() {
        val offScreen = RecordingBoard()
        Notices.apply(update(listOf(request), listOf("a0")), appVisible = false, board = offScreen)
        assertEquals(
            listOf(
                "approval a1 Approve registration?: Ada Admin (Example Corp) asks to register 2 passkeys for you " +
                    "at crm.example, hr.example.",
                "cancel approval a0",
            ),
            offScreen.calls,
        )
        val onScreen = RecordingBoard()
        Notices.apply(update(listOf(request), listOf("a0")), appVisible = true, board = onScreen)
        assertEquals(listOf("cancel approval a0"), onScreen.calls)
    }
}
