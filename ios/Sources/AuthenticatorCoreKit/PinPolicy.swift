// The client PIN rules the PIN screens check as the user types, before the core checks them
// again: CTAP 2.1 section 6.5.1 counts the minimum length in Unicode code points and caps a
// PIN at 63 bytes of UTF-8. The minimum comes from the core's `PinStatus.minLength` (the
// workspace may raise it). The PIN itself is never logged or put in a message.

public struct PinPolicy: Equatable, Sendable {
    /// CTAP 2.1 section 6.5.1: at most 63 bytes once encoded as UTF-8.
    public static let maxBytes = 63
    /// CTAP 2.1 default minimum when the core has not said otherwise.
    public static let defaultMinLength = 4

    public let minLength: Int

    public init(minLength: Int = PinPolicy.defaultMinLength) {
        self.minLength = max(minLength, PinPolicy.defaultMinLength)
    }

    public enum Problem: Equatable, Sendable {
        case tooShort(minLength: Int)
        case tooLong
        case mismatch
        case sameAsCurrent

        public var message: String {
            switch self {
            case .tooShort(let minLength): return "Use at least \(minLength) characters."
            case .tooLong: return "This PIN is too long. Use fewer characters."
            case .mismatch: return "The two PINs are not the same."
            case .sameAsCurrent: return "Choose a PIN different from the current one."
            }
        }
    }

    /// Checks a new PIN and its confirmation; `current` is given when changing a PIN.
    public func check(newPin: String, confirmation: String, current: String? = nil) -> Problem? {
        if newPin.unicodeScalars.count < minLength { return .tooShort(minLength: minLength) }
        if newPin.utf8.count > PinPolicy.maxBytes { return .tooLong }
        if newPin != confirmation { return .mismatch }
        if let current, current == newPin { return .sameAsCurrent }
        return nil
    }

    /// Whether a PIN typed to unlock (not to set) is worth sending to the core at all.
    public func canSubmit(_ pin: String) -> Bool {
        !pin.isEmpty && pin.utf8.count <= PinPolicy.maxBytes
    }
}
