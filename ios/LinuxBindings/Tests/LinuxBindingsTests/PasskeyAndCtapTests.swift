// CTAP through the bindings, with the Swift UserInterface answering the core's async prompts:
// a registration makes a passkey the app lists, renames and deletes (exact errors for a
// missing one and a bad name), a user who says no gets OPERATION_DENIED and no passkey; a
// channel's request is cancelled by the app (the Swift prompt is withdrawn, the client gets
// KEEPALIVE_CANCEL) or by the core's timeout (USER_ACTION_TIMEOUT); a malformed pairing code
// is refused from an async call; an ended channel refuses further requests; after
// registrations the Kit's idle upkeep checkpoints the vault's log and checks its file, once.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation
import XCTest

final class PasskeyAndCtapTests: CoreTestCase {
    private let alice = "alice@example.com"

    func testGetInfoAnswersThroughAnAsyncCall() async throws {
        let core = try open()
        let answer = await core.handleCtap(request: Data([Ctap.getInfo]))
        XCTAssertEqual(answer.first, Ctap.ok)
        XCTAssertGreaterThan(answer.count, 1)
        // An unknown command is a CTAP status, not a thrown error (CTAP1_ERR_INVALID_COMMAND).
        let unknown = await core.handleCtap(request: Data([0x7F]))
        XCTAssertEqual(unknown, Data([0x01]))
    }

    func testARegistrationMakesAPasskeyTheAppManages() async throws {
        let ui = SwiftUserInterface(.yes)
        let core = try open(ui: ui)
        let answer = await core.handleCtap(request: Ctap.register(userName: alice, userId: [1, 2, 3]))
        XCTAssertEqual(answer.first, Ctap.ok)
        XCTAssertEqual(ui.prompts, ["verify register example.com"],
                       "the phone's own verification, asked once, naming the operation and site")
        XCTAssertEqual(ui.events, [.passkeyCreated(rpId: "example.com", userName: alice)])

        let passkeys = try core.passkeys()
        XCTAssertEqual(passkeys.count, 1)
        let row = PasskeyRow(passkeys[0])
        XCTAssertEqual(row.rpId, "example.com")
        XCTAssertEqual(row.rpName, "Example")
        XCTAssertEqual(row.userName, alice)
        XCTAssertEqual(row.userDisplayName, "Alice Liddell")
        XCTAssertTrue(row.discoverable)

        try core.renamePasskey(passkeyId: row.id, name: "Work")
        XCTAssertEqual(try core.passkeys().first?.name, "Work")
        XCTAssertEqual(PasskeyLabel.validate("   "), .failure(.empty), "the Kit refuses it first")

        try core.deletePasskey(passkeyId: row.id)
        XCTAssertEqual(try core.passkeys(), [])
        XCTAssertEqual(ui.events, [.passkeyCreated(rpId: "example.com", userName: alice)],
                       "the app's own deletion is no notice")
        XCTAssertEqual(coreError { try core.deletePasskey(passkeyId: row.id) },
                       .NotFound(reason: "no passkey has this id"))
        XCTAssertEqual(coreError { try core.renamePasskey(passkeyId: row.id, name: "Home") },
                       .NotFound(reason: "no passkey has this id"))
    }

    func testTheIdleUpkeepCheckpointsAndChecksTheVaultOnce() async throws {
        let core = try open(ui: SwiftUserInterface(.yes))
        for id in UInt8(1)...3 {
            let answer = await core.handleCtap(request: Ctap.register(userName: alice, userId: [id]))
            XCTAssertEqual(answer.first, Ctap.ok)
        }
        let upkeep = IdleUpkeep(delayNanoseconds: 1_000_000) { await core.idleUpkeep() }
        await upkeep.schedule().value
        guard case .success(let first)? = await upkeep.outcome else {
            return XCTFail("no run recorded")
        }
        XCTAssertGreaterThan(first.checkpointedPages, 0)
        XCTAssertTrue(first.checkedVaultFile)
        await upkeep.schedule().value
        let second = await upkeep.outcome
        XCTAssertEqual(second, .success(IdleReport(checkpointedPages: 0, checkedVaultFile: false,
                                                   receiptsPosted: 0, receiptsDropped: 0,
                                                   receiptsWaiting: 0)))
    }

    func testAUserWhoSaysNoGetsOperationDeniedAndNoPasskey() async throws {
        let ui = SwiftUserInterface(.no)
        let core = try open(ui: ui)
        let answer = await core.handleCtap(request: Ctap.register(userName: alice, userId: [7]))
        XCTAssertEqual(answer, Data([Ctap.operationDenied]))
        XCTAssertEqual(ui.prompts.count, 1)
        XCTAssertEqual(try core.passkeys(), [])
        XCTAssertEqual(ui.events, [])
    }

    func testAThrowingUserInterfaceIsADenialNotACrash() async throws {
        let ui = SwiftUserInterface(.fail(.Unavailable(reason: "no window")))
        let core = try open(ui: ui)
        let answer = await core.handleCtap(request: Ctap.register(userName: alice, userId: [8]))
        XCTAssertNotEqual(answer.first, Ctap.ok)
        XCTAssertEqual(try core.passkeys(), [])
        // The core still works afterwards.
        ui.answer = .yes
        let again = await core.handleCtap(request: Ctap.register(userName: alice, userId: [8]))
        XCTAssertEqual(again.first, Ctap.ok)
    }

    func testTheAppCancelsARequestAndTheSwiftPromptIsWithdrawn() async throws {
        let ui = SwiftUserInterface(.hang)
        let core = try open(ui: ui)
        let channel = try core.openCtapChannel()
        XCTAssertEqual(channel.requestState(), .idle)
        let request = Task { try await channel.handle(request: Ctap.register(userName: alice, userId: [9])) }
        try await eventually("the prompt reaches Swift") { ui.prompts.count == 1 }
        XCTAssertEqual(channel.requestState(), .waitingForUser)
        channel.cancel()
        let answer = try await request.value
        XCTAssertEqual(answer, Data([Ctap.keepaliveCancel]))
        try await eventually("the Swift prompt's task is cancelled") { ui.withdrawn == 1 }
        XCTAssertEqual(channel.requestState(), .idle)
        XCTAssertEqual(try core.passkeys(), [])
    }

    func testTheCoreWithdrawsAPromptNobodyAnswers() async throws {
        let ui = SwiftUserInterface(.hang)
        let core = try open(ui: ui) { $0.userActionTimeoutMs = 300 }
        let answer = await core.handleCtap(request: Ctap.register(userName: alice, userId: [10]))
        XCTAssertEqual(answer, Data([Ctap.userActionTimeout]))
        try await eventually("the Swift prompt's task is cancelled") { ui.withdrawn == 1 }
        XCTAssertEqual(try core.passkeys(), [])
    }

    func testAnEndedChannelRefusesRequests() async throws {
        let core = try open()
        let channel = try core.openCtapChannel()
        let info = try await channel.handle(request: Data([Ctap.getInfo]))
        XCTAssertEqual(info.first, Ctap.ok)
        await channel.end()
        let error = await coreErrorAsync { try await channel.handle(request: Data([Ctap.getInfo])) }
        guard case .InvalidState? = error else { return XCTFail("\(String(describing: error))") }
        channel.cancel()  // nothing runs: no effect, no error
    }

    func testAMalformedPairingCodeIsInvalidInput() async throws {
        let core = try open()
        let error = await coreErrorAsync { try await core.pair(qrText: "PASSKEYPHONE:/123") }
        guard case .InvalidInput(let reason)? = error else {
            return XCTFail("\(String(describing: error))")
        }
        XCTAssertFalse(reason.isEmpty)
        XCTAssertEqual(try core.pairedComputers(), [])
        let long = String(repeating: "1", count: 100_000)
        let tooLong = await coreErrorAsync { try await core.pair(qrText: "PASSKEYPHONE:/" + long) }
        XCTAssertEqual(tooLong,
                       .InvalidInput(reason: "this is not a usable pairing code: it is far too long"))
    }
}
