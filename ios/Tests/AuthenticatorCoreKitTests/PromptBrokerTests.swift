// The broker between the core's waiting UserInterface calls and the screen: order, answers,
// withdrawal on cancellation (the core's timeout), and stale answers.

import AuthenticatorCoreKit
import Foundation
import XCTest

final class PromptBrokerTests: XCTestCase {
    /// Counts change signals from any thread.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() { lock.lock(); value += 1; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return value }
    }

    /// Polls `condition` for up to two seconds.
    private func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(2)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
        return condition()
    }

    func testAnswerReachesTheCaller() async throws {
        let changes = Counter()
        let broker = PromptBroker<String, Bool>(declined: false) { changes.increment() }
        let task = Task { await broker.ask("Sign in?") }
        let shown = await eventually { broker.current?.question == "Sign in?" }
        guard shown else { return XCTFail("the question was not shown") }
        let id = try XCTUnwrap(broker.current?.id)
        broker.answer(id, with: true)
        let answer = await task.value
        XCTAssertTrue(answer)
        XCTAssertNil(broker.current)
        XCTAssertGreaterThanOrEqual(changes.count, 2)
    }

    func testQuestionsAreShownInOrder() async throws {
        let broker = PromptBroker<String, Bool>(declined: false) {}
        let first = Task { await broker.ask("first") }
        let firstShown = await eventually { broker.current?.question == "first" }
        guard firstShown else { return XCTFail("the first question was not shown") }
        let second = Task { await broker.ask("second") }
        let bothWait = await eventually { broker.waitingCount == 2 }
        guard bothWait else { return XCTFail("the second question was not queued") }
        // The second waits behind the first.
        XCTAssertEqual(broker.current?.question, "first")
        broker.answer(try XCTUnwrap(broker.current?.id), with: false)
        let firstAnswer = await first.value
        XCTAssertFalse(firstAnswer)
        let secondShown = await eventually { broker.current?.question == "second" }
        XCTAssertTrue(secondShown)
        broker.answer(try XCTUnwrap(broker.current?.id), with: true)
        let secondAnswer = await second.value
        XCTAssertTrue(secondAnswer)
    }

    func testCancellationWithdrawsTheQuestion() async {
        let broker = PromptBroker<String, UInt32?>(declined: nil) {}
        let task = Task { await broker.ask("Which account?") }
        let shown = await eventually { broker.current != nil }
        guard shown else { return XCTFail("the question was not shown") }
        let staleId = broker.current?.id
        task.cancel()
        let answer = await task.value
        XCTAssertNil(answer)
        XCTAssertNil(broker.current)
        // A late tap on the withdrawn question changes nothing.
        if let staleId { broker.answer(staleId, with: 1) }
        XCTAssertNil(broker.current)
    }

    func testCancelledBeforeAskingIsDeclinedAtOnce() async {
        let broker = PromptBroker<String, Bool>(declined: false) {}
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await broker.ask("never shown")
        }
        let answer = await task.value
        XCTAssertFalse(answer)
        XCTAssertNil(broker.current)
    }

    func testDeclineAll() async {
        let broker = PromptBroker<String, Bool>(declined: false) {}
        let one = Task { await broker.ask("one") }
        let two = Task { await broker.ask("two") }
        let bothQueued = await eventually { broker.waitingCount == 2 }
        guard bothQueued else { return XCTFail("the questions were not queued") }
        broker.declineAll()
        let answers = [await one.value, await two.value]
        XCTAssertEqual(answers, [false, false])
        XCTAssertNil(broker.current)
    }

    /// The Face ID / passcode sheet shows the core's whole sentence: a verification that
    /// unlocks several rights names all of them, not only the operation's title.
    func testVerificationReasonIsTheCoresSentence() {
        let question = PresenceQuestion(
            operation: .register, rpId: "example.com", userName: nil,
            message: "Create a passkey for example.com and sign in to example.com?")
        XCTAssertEqual(question.verificationReason,
                       "Create a passkey for example.com and sign in to example.com?")
    }
}
