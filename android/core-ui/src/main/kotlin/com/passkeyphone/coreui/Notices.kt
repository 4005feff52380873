// What the app's notifications say, and which one replaces which: the core's notices
// (UserEvent), "your computer is asking" for a prompt waiting while the app is off screen,
// administrators' approval requests, and the link service's ongoing line. The app's
// Notifications object only posts these (channels, icons, PendingIntents).
//
// Invariants: a text names only what the core put in its event or request (sites, account
// names, the administrator's name); never a secret. One notification per approval request, its
// id stable across workspace checks so that a stopped request's notification can be removed.
package com.passkeyphone.coreui

import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.WorkspaceUpdate

/** One notification's words. */
data class Notice(val title: String, val text: String)

/** Where notices go (the Android notification manager in the app, a list in tests). */
interface NoticeBoard {
    /** A prompt waits for the user while the app is not on screen (one at a time). */
    fun showPromptWaiting(notice: Notice)

    fun cancelPromptWaiting()

    /** A notice of the core (a passkey made, a PIN blocked, ...). */
    fun showEvent(notice: Notice)

    /** An administrator's request; [approvalId] is the request the notification opens. */
    fun showApproval(approvalId: String, notice: Notice)

    fun cancelApproval(approvalId: String)
}

object Notices {
    const val APP_NAME = "Passkey Phone"

    /** Android notification ids: one each for the link, a waiting prompt, the last event. */
    const val LINK_ID = 1
    const val PROMPT_ID = 2
    const val EVENT_ID = 3
    private const val APPROVAL_BASE_ID = 1000

    fun promptWaiting(message: String) = Notice("Your computer is asking", message)

    fun approvalRequest(request: ApprovalRequest) = Notice("Approve registration?", ApprovalsState.summary(request))

    fun event(event: UserEvent) = Notice(APP_NAME, describe(event))

    fun link(text: String) = Notice("Ready for your computers", text)

    /** The prompt line for choose_account, which has no message of its own from the core. */
    fun chooseAccount(rpId: String) = "Choose an account for $rpId"

    /** The id of a request's notification: the same for the same request, above the fixed ids. */
    fun approvalNotificationId(approvalId: String): Int = APPROVAL_BASE_ID + (approvalId.hashCode() and 0xFFFF)

    /**
     * What a workspace check changes on the notification shade: new requests are shown only
     * while the app is off screen (on screen, the approvals list shows them); stopped ones are
     * removed either way.
     */
    fun apply(update: WorkspaceUpdate, appVisible: Boolean, board: NoticeBoard) {
        if (!appVisible) update.newApprovals.forEach { board.showApproval(it.id, approvalRequest(it)) }
        update.stoppedApprovals.forEach(board::cancelApproval)
    }

    fun describe(event: UserEvent): String = when (event) {
        is UserEvent.PasskeyCreated -> "New passkey for ${account(event.userName)}${event.rpId}"
        is UserEvent.SignedIn -> "Signed in to ${event.rpId}${event.userName?.let { " as $it" } ?: ""}"
        is UserEvent.PasskeyDeleted -> "Passkey for ${account(event.userName)}${event.rpId} deleted"
        is UserEvent.AuthenticatorReset -> "All passkeys and the PIN were erased"
        is UserEvent.PinChanged -> "Your security key PIN was changed"
        is UserEvent.RegisteredOnYourBehalf -> "${event.adminName} registered a passkey for you at ${event.rpId}"
        is UserEvent.PinAuthBlocked -> "Too many wrong PINs: restart the app to try again"
        is UserEvent.PinBlocked -> "The PIN is blocked: only a reset makes the security key usable again"
        is UserEvent.SilentAssertionsFromComputer ->
            "${event.computerName} had your phone sign ${event.count} times without asking you " +
                "within ${event.windowMinutes} minutes: remove it if you do not trust it"
    }

    private fun account(userName: String?) = userName?.let { "$it at " } ?: ""
}
