// The idle upkeep's scheduling without the Rust library: triggers in a burst make one run, a
// trigger during a run does not cancel it and its own run waits for it, the core's failure is
// kept as a CoreFailure, and a runner with no open core records nothing.

import AuthenticatorCoreKit
import XCTest

/// Counts runs and the most that were ever inside the runner at once.
private actor Runs {
    var count = 0
    var inside = 0
    var mostInside = 0
    var gate: CheckedContinuation<Void, Never>?
    var held = false

    func enter() async {
        count += 1
        inside += 1
        mostInside = max(mostInside, inside)
        if held { await withCheckedContinuation { gate = $0 } }
    }

    func leave() { inside -= 1 }
    func hold() { held = true }
    func release() {
        held = false
        gate?.resume()
        gate = nil
    }
}

private let report = IdleReport(checkpointedPages: 12, checkedVaultFile: true, receiptsPosted: 0,
                                receiptsDropped: 0, receiptsWaiting: 0)

final class IdleUpkeepTests: XCTestCase {
    func testABurstOfTriggersMakesOneRun() async {
        let runs = Runs()
        let upkeep = IdleUpkeep(delayNanoseconds: 50_000_000) {
            await runs.enter()
            await runs.leave()
            return .success(report)
        }
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<5 { tasks.append(await upkeep.schedule()) }
        for task in tasks { await task.value }
        let count = await runs.count
        XCTAssertEqual(count, 1)
        let outcome = await upkeep.outcome
        XCTAssertEqual(outcome, .success(report))
    }

    func testARunIsNotCancelledAndRunsNeverOverlap() async throws {
        let runs = Runs()
        await runs.hold()
        let upkeep = IdleUpkeep(delayNanoseconds: 1_000_000) {
            await runs.enter()
            await runs.leave()
            return .success(report)
        }
        let first = await upkeep.schedule()
        for _ in 0..<500 where await runs.count == 0 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let second = await upkeep.schedule()
        try await Task.sleep(nanoseconds: 100_000_000)
        let whileHeld = await runs.count
        XCTAssertEqual(whileHeld, 1, "the second run waits for the first")
        await runs.release()
        await first.value
        await second.value
        let count = await runs.count
        let mostInside = await runs.mostInside
        XCTAssertEqual(count, 2)
        XCTAssertEqual(mostInside, 1)
    }

    func testTheCoresFailureIsKept() async {
        let failure = CoreFailure(
            kind: .vaultUnreadable,
            reason: "the vault file is damaged (integrity check failed: page 7); it will be moved aside when it is opened next")
        let upkeep = IdleUpkeep(delayNanoseconds: 1_000_000) { .failure(failure) }
        await upkeep.schedule().value
        let outcome = await upkeep.outcome
        XCTAssertEqual(outcome, .failure(failure))
        XCTAssertEqual(failure.title, "Passkeys can't be read")
    }

    func testNothingIsRecordedWithoutAnOpenCore() async {
        let upkeep = IdleUpkeep(delayNanoseconds: 1_000_000) { nil }
        await upkeep.schedule().value
        let outcome = await upkeep.outcome
        XCTAssertNil(outcome)
    }
}
