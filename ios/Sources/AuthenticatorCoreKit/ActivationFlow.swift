// The activation screen's state machine: link received -> the user confirms the workspace ->
// the core redeems the link -> (if the workspace emailed a PIN) the user types it -> done.
// Pure state, so every transition is tested without the core. The activation link itself is
// a bearer secret and is deliberately not part of this state (state gets printed while
// debugging); the view model keeps it until the core has redeemed it.

public struct ActivationFlow: Equatable, Sendable {
    public enum Phase: Equatable, Sendable {
        /// No link yet: the screen explains how to open the activation email.
        case waitingForLink
        /// A link for `host` arrived; the user confirms before anything is sent.
        case confirm(host: String)
        case activating(host: String)
        /// The workspace emailed a PIN; `failure` is the last wrong attempt, if any.
        case enterPin(workspace: String, failure: CoreFailure?)
        case submittingPin(workspace: String)
        case activated(EnrollmentSummary)
        /// A failure before the PIN step; the user can open a link again.
        case failed(CoreFailure)
    }

    public private(set) var phase: Phase

    public init(enrollment: EnrollmentSummary? = nil) {
        phase = ActivationFlow.phase(for: enrollment)
    }

    /// The phase that an existing enrollment (or none) resumes at, e.g. after a restart while
    /// the PIN was still expected.
    static func phase(for enrollment: EnrollmentSummary?) -> Phase {
        guard let enrollment else { return .waitingForLink }
        if enrollment.waitingForPin {
            return .enterPin(workspace: enrollment.workspaceName, failure: nil)
        }
        return .activated(enrollment)
    }

    /// Whether a newly opened activation link can be taken now (not in the middle of a step,
    /// not once activated: the core would refuse a second activation anyway).
    public var acceptsLink: Bool {
        switch phase {
        case .waitingForLink, .confirm, .failed: return true
        case .activating, .enterPin, .submittingPin, .activated: return false
        }
    }

    public var isBusy: Bool {
        switch phase {
        case .activating, .submittingPin: return true
        default: return false
        }
    }

    /// The core parsed a link for `host` (or refused it).
    public mutating func linkParsed(_ result: Result<String, CoreFailure>) {
        guard acceptsLink else { return }
        switch result {
        case .success(let host): phase = .confirm(host: host)
        case .failure(let failure): phase = .failed(failure)
        }
    }

    /// The user said yes to the workspace; returns false when there is nothing to confirm.
    public mutating func confirmed() -> Bool {
        guard case .confirm(let host) = phase else { return false }
        phase = .activating(host: host)
        return true
    }

    public mutating func cancelled() {
        if case .confirm = phase { phase = .waitingForLink }
    }

    /// The core finished redeeming the link.
    public mutating func activationFinished(_ result: Result<EnrollmentSummary, CoreFailure>) {
        guard case .activating = phase else { return }
        switch result {
        case .success(let enrollment): phase = ActivationFlow.phase(for: enrollment)
        case .failure(let failure): phase = .failed(failure)
        }
    }

    /// The user submitted the emailed PIN; returns false when no PIN is expected.
    public mutating func pinSubmitted() -> Bool {
        guard case .enterPin(let workspace, _) = phase else { return false }
        phase = .submittingPin(workspace: workspace)
        return true
    }

    /// The core checked the PIN. A wrong PIN (or a network hiccup) stays on the PIN step;
    /// anything else that fails ends the flow with the failure.
    public mutating func pinFinished(_ result: Result<EnrollmentSummary, CoreFailure>) {
        guard case .submittingPin(let workspace) = phase else { return }
        switch result {
        case .success(let enrollment):
            phase = ActivationFlow.phase(for: enrollment)
        case .failure(let failure) where failure.recovery == .correctInput
            || failure.recovery == .retry:
            phase = .enterPin(workspace: workspace, failure: failure)
        case .failure(let failure):
            phase = .failed(failure)
        }
    }

    /// The enrollment changed elsewhere (refresh, workspace poll).
    /// A step in progress, a failure on screen, or a wrong-PIN message are kept as long as
    /// the enrollment does not contradict them.
    public mutating func enrollmentChanged(_ enrollment: EnrollmentSummary?) {
        switch phase {
        case .activating, .submittingPin:
            return
        case .waitingForLink, .confirm, .failed:
            if enrollment == nil { return }
        case .enterPin:
            if enrollment?.waitingForPin == true { return }
        case .activated:
            break
        }
        phase = ActivationFlow.phase(for: enrollment)
    }
}
