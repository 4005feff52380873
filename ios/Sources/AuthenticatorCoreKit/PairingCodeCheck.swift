// A quick look at a scanned QR code before it reaches the core: is it shaped like a pairing
// code (`proto/link.md` sections 2.2 and 2.3)? The camera sees every QR code in view, so the
// scanner keeps going past codes that are not ours instead of sending each to the core.
// Only the shape is checked here (scheme, digits, group lengths, size); the core decodes,
// validates the CBOR and the dates, and is the one that refuses a bad code.
// A browser's `FIDO:/` code (hybrid sign-in, CTAP 2.2) is named as such: this app cannot
// answer it on iOS (no BLE service data, see README "Hybrid sign-in"), so the user is told
// where such a code belongs instead of "not a pairing code".

/// Why a scanned text is not a pairing code.
public enum PairingCodeProblem: Equatable, Sendable {
    case empty
    /// Another kind of QR code (a web address, a Wi-Fi code, …).
    case notAPairingCode
    /// It is the administrator's activation link, not a computer's pairing code.
    case activationLink
    /// Our scheme, but the digits cannot be a pairing code: cut, or misread.
    case damaged
    /// A browser's `FIDO:/` code for signing in with a phone's built-in passkeys.
    case browserSignInCode

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
        case .browserSignInCode:
            return "This is a browser's code for signing in with a phone's passkeys. On " +
                "iPhone only the system can answer it: scan it with the Camera app. To use " +
                "this app's passkeys on that computer, pair it with the pairing tool."
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
        if isBrowserSignInCode(trimmed) { return .browserSignInCode }
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

    /// The hybrid scheme (CTAP 2.2 section 11.5; browsers write it in upper case).
    static let browserPrefix = "fido:/"
    /// The core's limit for a `FIDO:/` payload (`authenticator-core/src/hybrid/qr.rs`).
    static let browserMaxDigits = 4096
    /// A browser's code holds at least its 33-byte key and 16-byte secret (7 groups), so a
    /// short `FIDO:/` text stays "not a pairing code".
    static let browserMinDigits = 7 * groupDigits

    /// True for text shaped like a browser's `FIDO:/` code, with the core's digit rules.
    static func isBrowserSignInCode(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        let head = String(decoding: bytes.prefix(browserPrefix.utf8.count), as: UTF8.self)
        guard head.asciiLowercased() == browserPrefix else { return false }
        let digits = bytes.dropFirst(browserPrefix.utf8.count)
        return digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            && (browserMinDigits...browserMaxDigits).contains(digits.count)
            && lastGroupDigits.contains(digits.count % groupDigits)
    }
}
