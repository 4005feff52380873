// The client PIN screen: the PIN that a computer asks for before using the phone as a
// security key. Sets the first PIN or changes it, checking the CTAP rules as the user types
// (PinPolicy) before the core checks them again. PIN fields are cleared after each try.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class PinViewModel: ObservableObject {
    @Published private(set) var status: PinStatus? = nil
    @Published var currentPin = ""
    @Published var newPin = ""
    @Published var confirmation = ""
    @Published private(set) var problem: String? = nil
    @Published var failure: CoreFailure? = nil
    @Published private(set) var busy = false
    @Published private(set) var saved = false

    private let core: AuthenticatorProtocol

    init(core: AuthenticatorProtocol) {
        self.core = core
    }

    var policy: PinPolicy {
        PinPolicy(minLength: Int(status?.minLength ?? UInt8(PinPolicy.defaultMinLength)))
    }

    var isSet: Bool { status?.isSet ?? false }

    func load() async {
        let core = self.core
        switch await CoreCalls.run({ try core.pinStatus() }) {
        case .success(let status): self.status = status
        case .failure(let failure): self.failure = failure
        }
    }

    func save() async {
        saved = false
        failure = nil
        let current = isSet ? currentPin : nil
        if let problem = policy.check(newPin: newPin, confirmation: confirmation,
                                      current: current) {
            self.problem = problem.message
            return
        }
        problem = nil
        busy = true
        let newPin = self.newPin
        let core = self.core
        let result: Result<Void, CoreFailure>
        if let current {
            result = await CoreCalls.run { try core.changePin(currentPin: current, newPin: newPin) }
        } else {
            result = await CoreCalls.run { try core.setPin(newPin: newPin) }
        }
        busy = false
        currentPin = ""
        self.newPin = ""
        confirmation = ""
        switch result {
        case .success: saved = true
        case .failure(let failure): self.failure = failure
        }
        await load()
    }
}
