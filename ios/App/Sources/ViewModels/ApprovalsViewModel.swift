// Administrators' requests to register passkeys on the user's behalf. Approving makes the
// core ask for Face ID or the passcode (verify_user), then serve the administrator's tool
// until the grant is used up or ends; the call returns only then, so the screen shows the
// session as running meanwhile. Denying tells the administrator's tool.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class ApprovalsViewModel: ObservableObject {
    @Published private(set) var pending: [ApprovalSummary] = []
    /// The request being decided, if any (one at a time).
    @Published private(set) var deciding: String? = nil
    @Published var result: String? = nil
    @Published var failure: CoreFailure? = nil

    /// Called with the ids of requests that are no longer pending, to withdraw notifications.
    var onResolved: (([String]) -> Void)?

    private let core: AuthenticatorProtocol

    init(core: AuthenticatorProtocol) {
        self.core = core
    }

    func load() async {
        let core = self.core
        switch await CoreCalls.run({ try core.pendingApprovals() }) {
        case .success(let requests): setPending(requests.map { ApprovalSummary($0) })
        case .failure(let failure): self.failure = failure
        }
    }

    /// Applies a workspace update; returns the requests that are new, to notify about.
    func apply(_ update: WorkspaceUpdate) -> [ApprovalSummary] {
        let known = Set(pending.map(\.id))
        let arrived = update.newApprovals.map { ApprovalSummary($0) }
            .filter { !known.contains($0.id) }
        let gone = Set(update.stoppedApprovals).union(update.refusedApprovals.map(\.approvalId))
        setPending(pending.filter { !gone.contains($0.id) } + arrived)
        return arrived
    }

    func decide(_ id: String, approve: Bool) async {
        guard deciding == nil, pending.contains(where: { $0.id == id }) else { return }
        deciding = id
        result = nil
        let core = self.core
        let outcome = await coreResultAsync {
            try await core.decideApproval(approvalId: id, approve: approve)
        }
        deciding = nil
        switch outcome {
        case .success(let outcome):
            result = approve ? ApprovalResult(outcome).message : "Request denied."
        case .failure(let failure):
            self.failure = failure
        }
        await load()
    }

    private func setPending(_ requests: [ApprovalSummary]) {
        let removed = Set(pending.map(\.id)).subtracting(requests.map(\.id))
        pending = requests.sorted { $0.expiresAt < $1.expiresAt }
        if !removed.isEmpty { onResolved?(Array(removed)) }
    }
}
