// Stand-ins for the platform in the bindings tests: an in-memory AES-GCM key protector (the
// CI Mac has no provisioning for Keychain or Secure Enclave keys) and a user interface that
// answers from a script.

import AuthenticatorCore
import CryptoKit
import Foundation

final class MemoryKeyProtector: KeyProtector, @unchecked Sendable {
    private let key = SymmetricKey(size: .bits256)

    func wrap(secret: Data) throws -> Data {
        guard let sealed = try AES.GCM.seal(secret, using: key).combined else {
            throw KeyProtectorError.Failed(reason: "AES-GCM gave no combined form.")
        }
        return sealed
    }

    func unwrap(blob: Data) throws -> Data {
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: blob), using: key)
        } catch {
            throw KeyProtectorError.WrongKey
        }
    }

    func info() -> KeyProtectionInfo {
        KeyProtectionInfo(hardwareBacked: false, kind: "swift-test-memory")
    }

    /// The vault's monotonic anchor, kept in memory for as long as this protector.
    private let anchorLock = NSLock()
    private var anchor: Data?

    func loadAnchor() throws -> Data? {
        anchorLock.lock()
        defer { anchorLock.unlock() }
        return anchor
    }

    func storeAnchor(anchor: Data) throws -> Bool {
        anchorLock.lock()
        defer { anchorLock.unlock() }
        self.anchor = anchor
        return true
    }
}

final class ScriptedUserInterface: UserInterface, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [UserEvent] = []
    let allow: Bool

    init(allow: Bool = true) {
        self.allow = allow
    }

    var notified: [UserEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    func confirmPresence(prompt: PresencePrompt) async throws -> Bool { allow }

    func verifyUser(prompt: PresencePrompt) async throws -> VerificationOutcome {
        allow ? .verified : .declined
    }

    func chooseAccount(rpId: String, accounts: [AccountOption]) async throws -> UInt32? {
        allow ? 0 : nil
    }

    func notify(event: UserEvent) throws {
        lock.lock()
        events.append(event)
        lock.unlock()
    }
}
