// The activation screen's transitions, without the core: link, confirmation, activation,
// the emailed PIN (wrong, network trouble, right), failures, and resuming after a restart.

import AuthenticatorCoreKit
import XCTest

final class ActivationFlowTests: XCTestCase {
    private func enrollment(waitingForPin: Bool, status: KeyStatus = .pending)
        -> EnrollmentSummary {
        EnrollmentSummary(status: status, workspaceName: "Acme", userEmail: "alice@acme.example",
                          userDisplayName: "Alice", waitingForPin: waitingForPin)
    }

    func testLinkConfirmActivateThenPin() {
        var flow = ActivationFlow()
        XCTAssertEqual(flow.phase, .waitingForLink)
        flow.linkParsed(.success("ws.acme.example"))
        XCTAssertEqual(flow.phase, .confirm(host: "ws.acme.example"))
        XCTAssertTrue(flow.confirmed())
        XCTAssertEqual(flow.phase, .activating(host: "ws.acme.example"))
        XCTAssertTrue(flow.isBusy)
        flow.activationFinished(.success(enrollment(waitingForPin: true)))
        XCTAssertEqual(flow.phase, .enterPin(workspace: "Acme", failure: nil))
        XCTAssertTrue(flow.pinSubmitted())
        XCTAssertEqual(flow.phase, .submittingPin(workspace: "Acme"))
        let active = enrollment(waitingForPin: false, status: .active)
        flow.pinFinished(.success(active))
        XCTAssertEqual(flow.phase, .activated(active))
        XCTAssertFalse(flow.acceptsLink)
    }

    func testActivationWithoutPin() {
        var flow = ActivationFlow()
        flow.linkParsed(.success("ws.acme.example"))
        _ = flow.confirmed()
        let active = enrollment(waitingForPin: false, status: .active)
        flow.activationFinished(.success(active))
        XCTAssertEqual(flow.phase, .activated(active))
    }

    func testWrongPinAndNetworkTroubleStayOnThePinStep() {
        var flow = ActivationFlow(enrollment: enrollment(waitingForPin: true))
        for failure in [
            CoreFailure(kind: .pinInvalid, reason: "Wrong PIN", attemptsLeft: 2),
            CoreFailure(kind: .network, reason: "No network"),
        ] {
            XCTAssertTrue(flow.pinSubmitted())
            flow.pinFinished(.failure(failure))
            XCTAssertEqual(flow.phase, .enterPin(workspace: "Acme", failure: failure))
        }
    }

    func testRefusedPinEndsTheFlow() {
        var flow = ActivationFlow(enrollment: enrollment(waitingForPin: true))
        _ = flow.pinSubmitted()
        let refused = CoreFailure(kind: .refused, reason: "The PIN has expired.")
        flow.pinFinished(.failure(refused))
        XCTAssertEqual(flow.phase, .failed(refused))
        XCTAssertTrue(flow.acceptsLink)
    }

    func testBadLinkAndCancel() {
        var flow = ActivationFlow()
        let bad = CoreFailure(kind: .invalidInput, reason: "This is not an activation link.")
        flow.linkParsed(.failure(bad))
        XCTAssertEqual(flow.phase, .failed(bad))
        flow.linkParsed(.success("ws.acme.example"))
        flow.cancelled()
        XCTAssertEqual(flow.phase, .waitingForLink)
        XCTAssertFalse(flow.confirmed())
    }

    func testLinksAreIgnoredWhileBusyOrActivated() {
        var flow = ActivationFlow()
        flow.linkParsed(.success("one.example"))
        _ = flow.confirmed()
        flow.linkParsed(.success("two.example"))
        XCTAssertEqual(flow.phase, .activating(host: "one.example"))
        let active = enrollment(waitingForPin: false, status: .active)
        var activated = ActivationFlow(enrollment: active)
        activated.linkParsed(.success("two.example"))
        XCTAssertEqual(activated.phase, .activated(active))
    }

    func testResultsThatArriveLateAreIgnored() {
        var flow = ActivationFlow()
        flow.activationFinished(.success(enrollment(waitingForPin: true)))
        flow.pinFinished(.success(enrollment(waitingForPin: false)))
        XCTAssertEqual(flow.phase, .waitingForLink)
        XCTAssertFalse(flow.pinSubmitted())
    }

    func testEnrollmentChanges() {
        let active = enrollment(waitingForPin: false, status: .active)
        var flow = ActivationFlow(enrollment: active)
        let suspended = enrollment(waitingForPin: false, status: .suspended)
        flow.enrollmentChanged(suspended)
        XCTAssertEqual(flow.phase, .activated(suspended))
        // A failure on screen stays while there is still no enrollment.
        var failed = ActivationFlow()
        let bad = CoreFailure(kind: .invalidInput, reason: "Bad link.")
        failed.linkParsed(.failure(bad))
        failed.enrollmentChanged(nil)
        XCTAssertEqual(failed.phase, .failed(bad))
        // A wrong-PIN message stays while the PIN is still expected.
        var pin = ActivationFlow(enrollment: enrollment(waitingForPin: true))
        _ = pin.pinSubmitted()
        let wrong = CoreFailure(kind: .pinInvalid, reason: "Wrong PIN", attemptsLeft: 5)
        pin.pinFinished(.failure(wrong))
        pin.enrollmentChanged(enrollment(waitingForPin: true))
        XCTAssertEqual(pin.phase, .enterPin(workspace: "Acme", failure: wrong))
    }
}
