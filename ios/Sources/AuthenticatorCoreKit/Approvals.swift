// On-behalf registration as the user sees it: an administrator asks to register passkeys for
// the user at some sites; the user approves (with Face ID / passcode, which the core asks
// for) or denies, from the app or from a notification. Mirrors the core's
// `ApprovalRequest` and `ApprovalOutcome`, and names the notification category and actions.

import Foundation

public struct ApprovalSummary: Identifiable, Equatable, Sendable {
    public let id: String
    public let adminName: String
    public let workspaceName: String
    public let rpIds: [String]
    public let maxRegistrations: UInt8
    public let expiresAt: UInt64

    public init(id: String, adminName: String, workspaceName: String, rpIds: [String],
                maxRegistrations: UInt8, expiresAt: UInt64) {
        self.id = id
        self.adminName = adminName
        self.workspaceName = workspaceName
        self.rpIds = rpIds
        self.maxRegistrations = maxRegistrations
        self.expiresAt = expiresAt
    }

    public var title: String { "\(adminName) asks to add passkeys" }

    public var sites: String { rpIds.joined(separator: ", ") }

    public var body: String {
        let count = maxRegistrations == 1 ? "one passkey" : "up to \(maxRegistrations) passkeys"
        return "\(adminName) from \(workspaceName) wants to create \(count) on this phone for " +
            "\(sites). Approve only if you expect this."
    }

    public func isExpired(now: Date = Date()) -> Bool {
        Dates.minutesLeft(until: expiresAt, now: now) == 0
    }

    public func expiryText(now: Date = Date()) -> String {
        let minutes = Dates.minutesLeft(until: expiresAt, now: now)
        switch minutes {
        case 0: return "Expired"
        case 1: return "Expires in 1 minute"
        default: return "Expires in \(minutes) minutes"
        }
    }
}

/// What came of an approval (the core's `ApprovalOutcome`), as one sentence.
public struct ApprovalResult: Equatable, Sendable {
    public let registeredRpIds: [String]
    public let refused: String?
    /// The core's word for how the session ended.
    public let ended: String

    public init(registeredRpIds: [String], refused: String?, ended: String) {
        self.registeredRpIds = registeredRpIds
        self.refused = refused
        self.ended = ended
    }

    public var message: String {
        if let refused, !refused.isEmpty { return refused }
        if registeredRpIds.isEmpty { return "No passkey was registered (\(ended))." }
        return "Passkeys registered for \(registeredRpIds.joined(separator: ", "))."
    }
}

/// The identifiers shared by the notification that asks for an approval, its actions, and
/// the code that handles the user's tap.
public enum ApprovalNotification {
    public static let categoryId = "OBR_APPROVAL"
    public static let approveActionId = "OBR_APPROVE"
    public static let denyActionId = "OBR_DENY"
    /// userInfo key holding the approval id (an opaque id, not a secret).
    public static let approvalIdKey = "approvalId"

    /// The notification's own id, so that a later notice for the same request replaces it.
    public static func requestId(for approvalId: String) -> String { "obr-\(approvalId)" }

    /// The approval id in a notification's userInfo, if it is one of ours.
    public static func approvalId(in userInfo: [AnyHashable: Any]) -> String? {
        guard let id = userInfo[approvalIdKey] as? String, !id.isEmpty else { return nil }
        return id
    }
}
