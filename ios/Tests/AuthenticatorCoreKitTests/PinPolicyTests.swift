// The client PIN rules checked while typing (CTAP 2.1 section 6.5.1).

import AuthenticatorCoreKit
import XCTest

final class PinPolicyTests: XCTestCase {
    func testMinimumCountsCodePoints() {
        let policy = PinPolicy(minLength: 4)
        XCTAssertEqual(policy.check(newPin: "123", confirmation: "123"), .tooShort(minLength: 4))
        XCTAssertNil(policy.check(newPin: "1234", confirmation: "1234"))
        // Four code points, more than four bytes: long enough.
        XCTAssertNil(policy.check(newPin: "éééé", confirmation: "éééé"))
    }

    func testTheWorkspaceCanRaiseTheMinimumButNotLowerIt() {
        XCTAssertEqual(PinPolicy(minLength: 8).minLength, 8)
        XCTAssertEqual(PinPolicy(minLength: 2).minLength, 4)
    }

    func testMaximumCountsBytes() {
        let policy = PinPolicy()
        XCTAssertNil(policy.check(newPin: String(repeating: "a", count: 63),
                                  confirmation: String(repeating: "a", count: 63)))
        let long = String(repeating: "é", count: 32)  // 64 bytes
        XCTAssertEqual(policy.check(newPin: long, confirmation: long), .tooLong)
    }

    func testConfirmationAndChange() {
        let policy = PinPolicy()
        XCTAssertEqual(policy.check(newPin: "12345", confirmation: "12346"), .mismatch)
        XCTAssertEqual(policy.check(newPin: "12345", confirmation: "12345", current: "12345"),
                       .sameAsCurrent)
        XCTAssertNil(policy.check(newPin: "12345", confirmation: "12345", current: "54321"))
    }

    func testSubmit() {
        let policy = PinPolicy()
        XCTAssertFalse(policy.canSubmit(""))
        XCTAssertTrue(policy.canSubmit("1"))
        XCTAssertFalse(policy.canSubmit(String(repeating: "1", count: 64)))
    }
}
