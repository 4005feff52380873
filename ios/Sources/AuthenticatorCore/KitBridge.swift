// Converts the generated bindings' types (AuthenticatorCore, from uniffi) into the plain
// AuthenticatorCoreKit types the screens use, and back where the core needs an answer. This
// is the only file that must follow a change of the Rust surface field by field; every
// switch is exhaustive, so a new variant fails the build here instead of slipping through.

import AuthenticatorCoreKit
import Foundation

extension CoreFailure {
    /// The failure for any error thrown by a generated call.
    public init(_ error: Error) {
        switch error {
        case let failure as CoreFailure:
            self = failure
        case let error as AuthenticatorError:
            self = CoreFailure(coreError: error)
        case is CancellationError:
            self = .app("The operation was cancelled.")
        default:
            // A binding-level failure (for example a library built from other sources than
            // the bindings). Its text is not meant for users and may not be safe to show.
            self = .app("The app hit an internal error. Please try again.")
        }
    }

    init(coreError: AuthenticatorError) {
        switch coreError {
        case .InvalidInput(let reason): self.init(kind: .invalidInput, reason: reason)
        case .KeyTemporarilyUnavailable(let reason):
            self.init(kind: .keyTemporarilyUnavailable, reason: reason)
        case .KeyPermanentlyLost(let reason): self.init(kind: .keyPermanentlyLost, reason: reason)
        case .KeyStoreFailed(let reason): self.init(kind: .keyStoreFailed, reason: reason)
        case .VaultUnreadable(let reason): self.init(kind: .vaultUnreadable, reason: reason)
        case .Storage(let reason): self.init(kind: .storage, reason: reason)
        case .NotActivated(let reason): self.init(kind: .notActivated, reason: reason)
        case .InvalidState(let reason): self.init(kind: .invalidState, reason: reason)
        case .PinInvalid(let attemptsLeft, let reason):
            self.init(kind: .pinInvalid, reason: reason, attemptsLeft: attemptsLeft)
        case .PinBlocked(let reason): self.init(kind: .pinBlocked, reason: reason)
        case .Refused(let reason): self.init(kind: .refused, reason: reason)
        case .Network(let reason): self.init(kind: .network, reason: reason)
        case .NotFound(let reason): self.init(kind: .notFound, reason: reason)
        case .Unsupported(let reason): self.init(kind: .unsupported, reason: reason)
        case .Internal(let reason): self.init(kind: .internal, reason: reason)
        case .HandshakeFailed(let reason): self.init(kind: .handshakeFailed, reason: reason)
        case .TimedOut(let reason): self.init(kind: .timedOut, reason: reason)
        case .Declined(let reason): self.init(kind: .declined, reason: reason)
        case .Cancelled(let reason): self.init(kind: .cancelled, reason: reason)
        case .Bluetooth(let reason): self.init(kind: .bluetooth, reason: reason)
        }
    }
}

/// Runs a generated call and turns its error into a `CoreFailure`.
public func coreResult<T>(_ call: () throws -> T) -> Result<T, CoreFailure> {
    do {
        return .success(try call())
    } catch {
        return .failure(CoreFailure(error))
    }
}

/// The async form of `coreResult` (a separate name: in an async context Swift would pick an
/// async overload even for a synchronous call).
public func coreResultAsync<T>(_ call: () async throws -> T) async -> Result<T, CoreFailure> {
    do {
        return .success(try await call())
    } catch {
        return .failure(CoreFailure(error))
    }
}

extension KeyStatus {
    public init(_ state: KeyState) {
        switch state {
        case .pending: self = .pending
        case .active: self = .active
        case .suspended: self = .suspended
        case .revoked: self = .revoked
        case .locked: self = .locked
        }
    }
}

extension EnrollmentSummary {
    public init(_ info: EnrollmentInfo) {
        self.init(status: KeyStatus(info.status), workspaceName: info.workspaceName,
                  userEmail: info.userEmail, userDisplayName: info.userDisplayName,
                  waitingForPin: info.waitingForPin)
    }
}

extension PasskeyRow {
    public init(_ passkey: Passkey) {
        self.init(id: passkey.id, rpId: passkey.rpId, rpName: passkey.rpName,
                  userName: passkey.userName, userDisplayName: passkey.userDisplayName,
                  label: passkey.name, discoverable: passkey.discoverable,
                  createdAt: passkey.createdAt, signCount: passkey.signCount)
    }
}

extension ComputerRow {
    public init(_ computer: PairedComputer) {
        self.init(id: computer.id, name: computer.name, relayURL: computer.relayUrl,
                  createdAt: computer.createdAt, lastUsedAt: computer.lastUsedAt)
    }
}

extension ApprovalSummary {
    public init(_ request: ApprovalRequest) {
        self.init(id: request.id, adminName: request.adminName,
                  workspaceName: request.workspaceName, rpIds: request.rpIds,
                  maxRegistrations: request.maxRegistrations, expiresAt: request.expiresAt)
    }
}

extension ApprovalResult {
    public init(_ outcome: ApprovalOutcome) {
        self.init(registeredRpIds: outcome.registeredRpIds, refused: outcome.refused,
                  ended: outcome.ended)
    }
}

extension AuditRow {
    public init(_ record: AuditRecord) {
        self.init(seq: record.seq, at: record.at, kind: record.kind, details: record.details)
    }
}

extension IdleReport {
    public init(_ done: IdleMaintenance) {
        self.init(checkpointedPages: done.checkpointedPages,
                  checkedVaultFile: done.checkedVaultFile, receiptsPosted: done.receiptsPosted,
                  receiptsDropped: done.receiptsDropped, receiptsWaiting: done.receiptsWaiting)
    }
}

extension Authenticator {
    /// The core's idle upkeep as the Kit's `IdleUpkeep` runs it.
    public func idleUpkeep() async -> Result<IdleReport, CoreFailure> {
        await coreResultAsync { IdleReport(try await runIdleMaintenance()) }
    }
}

extension PromptOperation {
    public init(_ operation: UserOperation) {
        switch operation {
        case .register: self = .register
        case .signIn: self = .signIn
        case .alreadyRegistered: self = .alreadyRegistered
        case .reset: self = .reset
        case .select: self = .select
        case .manage: self = .manage
        case .onBehalfRegistration: self = .onBehalfRegistration
        }
    }
}

extension PresenceQuestion {
    public init(_ prompt: PresencePrompt) {
        self.init(operation: PromptOperation(prompt.operation), rpId: prompt.rpId,
                  userName: prompt.userName, message: prompt.message)
    }
}

extension AccountQuestion {
    public init(rpId: String, options: [AccountOption]) {
        let choices = options.enumerated().map { index, option in
            AccountChoice(id: UInt32(index), userName: option.userName,
                          displayName: option.displayName, createdAt: option.createdAt)
        }
        self.init(rpId: rpId, accounts: choices)
    }
}

extension CoreNotice {
    public init(_ event: UserEvent) {
        switch event {
        case .passkeyCreated(let rpId, _): self = .passkeyCreated(rpId: rpId)
        case .signedIn(let rpId, _): self = .signedIn(rpId: rpId)
        case .passkeyDeleted(let rpId, _): self = .passkeyDeleted(rpId: rpId)
        case .authenticatorReset: self = .authenticatorReset
        case .pinChanged: self = .pinChanged
        case .registeredOnYourBehalf(let adminName, let rpId):
            self = .registeredOnYourBehalf(adminName: adminName, rpId: rpId)
        case .pinAuthBlocked: self = .pinAuthBlocked
        case .pinBlocked: self = .pinBlocked
        case .silentAssertionsFromComputer(let computerName, let count, let windowMinutes):
            self = .silentAssertionsFromComputer(
                computerName: computerName, count: count, windowMinutes: windowMinutes)
        }
    }
}

extension LinkEvent {
    public init(_ event: LinkServiceEvent) {
        switch event {
        case .connected(let computer, let transport):
            self = .connected(computer: computer, transport: transport)
        case .served(let computer, let command, let status):
            self = .served(computer: computer, command: command, status: status)
        case .ended(let computer, let reason): self = .ended(computer: computer, reason: reason)
        case .refused(let reason): self = .refused(reason: reason)
        case .relayTrouble(let relay, let reason):
            self = .relayTrouble(relay: relay, reason: reason)
        case .bluetoothUnavailable(let reason): self = .bluetoothUnavailable(reason: reason)
        }
    }
}
