// The core's errors as the screens see them: one kind per variant of the generated
// `AuthenticatorError`, the core's sentence for the user, and what the user can do next.
// The bridge from the generated enum lives in the AuthenticatorCore target; this file has no
// FFI so the mapping to titles and recovery steps is tested without the Rust library.

/// A failed call into the core, ready to show.
public struct CoreFailure: Error, Equatable, Sendable {
    /// Mirrors the variants of the core's `AuthenticatorError`, one to one.
    public enum Kind: String, Equatable, Sendable, CaseIterable {
        case invalidInput
        case keyTemporarilyUnavailable
        case keyPermanentlyLost
        case keyStoreFailed
        case vaultUnreadable
        case storage
        case notActivated
        case invalidState
        case pinInvalid
        case pinBlocked
        case refused
        case network
        case notFound
        case unsupported
        case `internal`
        case handshakeFailed
        case timedOut
        case declined
        case cancelled
        case bluetooth
    }

    /// What the screen offers after showing the failure.
    public enum Recovery: Equatable, Sendable {
        /// Fix what was typed, scanned or pasted and try again.
        case correctInput
        /// Nothing is wrong with the request: try again in a moment.
        case retry
        /// The device must be unlocked first; the app retries when it can.
        case retryAfterUnlock
        /// The passkey vault cannot be opened again on this phone: activate anew.
        case activateAgain
        /// Nothing the user can do in the app; the message says why.
        case noAction
    }

    public let kind: Kind
    /// The core's sentence for the user. It never holds a secret (the core guarantees it).
    public let reason: String
    /// For `pinInvalid`: how many PIN attempts remain.
    public let attemptsLeft: UInt32?

    public init(kind: Kind, reason: String, attemptsLeft: UInt32? = nil) {
        self.kind = kind
        self.reason = reason
        self.attemptsLeft = attemptsLeft
    }

    /// A short heading for an alert.
    public var title: String {
        switch kind {
        case .invalidInput: return "Check what you entered"
        case .keyTemporarilyUnavailable: return "Unlock your phone"
        case .keyPermanentlyLost: return "Passkeys can't be opened"
        case .keyStoreFailed: return "Key store problem"
        case .vaultUnreadable: return "Passkeys can't be read"
        case .storage: return "Storage problem"
        case .notActivated: return "Not activated yet"
        case .invalidState: return "Not possible right now"
        case .pinInvalid: return "Wrong PIN"
        case .pinBlocked: return "PIN blocked"
        case .refused: return "Refused"
        case .network: return "No connection"
        case .notFound: return "Not found"
        case .unsupported: return "Not supported"
        case .internal: return "Something went wrong"
        case .handshakeFailed: return "Couldn't connect securely"
        case .timedOut: return "Took too long"
        case .declined: return "Declined"
        case .cancelled: return "Cancelled"
        case .bluetooth: return "Bluetooth unavailable"
        }
    }

    /// The text under the title: the core's reason, and for a wrong PIN the attempts left.
    public var message: String {
        guard kind == .pinInvalid, let attemptsLeft else { return reason }
        let attempts = attemptsLeft == 1 ? "1 attempt left" : "\(attemptsLeft) attempts left"
        return "\(reason) (\(attempts).)"
    }

    public var recovery: Recovery {
        switch kind {
        case .invalidInput, .pinInvalid: return .correctInput
        case .network, .storage, .keyStoreFailed, .handshakeFailed, .timedOut, .cancelled,
             .bluetooth:
            return .retry
        case .keyTemporarilyUnavailable: return .retryAfterUnlock
        // Never a silent new vault key over an old vault: the user re-activates knowingly.
        case .keyPermanentlyLost, .vaultUnreadable: return .activateAgain
        case .notActivated, .invalidState, .pinBlocked, .refused, .notFound, .unsupported,
             .internal, .declined:
            return .noAction
        }
    }

    /// A failure that was not the core's: a Swift-side problem (for example a prompt that
    /// could not be shown). The text must be a sentence for the user, without secrets.
    public static func app(_ reason: String) -> CoreFailure {
        CoreFailure(kind: .internal, reason: reason)
    }
}
