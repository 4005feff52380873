// The computers paired with this phone: list, remove, and pair a new one from the QR code
// the pairing tool shows (scanned with the camera, or handed over by the system camera as a
// `passkeyphone:` link). The pairing code is a one-time secret: passed to the core, not kept.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class ComputersViewModel: ObservableObject {
    @Published private(set) var rows: [ComputerRow] = []
    @Published private(set) var pairing = false
    @Published var failure: CoreFailure? = nil
    /// A one-line confirmation after a successful pairing.
    @Published var notice: String? = nil

    private let core: AuthenticatorProtocol

    init(core: AuthenticatorProtocol) {
        self.core = core
    }

    func load() async {
        let core = self.core
        switch await CoreCalls.run({ try core.pairedComputers() }) {
        case .success(let computers): rows = ComputerRow.sorted(computers.map { ComputerRow($0) })
        case .failure(let failure): self.failure = failure
        }
    }

    func remove(_ row: ComputerRow) async {
        let core = self.core
        let id = row.id
        if case .failure(let failure) = await CoreCalls.run({
            try core.removePairedComputer(pairingId: id)
        }) {
            self.failure = failure
        }
        await load()
    }

    /// Pairs with the computer whose code was scanned. The shape was checked by the scanner
    /// (PairingCodeCheck); the core does the real checks and the handshake.
    func pair(code: String) async {
        guard !pairing else { return }
        if let problem = PairingCodeCheck.check(code) {
            failure = CoreFailure(kind: .invalidInput, reason: problem.message)
            return
        }
        pairing = true
        notice = nil
        let core = self.core
        let text = code.trimmingCharacters(in: .whitespacesAndNewlines)
        let result = await coreResultAsync { try await core.pair(qrText: text) }
        pairing = false
        switch result {
        case .success(let computer): notice = "Paired with \(computer.name)."
        case .failure(let failure): self.failure = failure
        }
        await load()
    }
}
