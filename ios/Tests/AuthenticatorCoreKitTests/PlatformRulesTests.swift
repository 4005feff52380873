// The key protector's error rule (locked vs lost vs wrong key) and the retry delays.

import AuthenticatorCoreKit
import XCTest

final class PlatformRulesTests: XCTestCase {
    typealias Status = KeyStoreFailure.Status

    func testMissingKeyWithABlobIsLostButALockedKeychainIsNot() {
        XCTAssertEqual(KeyStoreFailure.forKeyLookup(status: Status.itemNotFound), .permanentlyLost)
        XCTAssertEqual(KeyStoreFailure.forKeyLookup(status: Status.interactionNotAllowed),
                       .temporarilyUnavailable)
        XCTAssertEqual(KeyStoreFailure.forKeyLookup(status: -1), .failed)
    }

    func testDecryptionFailuresAreAWrongKeyUnlessLocked() {
        XCTAssertEqual(KeyStoreFailure.forDecryption(status: Status.authFailed), .wrongKey)
        XCTAssertEqual(KeyStoreFailure.forDecryption(status: -50), .wrongKey)
        XCTAssertEqual(KeyStoreFailure.forDecryption(status: Status.interactionNotAllowed),
                       .temporarilyUnavailable)
    }

    func testWrappingNeverReportsALostKey() {
        for status in [Status.itemNotFound, Status.authFailed, -50] {
            XCTAssertEqual(KeyStoreFailure.forWrapping(status: status), .failed)
        }
        XCTAssertEqual(KeyStoreFailure.forWrapping(status: Status.interactionNotAllowed),
                       .temporarilyUnavailable)
    }

    func testRetryDelayDoublesUpToTheCapAndResets() {
        var delay = RetryDelay(first: 2, cap: 30)
        XCTAssertEqual((0..<6).map { _ in delay.next() }, [2, 4, 8, 16, 30, 30])
        delay.reset()
        XCTAssertEqual(delay.next(), 2)
        var many = RetryDelay(first: 1, cap: 60)
        for _ in 0..<100 { _ = many.next() }
        XCTAssertEqual(many.next(), 60)
    }
}
