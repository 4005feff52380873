// Every notification of the app on Android: channels, and core-ui's notices (their words and
// ids are core-ui's Notices, host-tested) posted with their PendingIntents: "open the app to
// answer" for a waiting prompt, administrators' approval requests (opening the approval
// screen), the core's events, and the link service's ongoing notification.
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
import com.passkeyphone.coreui.Notice
import com.passkeyphone.coreui.NoticeBoard
import com.passkeyphone.coreui.Notices

object Notifications {
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

    /** core-ui's notices on the notification shade. */
    class Board(context: Context) : NoticeBoard {
        private val context = context.applicationContext

        override fun showPromptWaiting(notice: Notice) = post(
            context,
            Notices.PROMPT_ID,
            builder(context, PROMPTS, notice)
                .setPriority(NotificationCompat.PRIORITY_HIGH)
                .setContentIntent(openApp(context, MainActivity.ACTION_ANSWER_PROMPT, null))
                .setAutoCancel(true)
                .build(),
        )

        override fun cancelPromptWaiting() = NotificationManagerCompat.from(context).cancel(Notices.PROMPT_ID)

        override fun showEvent(notice: Notice) = post(
            context,
            Notices.EVENT_ID,
            builder(context, EVENTS, notice)
                .setContentIntent(openApp(context, Intent.ACTION_MAIN, null))
                .setAutoCancel(true)
                .build(),
        )

        /** One notification per request, opening the approval screen on it. */
        override fun showApproval(approvalId: String, notice: Notice) = post(
            context,
            Notices.approvalNotificationId(approvalId),
            builder(context, APPROVALS, notice)
                .setPriority(NotificationCompat.PRIORITY_HIGH)
                .setContentIntent(openApp(context, MainActivity.ACTION_OPEN_APPROVAL, approvalId))
                .setAutoCancel(true)
                .build(),
        )

        override fun cancelApproval(approvalId: String) =
            NotificationManagerCompat.from(context).cancel(Notices.approvalNotificationId(approvalId))
    }

    fun linkNotification(context: Context, notice: Notice): Notification =
        builder(context, LINK, notice)
            .setOngoing(true)
            .setForegroundServiceBehavior(NotificationCompat.FOREGROUND_SERVICE_IMMEDIATE)
            .setContentIntent(openApp(context, Intent.ACTION_MAIN, null))
            .build()

    fun updateLink(context: Context, notice: Notice) = post(context, Notices.LINK_ID, linkNotification(context, notice))

    private fun builder(context: Context, channel: String, notice: Notice) =
        NotificationCompat.Builder(context, channel)
            .setSmallIcon(R.drawable.ic_key)
            .setContentTitle(notice.title)
            .setContentText(notice.text)
            .setStyle(NotificationCompat.BigTextStyle().bigText(notice.text))

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
