// The core's non-blocking notices (`UserEvent`) and link service events
// (`LinkServiceEvent`), mirrored, with their wording. Notices show on the lock screen, so
// they name the site but not the account.

/// Mirrors the core's `UserEvent`.
public enum CoreNotice: Equatable, Sendable {
    case passkeyCreated(rpId: String)
    case signedIn(rpId: String)
    case passkeyDeleted(rpId: String)
    case authenticatorReset
    case pinChanged
    case registeredOnYourBehalf(adminName: String, rpId: String)
    case pinAuthBlocked
    case pinBlocked
    case silentAssertionsFromComputer(computerName: String, count: UInt32, windowMinutes: UInt32)

    public var title: String {
        switch self {
        case .passkeyCreated: return "Passkey created"
        case .signedIn: return "Signed in"
        case .passkeyDeleted: return "Passkey deleted"
        case .authenticatorReset: return "Passkeys erased"
        case .pinChanged: return "PIN changed"
        case .registeredOnYourBehalf: return "Passkey added by your administrator"
        case .pinAuthBlocked: return "PIN temporarily blocked"
        case .pinBlocked: return "PIN blocked"
        case .silentAssertionsFromComputer: return "Unusual requests from a computer"
        }
    }

    public var body: String {
        switch self {
        case .passkeyCreated(let rpId): return "A new passkey for \(rpId) is on this phone."
        case .signedIn(let rpId): return "This phone signed you in to \(rpId)."
        case .passkeyDeleted(let rpId): return "The passkey for \(rpId) was deleted."
        case .authenticatorReset: return "All passkeys on this phone were erased."
        case .pinChanged: return "The PIN of this security key was changed."
        case .registeredOnYourBehalf(let adminName, let rpId):
            return "\(adminName) registered a passkey for \(rpId) on this phone."
        case .pinAuthBlocked:
            return "Too many wrong PINs. Reconnect the phone to your computer to try again."
        case .pinBlocked:
            return "Too many wrong PINs. Your administrator must reset this security key."
        case .silentAssertionsFromComputer(let computerName, let count, let windowMinutes):
            return "\(computerName) had this phone sign \(count) times without asking you "
                + "within \(windowMinutes) minutes. Remove it if you do not trust it."
        }
    }

    /// Notices the user must see even with the app in the foreground.
    public var isWarning: Bool {
        switch self {
        case .pinAuthBlocked, .pinBlocked, .authenticatorReset, .silentAssertionsFromComputer:
            return true
        default: return false
        }
    }
}

/// Mirrors the core's `LinkServiceEvent`.
public enum LinkEvent: Equatable, Sendable {
    case connected(computer: String, transport: String)
    case served(computer: String, command: UInt8, status: UInt8)
    case ended(computer: String, reason: String)
    case refused(reason: String)
    case relayTrouble(relay: String, reason: String)
    case bluetoothUnavailable(reason: String)
}

/// What the link service is doing, folded from its events, for the status line.
public struct LinkActivity: Equatable, Sendable {
    public private(set) var connectedTo: String?
    public private(set) var transport: String?
    public private(set) var requestsServed = 0
    public private(set) var lastProblem: String?
    public private(set) var bluetoothProblem: String?

    public init() {}

    public mutating func apply(_ event: LinkEvent) {
        switch event {
        case .connected(let computer, let transport):
            connectedTo = computer
            self.transport = transport
            lastProblem = nil
        case .served:
            requestsServed += 1
        case .ended:
            connectedTo = nil
            transport = nil
        case .refused(let reason):
            lastProblem = reason
        case .relayTrouble(_, let reason):
            lastProblem = reason
        case .bluetoothUnavailable(let reason):
            // The service goes on over the relay; say so without hiding a connection.
            bluetoothProblem = reason
        }
    }

    public var statusLine: String {
        if let connectedTo {
            return "Connected to \(connectedTo)" + (transport.map { " over \($0)" } ?? "")
        }
        if let lastProblem { return lastProblem }
        return "Waiting for a paired computer"
    }
}
