// How long to wait before trying again: opening the vault before the first unlock, polling
// the workspace after a network error. Doubling from a first delay up to a cap, reset by a
// success, so a phone without network does not spin and a recovered one is quick again.

public struct RetryDelay: Equatable, Sendable {
    public let first: Double
    public let cap: Double
    public private(set) var failures = 0

    public init(first: Double = 1, cap: Double = 60) {
        self.first = first
        self.cap = cap
    }

    /// Seconds to wait after one more failure.
    public mutating func next() -> Double {
        failures += 1
        let exponent = min(failures - 1, 30)
        return min(first * Double(1 << exponent), cap)
    }

    public mutating func reset() { failures = 0 }
}
