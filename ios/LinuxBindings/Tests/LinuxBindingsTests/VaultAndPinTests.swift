// The vault through the bindings with a Swift KeyProtector: a fresh vault's state, reopening
// with the same key, another key's vault refused with the recovery the app shows, a key that
// is temporarily unavailable, and the client PIN's rules with their exact errors, the PIN
// change reaching the Swift UserInterface as a notice.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation
import XCTest

final class VaultAndPinTests: CoreTestCase {
    func testAFreshVault() throws {
        let protector = SwiftKeyProtector()
        let core = try open(protector)
        XCTAssertNil(try core.enrollment())
        XCTAssertEqual(try core.passkeys(), [])
        XCTAssertEqual(try core.pairedComputers(), [])
        XCTAssertEqual(try core.pendingApprovals(), [])
        XCTAssertEqual(try core.keyProtection(),
                       KeyProtectionInfo(hardwareBacked: false, kind: "swift-linux-test"))
        let pin = try core.pinStatus()
        XCTAssertFalse(pin.isSet)
        XCTAssertEqual(pin.minLength, 4)
        XCTAssertFalse(core.linkServiceRunning())
        XCTAssertEqual(protector.calls.first, "wrap", "a new vault key is wrapped first")
        XCTAssertEqual(protector.calls.filter { $0 == "wrap" }.count, 1)
    }

    func testReopeningWithTheSameKeyKeepsThePin() throws {
        let protector = SwiftKeyProtector()
        try open(protector).setPin(newPin: "1234")
        XCTAssertTrue(try open(protector).pinStatus().isSet)
        XCTAssertEqual(protector.calls.filter { $0 == "wrap" }.count, 1,
                       "reopening unwraps the vault key, never makes a new one")
    }

    func testAVaultOfAnotherKeyIsUnreadableAndAsksForANewActivation() throws {
        _ = try open(SwiftKeyProtector())
        let error = coreError { try open(SwiftKeyProtector()) }
        guard case .VaultUnreadable(let reason)? = error else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertFalse(reason.isEmpty)
        let failure = CoreFailure(error!)
        XCTAssertEqual(failure.kind, .vaultUnreadable)
        XCTAssertEqual(failure.recovery, .activateAgain)
    }

    func testALockedKeyIsTemporarilyUnavailableAndTheVaultSurvives() throws {
        let protector = SwiftKeyProtector()
        try open(protector).setPin(newPin: "1234")
        protector.unwrapFailure = .TemporarilyUnavailable(reason: "device locked")
        let error = coreError { try open(protector) }
        guard case .KeyTemporarilyUnavailable? = error else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertEqual(CoreFailure(error!).recovery, .retryAfterUnlock)
        protector.unwrapFailure = nil
        XCTAssertTrue(try open(protector).pinStatus().isSet, "nothing was lost")
    }

    func testPinRulesAndChangeThroughTheBindings() throws {
        let ui = SwiftUserInterface()
        let core = try open(ui: ui)
        XCTAssertEqual(coreError { try core.setPin(newPin: "12") },
                       .InvalidInput(reason: "the PIN must have 4 to 63 characters"))
        XCTAssertFalse(try core.pinStatus().isSet, "a refused PIN is not set")
        try core.setPin(newPin: "1234")
        XCTAssertEqual(ui.events, [.pinChanged])
        XCTAssertEqual(coreError { try core.setPin(newPin: "5678") },
                       .InvalidState(reason: "a PIN is already set; change it instead"))
        // 8 retries (CTAP 2.1 §6.5.2.2) less the wrong attempt.
        XCTAssertEqual(coreError { try core.changePin(currentPin: "9999", newPin: "5678") },
                       .PinInvalid(attemptsLeft: 7, reason: "wrong PIN; 7 attempt(s) left"))
        XCTAssertEqual(try core.pinStatus().retriesLeft, 7)
        try core.changePin(currentPin: "1234", newPin: "5678")
        XCTAssertEqual(try core.pinStatus().retriesLeft, 8, "a right PIN restores the retries")
        XCTAssertEqual(ui.events, [.pinChanged, .pinChanged])
    }
}
