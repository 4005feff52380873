// The iOS `KeyProtector`: wraps the vault key with a P-256 key that lives in the Secure
// Enclave, by ECIES (`SecKeyCreateEncryptedData` with the cofactor, variable-IV, X9.63
// SHA-256, AES-GCM algorithm), so the wrapped key is useless off this phone.
//
// Invariants (DESIGN.md section 3, STYLE.md "Mobile pitfalls"):
// - the key is usable after the first unlock since boot, on this device only
//   (AfterFirstUnlockThisDeviceOnly), for private-key operations only; it is NOT bound to
//   biometry, which would lose the vault when a fingerprint or face is enrolled;
// - `unwrap` never creates a key: a blob without its key is "permanently lost", and the core
//   then asks the user to re-activate instead of silently making a new vault;
// - a locked keychain (before the first unlock) is "temporarily unavailable";
// - the simulator has no Secure Enclave: it uses an ordinary keychain key and says so
//   ("ios-keychain-software", not hardware backed). Nothing else falls back.
// - the vault's monotonic anchor (the core's sealed state generation) is a generic-password
//   keychain item, AfterFirstUnlockThisDeviceOnly and never synchronised: it does not move to
//   another device, so another device's backup restored here is older than the anchor and
//   refused. A restore of this same device's encrypted backup brings back the keychain with
//   the files, so that rollback is not seen.

import AuthenticatorCoreKit
import Foundation
import Security

public final class SecureEnclaveKeyProtector: KeyProtector, @unchecked Sendable {
    public enum Backing: Sendable {
        case secureEnclave
        /// The simulator's stand-in: a keychain key, protected by the OS but not by hardware.
        case softwareKeychain
    }

    /// First byte of every blob, so that a later format can be told apart.
    static let blobVersion: UInt8 = 1
    static let algorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    private let tag: Data
    private let backing: Backing
    /// Serialises find-or-create: two keys under one tag would make unwrapping a lottery.
    private let lock = NSLock()

    /// `tagPrefix` names the key in the keychain (for example the bundle id); the backing is
    /// appended so that a key of one kind is never mistaken for the other.
    public init(tagPrefix: String, backing: Backing) {
        let suffix = backing == .secureEnclave ? "secure-enclave" : "keychain-software"
        tag = Data("\(tagPrefix).vault-wrap.\(suffix)".utf8)
        self.backing = backing
    }

    /// The protector for where the app runs: the Secure Enclave on a device, the software
    /// stand-in on the simulator.
    public static func forThisDevice(tagPrefix: String) -> SecureEnclaveKeyProtector {
        #if targetEnvironment(simulator)
        return SecureEnclaveKeyProtector(tagPrefix: tagPrefix, backing: .softwareKeychain)
        #else
        return SecureEnclaveKeyProtector(tagPrefix: tagPrefix, backing: .secureEnclave)
        #endif
    }

    public func info() -> KeyProtectionInfo {
        switch backing {
        case .secureEnclave:
            return KeyProtectionInfo(hardwareBacked: true, kind: "ios-secure-enclave")
        case .softwareKeychain:
            return KeyProtectionInfo(hardwareBacked: false, kind: "ios-keychain-software")
        }
    }

    public func wrap(secret: Data) throws -> Data {
        let privateKey = try existingOrNewKey()
        guard let publicKey = SecKeyCopyPublicKey(privateKey),
              SecKeyIsAlgorithmSupported(publicKey, .encrypt, Self.algorithm) else {
            throw KeyProtectorError.Failed(reason: "The device key cannot encrypt.")
        }
        var error: Unmanaged<CFError>?
        guard let sealed = SecKeyCreateEncryptedData(publicKey, Self.algorithm,
                                                     secret as CFData, &error) as Data? else {
            let status = Self.status(of: error)
            throw Self.error(KeyStoreFailure.forWrapping(status: status), status: status,
                             doing: "encrypt with the device key")
        }
        return Data([Self.blobVersion]) + sealed
    }

    public func unwrap(blob: Data) throws -> Data {
        guard blob.count > 1, blob.first == Self.blobVersion else {
            throw KeyProtectorError.WrongKey
        }
        let privateKey: SecKey
        switch findKey() {
        case .success(let key):
            privateKey = key
        case .failure(let lookup):
            throw Self.error(KeyStoreFailure.forKeyLookup(status: lookup.status),
                             status: lookup.status, doing: "find the device key")
        }
        var error: Unmanaged<CFError>?
        let sealed = Data(blob.dropFirst())
        guard let secret = SecKeyCreateDecryptedData(privateKey, Self.algorithm,
                                                     sealed as CFData, &error) as Data? else {
            let status = Self.status(of: error)
            throw Self.error(KeyStoreFailure.forDecryption(status: status), status: status,
                             doing: "decrypt with the device key")
        }
        return secret
    }

    // MARK: - The state anchor

    private var anchorQuery: [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: String(decoding: tag, as: UTF8.self) + ".state-anchor",
            kSecAttrAccount as String: "vault",
            kSecAttrSynchronizable as String: false,
            kSecUseDataProtectionKeychain as String: true,
        ]
    }

    public func loadAnchor() throws -> Data? {
        var query = anchorQuery
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            return item as? Data
        case errSecItemNotFound:
            return nil
        default:
            throw Self.anchorError(status: status, doing: "read the vault's state anchor")
        }
    }

    public func storeAnchor(anchor: Data) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        var status = SecItemUpdate(anchorQuery as CFDictionary,
                                   [kSecValueData as String: anchor] as CFDictionary)
        if status == errSecItemNotFound {
            var add = anchorQuery
            add[kSecValueData as String] = anchor
            add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
            status = SecItemAdd(add as CFDictionary, nil)
        }
        guard status == errSecSuccess else {
            throw Self.anchorError(status: status, doing: "write the vault's state anchor")
        }
        return true
    }

    private static func anchorError(status: OSStatus, doing step: String) -> KeyProtectorError {
        if status == errSecInteractionNotAllowed {
            return .TemporarilyUnavailable(
                reason: "The phone must be unlocked once since it started (could not \(step)).")
        }
        return .Failed(reason: "Could not \(step) (status \(status)).")
    }

    // MARK: - The key

    private struct LookupFailure: Error {
        let status: OSStatus
    }

    private func existingOrNewKey() throws -> SecKey {
        lock.lock()
        defer { lock.unlock() }
        switch findKey() {
        case .success(let key):
            return key
        case .failure(let lookup) where lookup.status == errSecItemNotFound:
            return try createKey()
        case .failure(let lookup):
            // Locked or broken keychain: making a key now could leave two under one tag.
            throw Self.error(KeyStoreFailure.forWrapping(status: lookup.status),
                             status: lookup.status, doing: "find the device key")
        }
    }

    private func findKey() -> Result<SecKey, LookupFailure> {
        let query: [String: Any] = [
            kSecClass as String: kSecClassKey,
            kSecAttrKeyClass as String: kSecAttrKeyClassPrivate,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrApplicationTag as String: tag,
            kSecUseDataProtectionKeychain as String: true,
            kSecReturnRef as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        guard status == errSecSuccess else { return .failure(LookupFailure(status: status)) }
        guard let item, CFGetTypeID(item) == SecKeyGetTypeID() else {
            return .failure(LookupFailure(status: errSecInternalError))
        }
        // The type id was checked just above, so this cast cannot fail.
        return .success(item as! SecKey)
    }

    private func createKey() throws -> SecKey {
        var privateAttributes: [String: Any] = [
            kSecAttrIsPermanent as String: true,
            kSecAttrApplicationTag as String: tag,
            kSecAttrLabel as String: "Passkey vault wrapping key",
        ]
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecUseDataProtectionKeychain as String: true,
        ]
        switch backing {
        case .secureEnclave:
            var accessError: Unmanaged<CFError>?
            // Private-key usage only: no .biometryCurrentSet / .userPresence (see the header).
            guard let access = SecAccessControlCreateWithFlags(
                kCFAllocatorDefault, kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
                .privateKeyUsage, &accessError) else {
                let status = Self.status(of: accessError)
                throw Self.error(.failed, status: status, doing: "describe the device key")
            }
            attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave
            privateAttributes[kSecAttrAccessControl as String] = access
        case .softwareKeychain:
            privateAttributes[kSecAttrAccessible as String] =
                kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        }
        attributes[kSecPrivateKeyAttrs as String] = privateAttributes
        var error: Unmanaged<CFError>?
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            let status = Self.status(of: error)
            throw Self.error(KeyStoreFailure.forWrapping(status: status), status: status,
                             doing: "create the device key")
        }
        return key
    }

    // MARK: - Errors

    /// The OSStatus inside a Security framework CFError (0 when there is none).
    private static func status(of error: Unmanaged<CFError>?) -> OSStatus {
        guard let error = error?.takeRetainedValue() else { return errSecSuccess }
        return OSStatus(truncatingIfNeeded: CFErrorGetCode(error))
    }

    /// The error for the core. Reasons name the step and the status code only: no key
    /// material, no blob, nothing about the user.
    private static func error(_ failure: KeyStoreFailure, status: OSStatus,
                              doing step: String) -> KeyProtectorError {
        switch failure {
        case .temporarilyUnavailable:
            return .TemporarilyUnavailable(
                reason: "The phone must be unlocked once since it started (could not \(step)).")
        case .permanentlyLost:
            return .PermanentlyLost(
                reason: "The device key that protects the passkeys is gone from this phone.")
        case .wrongKey:
            return .WrongKey
        case .failed:
            return .Failed(reason: "Could not \(step) (status \(status)).")
        }
    }
}
