// A quick look at a scanned QR code before it reaches the core: is it shaped like a pairing
// code (`proto/link.md` sections 2.2 and 2.3)? The camera sees every QR code in view, so the
// scanner keeps going past codes that are not ours instead of sending each to the core.
// Only the shape is checked here (scheme, digits, group lengths, size); the core decodes,
// validates the CBOR and the dates, and is the one that refuses a bad code.

/// Why a scanned text is not a pairing code.
public enum PairingCodeProblem: Equatable, Sendable {
    case empty
    /// Another kind of QR code (a web address, a Wi-Fi code, …).
    case notAPairingCode
    /// It is the administrator's activation link, not a computer's pairing code.
    case activationLink
    /// Our scheme, but the digits cannot be a pairing code: cut, or misread.
    case damaged

    public var message: String {
        switch self {
        case .empty:
            return "Nothing was scanned."
        case .notAPairingCode:
            return "This QR code is not a pairing code. Scan the code that the pairing tool " +
                "shows on your computer."
        case .activationLink:
            return "This is an activation link. Open it from the administrator's email to " +
                "activate the phone first."
        case .damaged:
            return "This pairing code could not be read completely. Scan it again."
        }
    }
}

public enum PairingCodeCheck {
    /// `proto/link.md` 2.3, compared ASCII case-insensitively.
    static let prefix = "passkeyphone:/"
    /// `proto/link.md` 2.2: decoders refuse more than 2048 digits.
    static let maxDigits = 2048
    /// Digits per full 7-byte group, and the lengths a last, shorter group can have.
    static let groupDigits = 17
    static let lastGroupDigits: Set<Int> = [0, 3, 5, 8, 10, 13, 15]
    /// A real code carries at least a 33-byte key and a 16-byte secret (49 bytes, 7 groups).
    static let minDigits = 7 * groupDigits

    /// Nil when `text` is shaped like a pairing code, else why not.
    public static func check(_ text: String) -> PairingCodeProblem? {
        let trimmed = text.trimmingSpaces()
        if trimmed.isEmpty { return .empty }
        // First: `passkeyphone://activate?...` starts like a pairing code.
        if IncomingLink.isActivationLink(trimmed) { return .activationLink }
        let bytes = Array(trimmed.utf8)
        let head = String(decoding: bytes.prefix(prefix.utf8.count), as: UTF8.self)
        guard head.asciiLowercased() == prefix else { return .notAPairingCode }
        let digits = bytes.dropFirst(prefix.utf8.count)
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard digits.allSatisfy(isDigit),
              (minDigits...maxDigits).contains(digits.count),
              lastGroupDigits.contains(digits.count % groupDigits) else {
            return .damaged
        }
        return nil
    }
}
