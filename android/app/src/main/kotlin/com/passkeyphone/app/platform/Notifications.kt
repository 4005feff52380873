// Every notification of the app: channels, the core's notices (UserEvent), "open the app to
// answer" for a waiting prompt, administrators' approval requests (opening the approval
// screen), and the link service's ongoing notification.
package com.passkeyphone.app.platform

import android.Manifest
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import com.passkeyphone.app.R
import com.passkeyphone.app.ui.MainActivity
import com.passkeyphone.coreui.ApprovalsState
import uniffi.authenticator_core.ApprovalRequest
import uniffi.authenticator_core.UserEvent

object Notifications {
    const val LINK_ID = 1
    private const val PROMPT_ID = 2
    private const val EVENT_ID = 3
    private const val APPROVAL_BASE_ID = 1000

    private const val PROMPTS = "prompts"
    private const val EVENTS = "events"
    private const val APPROVALS = "approvals"
    private const val LINK = "link"

    fun createChannels(context: Context) {
        val manager = context.getSystemService(NotificationManager::class.java)
        manager.createNotificationChannels(
            listOf(
                NotificationChannel(PROMPTS, context.getString(R.string.channel_prompts), NotificationManager.IMPORTANCE_HIGH),
                NotificationChannel(EVENTS, context.getString(R.string.channel_events), NotificationManager.IMPORTANCE_DEFAULT),
                NotificationChannel(APPROVALS, context.getString(R.string.channel_approvals), NotificationManager.IMPORTANCE_HIGH),
                NotificationChannel(LINK, context.getString(R.string.channel_link), NotificationManager.IMPORTANCE_LOW),
            ),
        )
    }

    /** A request from a computer waits for the user while the app is not on screen. */
    fun showPromptWaiting(context: Context, message: String) = post(
        context,
        PROMPT_ID,
        builder(context, PROMPTS, "Your computer is asking", message)
            .setPriority(NotificationCompat.PRIORITY_HIGH)
            .setContentIntent(openApp(context, MainActivity.ACTION_ANSWER_PROMPT, null))
            .setAutoCancel(true)
            .build(),
    )

    fun cancelPromptWaiting(context: Context) = NotificationManagerCompat.from(context).cancel(PROMPT_ID)

    /** One notification per request, opening the approval screen on it. */
    fun showApprovalRequest(context: Context, request: ApprovalRequest) = post(
        context,
        APPROVAL_BASE_ID + (request.id.hashCode() and 0xFFFF),
        builder(context, APPROVALS, "Approve registration?", ApprovalsState.summary(request))
            .setPriority(NotificationCompat.PRIORITY_HIGH)
            .setContentIntent(openApp(context, MainActivity.ACTION_OPEN_APPROVAL, request.id))
            .setAutoCancel(true)
            .build(),
    )

    fun cancelApprovalRequest(context: Context, approvalId: String) =
        NotificationManagerCompat.from(context).cancel(APPROVAL_BASE_ID + (approvalId.hashCode() and 0xFFFF))

    fun showEvent(context: Context, event: UserEvent) = post(
        context,
        EVENT_ID,
        builder(context, EVENTS, "Passkey Phone", describe(event))
            .setContentIntent(openApp(context, Intent.ACTION_MAIN, null))
            .setAutoCancel(true)
            .build(),
    )

    fun linkNotification(context: Context, text: String): Notification =
        builder(context, LINK, "Ready for your computers", text)
            .setOngoing(true)
            .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
            .setContentIntent(openApp(context, Intent.ACTION_MAIN, null))
            .build()

    fun updateLink(context: Context, text: String) = post(context, LINK_ID, linkNotification(context, text))

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

    private fun builder(context: Context, channel: String, title: String, text: String) =
        NotificationCompat.Builder(context, channel)
            .setSmallIcon(R.drawable.ic_key)
            .setContentTitle(title)
            .setContentText(text)
            .setStyle(NotificationCompat.BigTextStyle().bigText(text))

    private fun openApp(context: Context, action: String, approvalId: String?): PendingIntent {
        val intent = Intent(context, MainActivity::class.java)
            .setAction(action)
            .addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP or Intent.FLAG_ACTIVITY_NEW_TASK)
        approvalId?.let { intent.putExtra(MainActivity.EXTRA_APPROVAL_ID, it) }
        return PendingIntent.getActivity(
            context,
            (action + approvalId).hashCode(),
            intent,
            PendingIntent.FLAG_IMMUTABLE or PendingIntent.FLAG_UPDATE_CURRENT,
        )
    }

    /** Posts if the user allows notifications (Android 13+ asks at run time). */
    private fun post(context: Context, id: Int, notification: Notification) {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU &&
            ContextCompat.checkSelfPermission(context, Manifest.permission.POST_NOTIFICATIONS) !=
            PackageManager.PERMISSION_GRANTED
        ) {
            return
        }
        try {
            NotificationManagerCompat.from(context).notify(id, notification)
        } catch (e: SecurityException) {
            // Permission withdrawn between the check and the call: nothing to show then.
        }
    }
}
