// Settings: how the vault key is protected (Secure Enclave, or the simulator's software
// stand-in, named as such), the enrollment, and the audit trail of on-behalf registrations
// and activation events.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class SettingsViewModel: ObservableObject {
    @Published private(set) var keyProtection: KeyProtectionInfo? = nil
    @Published private(set) var enrollment: EnrollmentSummary? = nil
    @Published private(set) var audit: [AuditRow] = []
    @Published var failure: CoreFailure? = nil

    private let core: AuthenticatorProtocol

    init(core: AuthenticatorProtocol) {
        self.core = core
    }

    /// "Secure Enclave" or "Keychain (software, simulator)": the kind reported by the key
    /// protector, in words.
    var keyProtectionText: String {
        guard let keyProtection else { return "Unknown" }
        switch keyProtection.kind {
        case "ios-secure-enclave": return "Secure Enclave"
        case "ios-keychain-software": return "Keychain, software key (simulator)"
        default: return keyProtection.kind
        }
    }

    func load() async {
        let core = self.core
        switch await CoreCalls.run({ try core.keyProtection() }) {
        case .success(let info): keyProtection = info
        case .failure(let failure): self.failure = failure
        }
        switch await CoreCalls.run({ try core.enrollment() }) {
        case .success(let info): enrollment = info.map { EnrollmentSummary($0) }
        case .failure(let failure): self.failure = failure
        }
    }

    func loadAudit() async {
        let core = self.core
        switch await CoreCalls.run({ try core.auditLog() }) {
        case .success(let records): audit = AuditRow.newestFirst(records.map { AuditRow($0) })
        case .failure(let failure): self.failure = failure
        }
    }

    func enrollmentChanged(_ summary: EnrollmentSummary?) {
        enrollment = summary
    }
}
