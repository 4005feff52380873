// Which way a Keychain / Secure Enclave failure goes, for the key protector. The core must
// tell "try again after unlock" from "the key is gone" from "not our key": it never makes a
// new vault key over an old vault, so misreading a locked device as a lost key would force
// a needless re-activation, and the reverse would hide a real loss. The status codes are
// Security framework constants, copied here by value so that this rule is tested on Linux;
// the macOS tests compare them with the framework's.

/// What the key protector reports to the core (mirrors `KeyProtectorError`).
public enum KeyStoreFailure: Equatable, Sendable {
    case temporarilyUnavailable
    case permanentlyLost
    case wrongKey
    case failed

    /// Security framework status codes (`SecBase.h`).
    public enum Status {
        public static let success: Int32 = 0
        /// errSecItemNotFound
        public static let itemNotFound: Int32 = -25300
        /// errSecInteractionNotAllowed: the keychain is locked (before the first unlock).
        public static let interactionNotAllowed: Int32 = -25308
        /// errSecNotAvailable
        public static let notAvailable: Int32 = -25291
        /// errSecAuthFailed
        public static let authFailed: Int32 = -25293
    }

    /// Looking up the wrapping key failed with `status` while a wrapped blob exists.
    public static func forKeyLookup(status: Int32) -> KeyStoreFailure {
        switch status {
        case Status.interactionNotAllowed, Status.notAvailable: return .temporarilyUnavailable
        // The blob exists, the key does not: restored backup or a reinstalled app. Never
        // "make a new key" here.
        case Status.itemNotFound: return .permanentlyLost
        default: return .failed
        }
    }

    /// Decrypting with a key that was found failed with `status` (the CFError's code).
    public static func forDecryption(status: Int32) -> KeyStoreFailure {
        switch status {
        case Status.interactionNotAllowed, Status.notAvailable: return .temporarilyUnavailable
        // With authenticated encryption, any other failure means the blob was not made by
        // this key (or was altered).
        default: return .wrongKey
        }
    }

    /// Creating or using the key for wrapping failed with `status`.
    public static func forWrapping(status: Int32) -> KeyStoreFailure {
        switch status {
        case Status.interactionNotAllowed, Status.notAvailable: return .temporarilyUnavailable
        default: return .failed
        }
    }
}
