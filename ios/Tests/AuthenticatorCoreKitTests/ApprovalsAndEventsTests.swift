// On-behalf registration requests and results as shown, the notification identifiers, the
// core's notices, and the link service's status line.

import AuthenticatorCoreKit
import Foundation
import XCTest

final class ApprovalsAndEventsTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func request(expiresIn seconds: Int64, max: UInt8 = 2) -> ApprovalSummary {
        ApprovalSummary(id: "g1", adminName: "Bob", workspaceName: "Acme",
                        rpIds: ["crm.example", "wiki.example"], maxRegistrations: max,
                        expiresAt: UInt64(1_800_000_000 + seconds))
    }

    func testRequestText() {
        let summary = request(expiresIn: 600)
        XCTAssertEqual(summary.title, "Bob asks to add passkeys")
        XCTAssertTrue(summary.body.contains("up to 2 passkeys"))
        XCTAssertTrue(summary.body.contains("crm.example, wiki.example"))
        XCTAssertTrue(request(expiresIn: 600, max: 1).body.contains("one passkey"))
    }

    func testExpiry() {
        XCTAssertEqual(request(expiresIn: 600).expiryText(now: now), "Expires in 10 minutes")
        XCTAssertEqual(request(expiresIn: 30).expiryText(now: now), "Expires in 1 minute")
        XCTAssertEqual(request(expiresIn: 0).expiryText(now: now), "Expired")
        XCTAssertTrue(request(expiresIn: -5).isExpired(now: now))
        XCTAssertFalse(request(expiresIn: 5).isExpired(now: now))
    }

    func testResults() {
        XCTAssertEqual(ApprovalResult(registeredRpIds: ["crm.example"], refused: nil,
                                      ended: "done").message,
                       "Passkeys registered for crm.example.")
        XCTAssertEqual(ApprovalResult(registeredRpIds: [], refused: "The grant expired.",
                                      ended: "refused").message,
                       "The grant expired.")
        XCTAssertEqual(ApprovalResult(registeredRpIds: [], refused: nil,
                                      ended: "tool disconnected").message,
                       "No passkey was registered (tool disconnected).")
    }

    func testNotificationIdentifiers() {
        XCTAssertEqual(ApprovalNotification.requestId(for: "g1"), "obr-g1")
        let userInfo: [AnyHashable: Any] = [ApprovalNotification.approvalIdKey: "g1"]
        XCTAssertEqual(ApprovalNotification.approvalId(in: userInfo), "g1")
        XCTAssertNil(ApprovalNotification.approvalId(in: [:]))
        XCTAssertNil(ApprovalNotification.approvalId(in: [ApprovalNotification.approvalIdKey: 7]))
    }

    func testNoticesNameTheSiteNotTheAccount() {
        let notice = CoreNotice.signedIn(rpId: "example.com")
        XCTAssertEqual(notice.title, "Signed in")
        XCTAssertTrue(notice.body.contains("example.com"))
        XCTAssertTrue(CoreNotice.pinBlocked.isWarning)
        XCTAssertTrue(CoreNotice.silentAssertionsFromComputer(
            computerName: "Desk PC", count: 21, windowMinutes: 10).isWarning)
        XCTAssertFalse(CoreNotice.pinChanged.isWarning)
    }

    func testLinkActivity() {
        var activity = LinkActivity()
        XCTAssertEqual(activity.statusLine, "Waiting for a paired computer")
        activity.apply(.connected(computer: "Desk PC", transport: "relay"))
        XCTAssertEqual(activity.statusLine, "Connected to Desk PC over relay")
        activity.apply(.served(computer: "Desk PC", command: 1, status: 0))
        activity.apply(.served(computer: "Desk PC", command: 2, status: 0))
        XCTAssertEqual(activity.requestsServed, 2)
        activity.apply(.bluetoothUnavailable(reason: "Bluetooth is off."))
        XCTAssertEqual(activity.bluetoothProblem, "Bluetooth is off.")
        activity.apply(.ended(computer: "Desk PC", reason: "closed"))
        XCTAssertEqual(activity.statusLine, "Waiting for a paired computer")
        activity.apply(.relayTrouble(relay: "https://relay.example", reason: "The relay is down."))
        XCTAssertEqual(activity.statusLine, "The relay is down.")
    }
}
