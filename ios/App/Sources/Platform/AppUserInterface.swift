// The app's `UserInterface` for the core: presence confirmations and account choices go to
// SwiftUI through the PromptCenter, user verification to LocalAuthentication, and notices
// to notifications. Called on the core's threads; the core enforces the timeouts.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation
import os

final class AppUserInterface: UserInterface, @unchecked Sendable {
    private let presence: PromptBroker<PresenceQuestion, Bool>
    private let accounts: PromptBroker<AccountQuestion, UInt32?>
    private let notices: @Sendable (CoreNotice) -> Void

    init(presence: PromptBroker<PresenceQuestion, Bool>,
         accounts: PromptBroker<AccountQuestion, UInt32?>,
         notices: @escaping @Sendable (CoreNotice) -> Void) {
        self.presence = presence
        self.accounts = accounts
        self.notices = notices
    }

    func confirmPresence(prompt: PresencePrompt) async throws -> Bool {
        AppLog.prompts.info("presence requested")
        return await presence.ask(PresenceQuestion(prompt))
    }

    func verifyUser(prompt: PresencePrompt) async throws -> VerificationOutcome {
        AppLog.prompts.info("user verification requested")
        return try await DeviceOwnerCheck.verify(
            reason: PresenceQuestion(prompt).verificationReason)
    }

    func chooseAccount(rpId: String, accounts options: [AccountOption]) async throws -> UInt32? {
        AppLog.prompts.info("account choice requested")
        return await accounts.ask(AccountQuestion(rpId: rpId, options: options))
    }

    func notify(event: UserEvent) throws {
        notices(CoreNotice(event))
    }
}
