// Local notifications: the core's notices (passkey created, PIN blocked, ...) and the
// approval requests of on-behalf registration, whose category carries Approve and Deny
// actions. Both actions open the app: approving needs Face ID or the passcode, and the
// decision must reach the core, which is opened by the app. Notifications name the site and
// the administrator, never the account.

import AuthenticatorCoreKit
import Foundation
import os
import UserNotifications

final class AppNotifications: NSObject, UNUserNotificationCenterDelegate, @unchecked Sendable {
    /// What the user did with an approval notification: approve, deny, or just open it.
    enum ApprovalAction: Sendable {
        case approve, deny, open
    }

    private let center = UNUserNotificationCenter.current()
    /// Set by the app model; called on the main actor.
    var onApprovalAction: (@MainActor (String, ApprovalAction) -> Void)?

    /// Registers the delegate and the approval category; call before launch finishes so
    /// that a tap that launched the app is delivered.
    func install() {
        center.delegate = self
        let approve = UNNotificationAction(identifier: ApprovalNotification.approveActionId,
                                           title: "Approve",
                                           options: [.foreground, .authenticationRequired])
        let deny = UNNotificationAction(identifier: ApprovalNotification.denyActionId,
                                        title: "Deny",
                                        options: [.foreground, .destructive,
                                                  .authenticationRequired])
        let category = UNNotificationCategory(identifier: ApprovalNotification.categoryId,
                                              actions: [approve, deny], intentIdentifiers: [],
                                              options: [])
        center.setNotificationCategories([category])
    }

    func requestPermission() async {
        do {
            _ = try await center.requestAuthorization(options: [.alert, .sound, .badge])
        } catch {
            AppLog.app.error("notification permission request failed")
        }
    }

    func post(_ notice: CoreNotice) {
        let content = UNMutableNotificationContent()
        content.title = notice.title
        content.body = notice.body
        if notice.isWarning { content.sound = .default }
        add(UNNotificationRequest(identifier: UUID().uuidString, content: content, trigger: nil))
    }

    func post(_ approval: ApprovalSummary) {
        let content = UNMutableNotificationContent()
        content.title = approval.title
        content.body = approval.body
        content.sound = .default
        content.categoryIdentifier = ApprovalNotification.categoryId
        content.userInfo = [ApprovalNotification.approvalIdKey: approval.id]
        let id = ApprovalNotification.requestId(for: approval.id)
        add(UNNotificationRequest(identifier: id, content: content, trigger: nil))
    }

    /// Removes the notifications of requests that were decided, withdrawn or expired.
    func withdraw(approvalIds: [String]) {
        let ids = approvalIds.map(ApprovalNotification.requestId(for:))
        center.removeDeliveredNotifications(withIdentifiers: ids)
        center.removePendingNotificationRequests(withIdentifiers: ids)
    }

    private func add(_ request: UNNotificationRequest) {
        center.add(request) { error in
            if error != nil { AppLog.app.error("a notification could not be posted") }
        }
    }

    // MARK: - UNUserNotificationCenterDelegate

    func userNotificationCenter(_ center: UNUserNotificationCenter,
                                willPresent notification: UNNotification,
                                withCompletionHandler completionHandler:
                                    @escaping (UNNotificationPresentationOptions) -> Void) {
        completionHandler([.banner, .list, .sound])
    }

    func userNotificationCenter(_ center: UNUserNotificationCenter,
                                didReceive response: UNNotificationResponse,
                                withCompletionHandler completionHandler: @escaping () -> Void) {
        let userInfo = response.notification.request.content.userInfo
        guard let approvalId = ApprovalNotification.approvalId(in: userInfo) else {
            completionHandler()
            return
        }
        let action: ApprovalAction
        switch response.actionIdentifier {
        case ApprovalNotification.approveActionId: action = .approve
        case ApprovalNotification.denyActionId: action = .deny
        default: action = .open
        }
        Task { @MainActor in
            self.onApprovalAction?(approvalId, action)
            completionHandler()
        }
    }
}
