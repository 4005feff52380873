// Recognises what the system hands the app (a universal link, the app's own URL scheme, a
// scanned or pasted code) before anything reaches the core. The check is deliberately loose:
// it only routes the text to the right screen. The core's parsers are the strict ones
// (`authenticator-core/src/enroll/link.rs`, `proto/link.md` section 2), so nothing here
// decides whether a link or code is valid. The text is a bearer secret (activation code,
// pairing secret): it is carried, never logged or echoed.

/// What an incoming URL or text is for.
public enum IncomingLink: Equatable, Sendable {
    /// An activation link, `https://HOST/activate?code=…` or `passkeyphone://activate?…`.
    case activation(String)
    /// A pairing code from a computer's QR code, `PASSKEYPHONE:/digits`.
    case pairing(String)

    /// The app's URL scheme; the pairing code uses the same word in upper case.
    public static let appScheme = "passkeyphone"
    /// The path of the https activation link and the authority of the app-scheme one.
    static let activatePath = "/activate"
    static let activateAuthority = "activate"

    /// Classifies `text` (a URL's absolute string, a pasted link, a scanned code), or returns
    /// nil when it is neither an activation link nor a pairing code.
    public static func recognize(_ text: String) -> IncomingLink? {
        let trimmed = text.trimmingSpaces()
        if isActivationLink(trimmed) { return .activation(trimmed) }
        if PairingCodeCheck.check(trimmed) == nil { return .pairing(trimmed) }
        return nil
    }

    /// True for text shaped like either form of the activation link.
    static func isActivationLink(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":") else { return false }
        let scheme = String(text[..<colon]).asciiLowercased()
        let rest = text[text.index(after: colon)...]
        guard rest.hasPrefix("//") else { return false }
        switch scheme {
        // http reaches the core only so that it can refuse it with its own sentence (or
        // accept the emulator's loopback link in a test build).
        case "https", "http": return isWebActivation(rest.dropFirst(2))
        case appScheme: return isAppActivation(rest.dropFirst(2))
        default: return false
        }
    }

    /// `host[:port]/activate?…`: a host, the path exactly /activate, then a query.
    private static func isWebActivation(_ rest: Substring) -> Bool {
        guard let pathStart = rest.firstIndex(of: "/"), pathStart != rest.startIndex else {
            return false
        }
        let pathAndQuery = rest[pathStart...]
        let path = pathAndQuery.prefix { $0 != "?" && $0 != "#" }
        return path == activatePath && pathAndQuery.dropFirst(path.count).hasPrefix("?")
    }

    /// `activate?…` or `activate/?…` (the OS may change the authority's case).
    private static func isAppActivation(_ rest: Substring) -> Bool {
        let authority = rest.prefix { $0 != "/" && $0 != "?" }
        return String(authority).asciiLowercased() == activateAuthority
    }
}

extension String {
    /// Drops spaces and line breaks around pasted or scanned text (not inside it: the core
    /// refuses inner whitespace with its own message).
    func trimmingSpaces() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }

    /// Lower-cases A-Z only, as URI schemes are compared (RFC 3986 section 3.1); unlike
    /// `lowercased()`, no other character can turn into an ASCII letter.
    func asciiLowercased() -> String {
        let upperCase: ClosedRange<UInt8> = 0x41...0x5A
        let lowered: [UInt8] = utf8.map { upperCase.contains($0) ? $0 + 0x20 : $0 }
        return String(decoding: lowered, as: UTF8.self)
    }
}
