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

    /// Captured from Chrome and Safari on iOS (webauthn-rs's handshake tests), as in the
    /// core's tests (`authenticator-core/src/hybrid/tests.rs`).
    static let chromeCode = "FIDO:/162870791865632382552704231438327900152302540348097243854039966655366469794954476199158014113179232779520163209900691930075274801398564434658077048963842109321447142660"
    static let safariCode = "FIDO:/089962132878132862898875319509818655951233947060166026934941652203853844930597225184066237811614893181300344014421205790072080843938838513707157859599106109321447142404"

    func testBrowserSignInCodesAreNamed() {
        let digits = String(Self.chromeCode.dropFirst("FIDO:/".count))
        for text in [Self.chromeCode, Self.safariCode, "fido:/\(digits)", " \(Self.chromeCode)\n"] {
            XCTAssertEqual(PairingCodeCheck.check(text), .browserSignInCode, text)
        }
        XCTAssertTrue(PairingCodeProblem.browserSignInCode.message.contains("Camera app"))
    }

    func testFidoTextsNoBrowserWritesAreForeign() {
        let digits = String(Self.chromeCode.dropFirst("FIDO:/".count))
        for text in [
            "FIDO:/",
            "FIDO:/1234567890",
            "FIDO:/" + String(digits.dropLast()),
            "FIDO:/" + String(digits.dropLast(5)) + "12a45",
            "FIDO:/" + String(repeating: "0", count: 17 * 241 + 3),
        ] {
            XCTAssertEqual(PairingCodeCheck.check(text), .notAPairingCode, text)
        }
    }

    func testEveryProblemHasASentence() {
        for problem in [PairingCodeProblem.empty, .notAPairingCode, .activationLink, .damaged,
                        .browserSignInCode] {
            XCTAssertTrue(problem.message.hasSuffix("."), "\(problem)")
        }
    }
}
