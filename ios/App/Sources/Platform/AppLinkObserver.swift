// Receives the link service's events from the core's threads and hands them to the main
// actor, where the settings and computers screens show what the service is doing.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

final class AppLinkObserver: LinkObserver, @unchecked Sendable {
    private let onEvent: @MainActor (LinkEvent) -> Void

    init(onEvent: @escaping @MainActor (LinkEvent) -> Void) {
        self.onEvent = onEvent
    }

    func onLinkEvent(event: LinkServiceEvent) throws {
        let event = LinkEvent(event)
        Task { @MainActor in onEvent(event) }
    }
}
