// Activation from the administrator's link: the core parses the link, the user confirms the
// workspace, the core redeems it, then takes the emailed PIN if the workspace sent one.
// The flow's states live in AuthenticatorCoreKit's ActivationFlow; this object runs the
// core calls. The link and the PIN are secrets: held only until the core has them.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class ActivationViewModel: ObservableObject {
    @Published private(set) var flow: ActivationFlow
    @Published var pin = ""

    /// Called when the enrollment may have changed (activated, PIN accepted).
    var onEnrollmentChanged: ((EnrollmentSummary?) -> Void)?

    private let core: AuthenticatorProtocol
    /// The link being confirmed; dropped once redeemed or cancelled.
    private var pendingLink: String?

    init(core: AuthenticatorProtocol, enrollment: EnrollmentSummary?) {
        self.core = core
        flow = ActivationFlow(enrollment: enrollment)
    }

    var canSubmitPin: Bool {
        PinPolicy().canSubmit(pin) && !flow.isBusy
    }

    /// A link arrived (universal link, app scheme, or pasted).
    func receive(link: String) {
        guard flow.acceptsLink else { return }
        let parsed = coreResult { try core.parseActivationLink(link: link) }
        pendingLink = (try? parsed.get()) == nil ? nil : link
        flow.linkParsed(parsed.map(\.workspaceHost))
    }

    func cancel() {
        pendingLink = nil
        flow.cancelled()
    }

    func confirm() async {
        guard let link = pendingLink, flow.confirmed() else { return }
        let core = self.core
        let result = await coreResultAsync { try await core.activate(link: link) }
        pendingLink = nil
        let summary = result.map { EnrollmentSummary($0) }
        flow.activationFinished(summary)
        if case .success(let enrollment) = summary { onEnrollmentChanged?(enrollment) }
    }

    func submitPin() async {
        let typed = pin
        guard PinPolicy().canSubmit(typed), flow.pinSubmitted() else { return }
        pin = ""
        let core = self.core
        let result = await coreResultAsync { try await core.submitActivationPin(pin: typed) }
        let summary = result.map { EnrollmentSummary($0) }
        flow.pinFinished(summary)
        if case .success(let enrollment) = summary { onEnrollmentChanged?(enrollment) }
    }

    /// The workspace poll or a refresh brought a new enrollment state.
    func enrollmentChanged(_ enrollment: EnrollmentSummary?) {
        flow.enrollmentChanged(enrollment)
    }
}
