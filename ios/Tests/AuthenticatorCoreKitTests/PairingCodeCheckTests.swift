// The scanner's pre-check of a pairing code's shape (`proto/link.md` sections 2.2, 2.3).

import AuthenticatorCoreKit
import XCTest

final class PairingCodeCheckTests: XCTestCase {
    private let valid = IncomingLinkTests.pairingCode

    func testTheVectorPasses() {
        XCTAssertNil(PairingCodeCheck.check(valid))
        XCTAssertNil(PairingCodeCheck.check(" \(valid)\n"))
        XCTAssertNil(PairingCodeCheck.check(valid.replacingOccurrences(of: "PASSKEYPHONE",
                                                                       with: "PasskeyPhone")))
    }

    func testEmpty() {
        XCTAssertEqual(PairingCodeCheck.check(""), .empty)
        XCTAssertEqual(PairingCodeCheck.check("  \n"), .empty)
    }

    func testForeignCodes() {
        for text in ["https://example.com", "WIFI:S:x;;", "FIDO:/1234567890", "hello"] {
            XCTAssertEqual(PairingCodeCheck.check(text), .notAPairingCode, text)
        }
    }

    func testActivationLinkIsNamed() {
        let code = IncomingLinkTests.code
        for link in [
            "https://ws.example.com/activate?code=\(code)",
            "passkeyphone://activate?host=ws.example.com&code=\(code)",
        ] {
            XCTAssertEqual(PairingCodeCheck.check(link), .activationLink, link)
        }
    }

    func testDamagedCodes() {
        let scheme = "PASSKEYPHONE:/"
        let digits = String(valid.dropFirst(scheme.count))
        let head = String(digits.prefix(20))
        let tail = String(digits.dropFirst(21))
        let cases: [String] = [
            // a digit lost: the last group's length becomes impossible
            scheme + String(digits.dropLast()),
            // a letter among the digits
            scheme + head + "A" + tail,
            // an inner space
            scheme + head + " " + tail,
            // far too short to hold a key and a secret
            scheme + String(repeating: "0", count: 17),
            // longer than any decoder accepts
            scheme + String(repeating: "0", count: 17 * 121),
            scheme,
        ]
        for text in cases {
            XCTAssertEqual(PairingCodeCheck.check(text), .damaged, text)
        }
    }

    func testEveryProblemHasASentence() {
        for problem in [PairingCodeProblem.empty, .notAPairingCode, .activationLink, .damaged] {
            XCTAssertTrue(problem.message.hasSuffix("."), "\(problem)")
        }
    }
}
