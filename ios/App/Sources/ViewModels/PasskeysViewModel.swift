// The passkeys on this phone: list, search, delete and rename (the user's own label).

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class PasskeysViewModel: ObservableObject {
    @Published private(set) var rows: [PasskeyRow] = []
    @Published var query = ""
    @Published var failure: CoreFailure? = nil
    @Published private(set) var loaded = false

    private let core: AuthenticatorProtocol

    init(core: AuthenticatorProtocol) {
        self.core = core
    }

    var visibleRows: [PasskeyRow] { PasskeyRow.filtered(rows, by: query) }

    func load() async {
        let core = self.core
        switch await CoreCalls.run({ try core.passkeys() }) {
        case .success(let passkeys):
            rows = PasskeyRow.sorted(passkeys.map { PasskeyRow($0) })
        case .failure(let failure):
            self.failure = failure
        }
        loaded = true
    }

    func delete(_ row: PasskeyRow) async {
        let core = self.core
        let id = row.id
        if case .failure(let failure) = await CoreCalls.run({
            try core.deletePasskey(passkeyId: id)
        }) {
            self.failure = failure
        }
        await load()
    }

    /// Renames `row`; returns a message for the rename field when the name is refused
    /// locally, nil when the core took it (or failed, shown as `failure`).
    func rename(_ row: PasskeyRow, to text: String) async -> String? {
        switch PasskeyLabel.validate(text) {
        case .failure(let problem):
            return problem.message
        case .success(let name):
            let core = self.core
            let id = row.id
            if case .failure(let failure) = await CoreCalls.run({
                try core.renamePasskey(passkeyId: id, name: name)
            }) {
                self.failure = failure
            }
            await load()
            return nil
        }
    }

    /// Removes the user's label, so the site's name shows again.
    func clearLabel(_ row: PasskeyRow) async {
        let core = self.core
        let id = row.id
        if case .failure(let failure) = await CoreCalls.run({
            try core.renamePasskey(passkeyId: id, name: "")
        }) {
            self.failure = failure
        }
        await load()
    }
}
