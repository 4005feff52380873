// The paired computers list: a row per computer (mirrors the core's `PairedComputer`), its
// wording and its order.

public struct ComputerRow: Identifiable, Equatable, Sendable {
    /// The pairing id, hex: what remove takes.
    public let id: String
    public let name: String
    public let relayURL: String
    public let createdAt: UInt64
    public let lastUsedAt: UInt64

    public init(id: String, name: String, relayURL: String, createdAt: UInt64,
                lastUsedAt: UInt64) {
        self.id = id
        self.name = name
        self.relayURL = relayURL
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }

    public var detail: String {
        "Paired \(Dates.short(createdAt)), last used \(Dates.shortOrNever(lastUsedAt))"
    }

    /// Most recently used first; never-used ones by pairing date.
    public static func sorted(_ rows: [ComputerRow]) -> [ComputerRow] {
        rows.sorted { left, right in
            let leftTime = max(left.lastUsedAt, left.createdAt)
            let rightTime = max(right.lastUsedAt, right.createdAt)
            if leftTime != rightTime { return leftTime > rightTime }
            return left.id < right.id
        }
    }
}
