// Routing of incoming URLs and scanned text: activation links (both forms), pairing codes,
// and everything else ignored. Strictness is the core's job; these tests pin the routing.

import AuthenticatorCoreKit
import XCTest

final class IncomingLinkTests: XCTestCase {
    static let code = "0123456789ABCDEFGHJKMNPQRS"
    /// `proto/vectors/qr.json`, "pairing" -> "uri".
    static let pairingCode = "PASSKEYPHONE:/" +
        "29098588673409444656467256996157164190166797495325000430707988256656396868816834887" +
        "24089671843867787054927232466383378700891538119744508002926294974713162293689496019" +
        "232911447008572768789211686009739780"

    func testHttpsActivationLink() {
        let link = "https://ws.example.com/activate?code=\(Self.code)"
        XCTAssertEqual(IncomingLink.recognize(link), .activation(link))
    }

    func testHttpsActivationLinkWithPort() {
        let link = "https://ws.example.com:8443/activate?code=\(Self.code)"
        XCTAssertEqual(IncomingLink.recognize(link), .activation(link))
    }

    func testAppSchemeActivationLinkInAnyCase() {
        for link in [
            "passkeyphone://activate?host=ws.example.com&code=\(Self.code)",
            "PasskeyPhone://Activate?host=ws.example.com&code=\(Self.code)",
            "passkeyphone://activate/?host=ws.example.com&code=\(Self.code)",
        ] {
            XCTAssertEqual(IncomingLink.recognize(link), .activation(link), link)
        }
    }

    func testSpacesAroundAreDropped() {
        let link = "https://ws.example.com/activate?code=\(Self.code)"
        XCTAssertEqual(IncomingLink.recognize("  \(link)\n"), .activation(link))
    }

    func testPlainHttpGoesToTheCoreToBeRefused() {
        let link = "http://ws.example.com/activate?code=\(Self.code)"
        XCTAssertEqual(IncomingLink.recognize(link), .activation(link))
    }

    func testPairingCode() {
        XCTAssertEqual(IncomingLink.recognize(Self.pairingCode), .pairing(Self.pairingCode))
        let lower = Self.pairingCode.replacingOccurrences(of: "PASSKEYPHONE", with: "passkeyphone")
        XCTAssertEqual(IncomingLink.recognize(lower), .pairing(lower))
    }

    func testOtherLinksAreIgnored() {
        for text in [
            "",
            "https://ws.example.com/",
            "https://ws.example.com/activate",
            "https://ws.example.com/activate/extra?code=X",
            "https:///activate?code=X",
            "https://ws.example.com/settings?code=X",
            "passkeyphone://pair?code=X",
            "passkeyphone:/12ab",
            "mailto:admin@example.com",
            "WIFI:S:net;T:WPA;P:secret;;",
            "no scheme at all",
        ] {
            XCTAssertNil(IncomingLink.recognize(text), text)
        }
    }
}
