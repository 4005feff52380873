// What each kind of core failure offers the user, and the wrong-PIN message.

import AuthenticatorCoreKit
import XCTest

final class CoreFailureTests: XCTestCase {
    func testRecoveries() {
        let expected: [CoreFailure.Kind: CoreFailure.Recovery] = [
            .invalidInput: .correctInput,
            .pinInvalid: .correctInput,
            .network: .retry,
            .storage: .retry,
            .keyStoreFailed: .retry,
            .keyTemporarilyUnavailable: .retryAfterUnlock,
            .keyPermanentlyLost: .activateAgain,
            .vaultUnreadable: .activateAgain,
            .refused: .noAction,
            .internal: .noAction,
        ]
        for (kind, recovery) in expected {
            XCTAssertEqual(CoreFailure(kind: kind, reason: "r").recovery, recovery, "\(kind)")
        }
    }

    func testEveryKindHasATitle() {
        let titles = CoreFailure.Kind.allCases.map { CoreFailure(kind: $0, reason: "").title }
        XCTAssertFalse(titles.contains(""))
        XCTAssertEqual(Set(titles).count, titles.count)
    }

    func testWrongPinSaysTheAttemptsLeft() {
        let failure = CoreFailure(kind: .pinInvalid, reason: "The PIN is wrong", attemptsLeft: 3)
        XCTAssertEqual(failure.message, "The PIN is wrong (3 attempts left.)")
        let last = CoreFailure(kind: .pinInvalid, reason: "The PIN is wrong", attemptsLeft: 1)
        XCTAssertEqual(last.message, "The PIN is wrong (1 attempt left.)")
    }

    func testOtherKindsShowTheReasonAsIs() {
        let failure = CoreFailure(kind: .network, reason: "The workspace cannot be reached.")
        XCTAssertEqual(failure.message, "The workspace cannot be reached.")
    }
}
