// The list screens' rows: passkeys (title, order, search, labels), paired computers (order)
// and the audit trail (titles, order, facts).

import AuthenticatorCoreKit
import XCTest

final class ListsTests: XCTestCase {
    private func passkey(_ id: String, rp: String, rpName: String? = nil, user: String? = nil,
                         label: String? = nil, created: UInt64 = 1_700_000_000,
                         uses: UInt32 = 0) -> PasskeyRow {
        PasskeyRow(id: id, rpId: rp, rpName: rpName, userName: user, userDisplayName: nil,
                   label: label, discoverable: true, createdAt: created, signCount: uses)
    }

    func testPasskeyTitleAndSubtitle() {
        XCTAssertEqual(passkey("a", rp: "example.com").title, "example.com")
        XCTAssertEqual(passkey("a", rp: "example.com", rpName: "Example").title, "Example")
        XCTAssertEqual(passkey("a", rp: "example.com", rpName: "Example", label: "Work").title,
                       "Work")
        XCTAssertEqual(passkey("a", rp: "example.com", rpName: "", label: "").title,
                       "example.com")
        XCTAssertEqual(passkey("a", rp: "example.com", user: "alice").subtitle, "alice")
        XCTAssertEqual(passkey("a", rp: "example.com", rpName: "Example", user: "alice").subtitle,
                       "alice · example.com")
    }

    func testPasskeysSortAndFilter() {
        let rows = [
            passkey("3", rp: "zeta.example"),
            passkey("2", rp: "Alpha.example", created: 2),
            passkey("1", rp: "alpha.example", created: 1),
            passkey("4", rp: "mid.example", user: "bob"),
        ]
        XCTAssertEqual(PasskeyRow.sorted(rows).map(\.id), ["1", "2", "4", "3"])
        XCTAssertEqual(PasskeyRow.filtered(rows, by: "ALPHA").map(\.id), ["2", "1"])
        XCTAssertEqual(PasskeyRow.filtered(rows, by: "bob").map(\.id), ["4"])
        XCTAssertEqual(PasskeyRow.filtered(rows, by: "  ").count, 4)
    }

    func testPasskeyLabels() {
        XCTAssertEqual(PasskeyLabel.validate("  Work  "), .success("Work"))
        XCTAssertEqual(PasskeyLabel.validate(" "), .failure(.empty))
        XCTAssertEqual(PasskeyLabel.validate(String(repeating: "x", count: 65)),
                       .failure(.tooLong))
        XCTAssertEqual(PasskeyLabel.validate(String(repeating: "x", count: 64)),
                       .success(String(repeating: "x", count: 64)))
    }

    func testComputersSortByLastUse() {
        let rows = [
            ComputerRow(id: "a", name: "Old", relayURL: "", createdAt: 10, lastUsedAt: 0),
            ComputerRow(id: "b", name: "Used", relayURL: "", createdAt: 5, lastUsedAt: 50),
            ComputerRow(id: "c", name: "New", relayURL: "", createdAt: 20, lastUsedAt: 0),
        ]
        XCTAssertEqual(ComputerRow.sorted(rows).map(\.id), ["b", "c", "a"])
    }

    func testAuditRows() {
        let rows = [
            AuditRow(seq: 1, at: 100, kind: "enroll.activated",
                     details: ["security_key_id": "k1"]),
            AuditRow(seq: 2, at: 200, kind: "obr.future_kind",
                     details: ["rp_id": "crm.example", "admin": "Bob"]),
        ]
        XCTAssertEqual(rows[0].title, "Phone activated")
        XCTAssertEqual(rows[1].title, "obr.future_kind")
        XCTAssertEqual(rows[1].detailLines, ["admin: Bob", "rp id: crm.example"])
        XCTAssertEqual(AuditRow.newestFirst(rows).map(\.id), [2, 1])
    }

    func testReceiptQueueAuditKindsHaveTitles() {
        let dropped = AuditRow(seq: 3, at: 300, kind: "obr.receipt.dropped", details: [:])
        let notQueued = AuditRow(seq: 4, at: 400, kind: "obr.receipt.not_queued", details: [:])
        XCTAssertEqual(dropped.title, "Receipt discarded unsent")
        XCTAssertEqual(notQueued.title, "Receipt could not be kept for delivery")
    }
}
