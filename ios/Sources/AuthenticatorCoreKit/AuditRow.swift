// The audit trail screen: one row per record of the core's `AuditRecord` (what happened,
// when, and its facts), with readable titles for the kinds the core writes today and the
// raw kind for any other, so that a newer core never hides a record.

public struct AuditRow: Identifiable, Equatable, Sendable {
    public let id: UInt64
    public let at: UInt64
    public let kind: String
    public let details: [String: String]

    public init(seq: UInt64, at: UInt64, kind: String, details: [String: String]) {
        id = seq
        self.at = at
        self.kind = kind
        self.details = details
    }

    /// Titles of the kinds the core writes (`authenticator-core/src/obr`, `src/enroll`).
    static let titles: [String: String] = [
        "enroll.activated": "Phone activated",
        "enroll.pin_installed": "Client PIN installed",
        "enroll.locked": "Security key locked",
        "enroll.state": "Security key status changed",
        "obr.grant.pending": "Administrator request received",
        "obr.grant.accepted": "Administrator request approved",
        "obr.grant.declined": "Administrator request denied",
        "obr.grant.refused": "Administrator request refused",
        "obr.grant.stopped": "Administrator request withdrawn",
        "obr.grant.dropped": "Administrator request dropped",
        "obr.registration": "Passkey registered by administrator",
        "obr.session.ended": "Administrator session ended",
        "obr.receipt.unsent": "Receipt not delivered yet",
        "obr.receipt.dropped": "Receipt discarded unsent",
        "obr.receipt.not_queued": "Receipt could not be kept for delivery",
        "obr.refusal.reported": "Refusal reported to the workspace",
        "obr.refusal.unreported": "Refusal not reported yet",
        "obr.refused": "Administrator registration refused",
    ]

    public var title: String { AuditRow.titles[kind] ?? kind }

    public var time: String { Dates.dateTime(at) }

    /// The facts, one "name: value" line each, in a stable order.
    public var detailLines: [String] {
        details.keys.sorted().map { key in
            "\(key.replacingUnderscores()): \(details[key] ?? "")"
        }
    }

    /// Newest first, as the screen shows them (the core lists oldest first).
    public static func newestFirst(_ rows: [AuditRow]) -> [AuditRow] {
        rows.sorted { $0.id > $1.id }
    }
}

extension String {
    func replacingUnderscores() -> String {
        String(map { $0 == "_" ? " " : $0 })
    }
}
