// Activation through the bindings against a real workspace-server process (async calls from
// Swift): the emailed link, then the emailed PIN; a wrong or malformed PIN is a typed error
// with the attempts left, a link used by another device is refused, an unreachable workspace
// is a network error, and a malformed link is refused without any network use.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation
import XCTest

final class ActivationTests: CoreTestCase {
    private var server: WorkspaceServer?
    private let alice = "alice@acme.example"

    override func tearDownWithError() throws {
        server?.stop()
        try super.tearDownWithError()
    }

    private func startServer() throws -> WorkspaceServer {
        let started = try WorkspaceServer()
        server = started
        return started
    }

    private func phone(_ name: String = "phone", ui: SwiftUserInterface = SwiftUserInterface())
        throws -> Authenticator {
        try open(ui: ui, in: folder.appendingPathComponent(name)) {
            $0.allowInsecureLoopback = true  // the test server speaks plain HTTP on loopback
        }
    }

    func testLinkThenPinActivates() async throws {
        let server = try startServer()
        let core = try phone()
        let link = try server.assign(alice, name: "Alice Liddell", clientPin: true)
        XCTAssertEqual(try core.parseActivationLink(link: link).workspaceHost,
                       String(server.url.dropFirst("http://".count)))

        let pending = try await core.activate(link: link)
        XCTAssertEqual(pending.status, .pending)
        XCTAssertTrue(pending.waitingForPin)
        XCTAssertEqual(EnrollmentSummary(pending).status, .pending)

        let pin = try server.pin(for: alice)
        let wrong = pin == "999999" ? "888888" : "999999"
        let refused = await coreErrorAsync { try await core.submitActivationPin(pin: wrong) }
        XCTAssertEqual(refused, .PinInvalid(attemptsLeft: 4, reason: "wrong PIN; 4 attempt(s) left"))
        XCTAssertEqual(CoreFailure(refused!).attemptsLeft, 4)
        let short = await coreErrorAsync { try await core.submitActivationPin(pin: "12") }
        XCTAssertEqual(short, .InvalidInput(reason: "the PIN must have 6 to 63 characters"))

        let active = try await core.submitActivationPin(pin: pin)
        XCTAssertEqual(active.status, .active)
        XCTAssertFalse(active.waitingForPin)
        let now = try XCTUnwrap(try core.enrollment())
        XCTAssertEqual(now.userEmail, alice)
        XCTAssertEqual(now.userDisplayName, "Alice Liddell")
        XCTAssertEqual(now.workspaceName, "Emulated Workspace")
        XCTAssertTrue(try core.pinStatus().isSet, "the workspace's PIN is the client PIN")
    }

    func testALinkAlreadyUsedByAnotherDeviceIsRefused() async throws {
        let server = try startServer()
        let link = try server.assign(alice, name: "Alice Liddell", clientPin: false)
        let first = try phone("first")
        let activated = try await first.activate(link: link)
        XCTAssertEqual(activated.status, .active)
        let second = try phone("second")
        let error = await coreErrorAsync { try await second.activate(link: link) }
        XCTAssertEqual(error, .Refused(reason: "this activation link was already used by another device"))
        XCTAssertNil(try second.enrollment())
    }

    func testAnUnreachableWorkspaceIsANetworkError() async throws {
        let core = try phone()
        // Loopback port 9 (discard): nothing listens, the connection is refused at once.
        let error = await coreErrorAsync {
            try await core.activate(link: "http://127.0.0.1:9/activate?code=0123456789ABCDEFGHJKMNPQRS")
        }
        guard case .Network? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(CoreFailure(error!).recovery, .retry)
        XCTAssertNil(try core.enrollment())
    }

    func testAMalformedLinkIsRefusedWithTheCoresSentence() throws {
        let core = try phone()
        let link = "https://acme.example/activate?code=0123456789ABCDEFGHJKMNPQRS&x=1"
        XCTAssertEqual(coreError { try core.parseActivationLink(link: link) },
                       .InvalidInput(reason: "this activation link has an unexpected parameter \"x\"; it may have been altered"))
        XCTAssertEqual(
            try core.parseActivationLink(
                link: "passkeyphone://activate?host=Acme.Example&code=0123456789ABCDEFGHJKMNPQRS"
            ).workspaceHost,
            "acme.example")
    }
}
