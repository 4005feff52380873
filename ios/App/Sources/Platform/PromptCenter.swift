// The questions the core is waiting on, published for SwiftUI: the presence confirmation
// ("Allow") and the account choice. The brokers (AuthenticatorCoreKit) hold the waiting
// calls; this object only mirrors the one to show now on the main actor.

import AuthenticatorCoreKit
import Foundation

@MainActor
final class PromptCenter: ObservableObject {
    typealias PresencePending = PromptBroker<PresenceQuestion, Bool>.Pending
    typealias AccountPending = PromptBroker<AccountQuestion, UInt32?>.Pending

    @Published private(set) var presence: PresencePending? = nil
    @Published private(set) var account: AccountPending? = nil

    let presenceBroker: PromptBroker<PresenceQuestion, Bool>
    let accountBroker: PromptBroker<AccountQuestion, UInt32?>

    /// Lets the brokers' callbacks reach this object without a retain cycle.
    private final class Relay: @unchecked Sendable {
        weak var center: PromptCenter?
    }

    init() {
        let relay = Relay()
        let refresh: @Sendable () -> Void = {
            Task { @MainActor in relay.center?.refresh() }
        }
        presenceBroker = PromptBroker(declined: false, onChange: refresh)
        accountBroker = PromptBroker(declined: nil, onChange: refresh)
        relay.center = self
    }

    func answerPresence(_ id: UInt64, allowed: Bool) {
        presenceBroker.answer(id, with: allowed)
    }

    func answerAccount(_ id: UInt64, index: UInt32?) {
        accountBroker.answer(id, with: index)
    }

    /// The app left the foreground: nobody can answer, so every question is declined.
    func declineAll() {
        presenceBroker.declineAll()
        accountBroker.declineAll()
    }

    private func refresh() {
        presence = presenceBroker.current
        account = accountBroker.current
    }
}
