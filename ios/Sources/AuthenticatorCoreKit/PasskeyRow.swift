// The passkeys list: a row per passkey (mirrors the core's `Passkey`), its wording, the
// order, the search filter, and the rules for the user's own label when renaming.

import Foundation

public struct PasskeyRow: Identifiable, Equatable, Sendable {
    /// The credential id, base64url: what delete and rename take.
    public let id: String
    public let rpId: String
    public let rpName: String?
    public let userName: String?
    public let userDisplayName: String?
    /// The user's own label, if they gave one.
    public let label: String?
    public let discoverable: Bool
    public let createdAt: UInt64
    public let signCount: UInt32

    public init(id: String, rpId: String, rpName: String?, userName: String?,
                userDisplayName: String?, label: String?, discoverable: Bool,
                createdAt: UInt64, signCount: UInt32) {
        self.id = id
        self.rpId = rpId
        self.rpName = rpName
        self.userName = userName
        self.userDisplayName = userDisplayName
        self.label = label
        self.discoverable = discoverable
        self.createdAt = createdAt
        self.signCount = signCount
    }

    /// The user's label, else the site's name, else its id.
    public var title: String { label.nonEmpty ?? rpName.nonEmpty ?? rpId }

    /// Who the passkey signs in as, and the site when the title does not already say it.
    public var subtitle: String {
        let account = userDisplayName.nonEmpty ?? userName.nonEmpty ?? "No account name"
        return title == rpId ? account : "\(account) · \(rpId)"
    }

    public var detail: String {
        let uses = signCount == 1 ? "used once" : "used \(signCount) times"
        return "Created \(Dates.short(createdAt)), \(signCount == 0 ? "not used yet" : uses)"
    }

    /// Alphabetical by title, then oldest first, so the list does not jump between loads.
    public static func sorted(_ rows: [PasskeyRow]) -> [PasskeyRow] {
        rows.sorted { left, right in
            let order = left.title.localizedCaseInsensitiveCompare(right.title)
            if order != .orderedSame { return order == .orderedAscending }
            if left.createdAt != right.createdAt { return left.createdAt < right.createdAt }
            return left.id < right.id
        }
    }

    /// Rows whose title, site or account contains `query` (ignoring case); all for "".
    public static func filtered(_ rows: [PasskeyRow], by query: String) -> [PasskeyRow] {
        let query = query.trimmingSpaces()
        guard !query.isEmpty else { return rows }
        return rows.filter { row in
            [row.title, row.rpId, row.userName ?? "", row.userDisplayName ?? ""]
                .contains { $0.localizedCaseInsensitiveContains(query) }
        }
    }
}

/// The user's own name for a passkey.
public enum PasskeyLabel {
    /// Long enough for any sensible name, short enough for one line of the list.
    public static let maxCharacters = 64

    public enum Problem: Error, Equatable, Sendable {
        case empty
        case tooLong

        public var message: String {
            switch self {
            case .empty: return "Enter a name."
            case .tooLong: return "Use at most \(PasskeyLabel.maxCharacters) characters."
            }
        }
    }

    /// The label to send to the core (trimmed), or why it cannot be used.
    public static func validate(_ text: String) -> Result<String, Problem> {
        let trimmed = text.trimmingSpaces()
        if trimmed.isEmpty { return .failure(.empty) }
        if trimmed.count > maxCharacters { return .failure(.tooLong) }
        return .success(trimmed)
    }
}
