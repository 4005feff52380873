// The enrollment as the screens show it: a plain mirror of the core's `EnrollmentInfo` (the
// AuthenticatorCore target converts), with the wording for each key state.

/// Mirrors the core's `KeyState`.
public enum KeyStatus: String, Equatable, Sendable, CaseIterable {
    case pending, active, suspended, revoked, locked

    public var label: String {
        switch self {
        case .pending: return "Waiting for activation"
        case .active: return "Active"
        case .suspended: return "Suspended by your administrator"
        case .revoked: return "Revoked"
        case .locked: return "Locked"
        }
    }

    /// Whether the phone can serve sign-ins in this state.
    public var canServe: Bool { self == .active }
}

public struct EnrollmentSummary: Equatable, Sendable {
    public var status: KeyStatus
    public var workspaceName: String
    public var userEmail: String
    public var userDisplayName: String
    /// The workspace emailed a PIN that the user has not entered yet.
    public var waitingForPin: Bool

    public init(status: KeyStatus, workspaceName: String, userEmail: String,
                userDisplayName: String, waitingForPin: Bool) {
        self.status = status
        self.workspaceName = workspaceName
        self.userEmail = userEmail
        self.userDisplayName = userDisplayName
        self.waitingForPin = waitingForPin
    }
}
