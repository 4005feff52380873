// User verification for the core's `verify_user`: Face ID, Touch ID or the passcode
// (`.deviceOwnerAuthentication`), through LocalAuthentication. It is a separate step from
// the vault key on purpose: the key is not bound to biometry (STYLE.md "Mobile pitfalls").
// When the core gives up waiting, the task is cancelled and the system sheet is dismissed.

import AuthenticatorCore
import Foundation
import LocalAuthentication

enum DeviceOwnerCheck {
    /// `.verified`; `.declined` when the user, the app or the system took the sheet down
    /// (costs the user no attempt); `.failed` when the owner was not recognised.
    static func verify(reason: String) async throws -> VerificationOutcome {
        let context = LAContext()
        var unavailable: NSError?
        guard context.canEvaluatePolicy(.deviceOwnerAuthentication, error: &unavailable) else {
            throw UserInterfaceError.Unavailable(
                reason: "Set a passcode on this phone so that it can check it is you.")
        }
        return try await withTaskCancellationHandler {
            do {
                let verified = try await context.evaluatePolicy(.deviceOwnerAuthentication,
                                                                localizedReason: reason)
                return verified ? .verified : .failed
            } catch let error as LAError {
                switch error.code {
                case .userCancel, .appCancel, .systemCancel, .userFallback:
                    return .declined
                case .authenticationFailed, .biometryLockout:
                    return .failed
                case .passcodeNotSet:
                    throw UserInterfaceError.Unavailable(
                        reason: "Set a passcode on this phone so that it can check it is you.")
                case .notInteractive:
                    throw UserInterfaceError.Unavailable(
                        reason: "Open the app to confirm it is you.")
                default:
                    throw UserInterfaceError.Failed(
                        reason: "Face ID or the passcode could not be checked.")
                }
            } catch {
                throw UserInterfaceError.Failed(
                    reason: "Face ID or the passcode could not be checked.")
            }
        } onCancel: {
            context.invalidate()
        }
    }
}
