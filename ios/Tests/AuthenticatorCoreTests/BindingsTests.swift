// The generated bindings against the real Rust library (macOS slice of the xcframework):
// open a vault, read its state, the error mapping to CoreFailure, a CTAP round trip, and
// that the Keychain status codes copied into AuthenticatorCoreKit match Security's.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation
import Security
import XCTest

final class BindingsTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("authenticator-core-tests-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func open(_ protector: KeyProtector,
                      ui: UserInterface = ScriptedUserInterface()) throws -> Authenticator {
        try Authenticator.open(dataDir: folder.path, keyProtector: protector, userInterface: ui,
                               logger: nil, options: defaultOptions(deviceName: "Swift tests"))
    }

    func testAFreshVault() throws {
        let core = try open(MemoryKeyProtector())
        XCTAssertNil(try core.enrollment())
        XCTAssertEqual(try core.passkeys(), [])
        XCTAssertEqual(try core.pairedComputers(), [])
        XCTAssertEqual(try core.pendingApprovals(), [])
        XCTAssertEqual(try core.keyProtection().kind, "swift-test-memory")
        let pin = try core.pinStatus()
        XCTAssertFalse(pin.isSet)
        XCTAssertGreaterThanOrEqual(pin.minLength, 4)
        XCTAssertFalse(core.linkServiceRunning())
    }

    func testActivationLinks() throws {
        let core = try open(MemoryKeyProtector())
        let link = "https://ws.example.com/activate?code=0123456789ABCDEFGHJKMNPQRS"
        XCTAssertEqual(IncomingLink.recognize(link), .activation(link))
        XCTAssertEqual(try core.parseActivationLink(link: link).workspaceHost, "ws.example.com")
        XCTAssertThrowsError(try core.parseActivationLink(link: "hello")) { error in
            let failure = CoreFailure(error)
            XCTAssertEqual(failure.kind, .invalidInput)
            XCTAssertFalse(failure.reason.isEmpty)
        }
    }

    func testPinThroughTheBindings() throws {
        let ui = ScriptedUserInterface()
        let core = try open(MemoryKeyProtector(), ui: ui)
        XCTAssertThrowsError(try core.setPin(newPin: "12")) { error in
            XCTAssertEqual(CoreFailure(error).kind, .invalidInput)
        }
        try core.setPin(newPin: "1234")
        XCTAssertTrue(try core.pinStatus().isSet)
        XCTAssertThrowsError(try core.changePin(currentPin: "9999", newPin: "5678")) { error in
            let failure = CoreFailure(error)
            XCTAssertEqual(failure.kind, .pinInvalid)
            XCTAssertNotNil(failure.attemptsLeft)
        }
        try core.changePin(currentPin: "1234", newPin: "5678")
        XCTAssertTrue(ui.notified.contains(.pinChanged))
    }

    func testAVaultOfAnotherKeyIsUnreadable() throws {
        _ = try open(MemoryKeyProtector())
        XCTAssertThrowsError(try open(MemoryKeyProtector())) { error in
            let failure = CoreFailure(error)
            XCTAssertEqual(failure.kind, .vaultUnreadable)
            XCTAssertEqual(failure.recovery, .activateAgain)
        }
    }

    func testReopeningWithTheSameKey() throws {
        let protector = MemoryKeyProtector()
        do {
            let core = try open(protector)
            try core.setPin(newPin: "1234")
        }
        XCTAssertTrue(try open(protector).pinStatus().isSet)
    }

    func testMissingThingsAreNotFound() throws {
        let core = try open(MemoryKeyProtector())
        XCTAssertThrowsError(try core.deletePasskey(passkeyId: "AAAAAAAAAAAAAAAAAAAAAA")) { error in
            let kind = CoreFailure(error).kind
            XCTAssertTrue(kind == .notFound || kind == .invalidInput, "\(kind)")
        }
    }

    func testCtapGetInfo() async throws {
        let core = try open(MemoryKeyProtector())
        let response = await core.handleCtap(request: Data([0x04]))
        XCTAssertEqual(response.first, 0x00, "getInfo succeeds")
        XCTAssertGreaterThan(response.count, 1)
    }

    func testMalformedPairingCodeIsInvalidInput() async throws {
        let core = try open(MemoryKeyProtector())
        do {
            _ = try await core.pair(qrText: "PASSKEYPHONE:/123")
            XCTFail("a malformed code was accepted")
        } catch {
            XCTAssertEqual(CoreFailure(error).kind, .invalidInput)
        }
    }

    func testKeychainStatusCodesMatchSecurity() {
        typealias Status = KeyStoreFailure.Status
        XCTAssertEqual(Status.success, errSecSuccess)
        XCTAssertEqual(Status.itemNotFound, errSecItemNotFound)
        XCTAssertEqual(Status.interactionNotAllowed, errSecInteractionNotAllowed)
        XCTAssertEqual(Status.notAvailable, errSecNotAvailable)
        XCTAssertEqual(Status.authFailed, errSecAuthFailed)
    }

    func testEveryOperationMapsToAPromptOperation() {
        let all: [UserOperation] = [.register, .signIn, .alreadyRegistered, .reset, .select,
                                    .manage, .onBehalfRegistration]
        XCTAssertEqual(Set(all.map { PromptOperation($0) }).count, PromptOperation.allCases.count)
    }
}
