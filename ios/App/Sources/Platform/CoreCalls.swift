// Runs the core's blocking calls (vault reads and writes) off the main thread, so that a
// slow flash write never stalls the screen, and returns them as `Result`s for the views.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

enum CoreCalls {
    static func run<T: Sendable>(
        _ call: @escaping @Sendable () throws -> T
    ) async -> Result<T, CoreFailure> {
        await Task.detached(priority: .userInitiated) { coreResult(call) }.value
    }
}
