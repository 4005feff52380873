// The app's side of the core, written in Swift for the binding tests: a KeyProtector and a
// UserInterface that answer from a script and record what the core asked, a vault folder per
// test, a bounded wait, and the few CBOR encodings the CTAP requests here need. Nothing here
// uses Security or CryptoKit (not on Linux), so the protector is a test double: see its note.

import AuthenticatorCore
import Foundation
import XCTest

/// Not a cipher. Wraps the vault key as `key id (16 random bytes) || secret XOR pad`: enough
/// for the core's contract (the blob round-trips; a blob made by another protector is
/// recognised and answered `WrongKey`, as a real protector's authentication tag would).
/// `unwrapFailure` makes `unwrap` throw instead (a locked keychain, a lost key).
final class SwiftKeyProtector: KeyProtector, @unchecked Sendable {
    private let lock = NSLock()
    private let keyId: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }
    private let pad: [UInt8] = (0..<64).map { _ in UInt8.random(in: 0...255) }
    private var anchor: Data?
    private var failure: KeyProtectorError?
    private var log: [String] = []

    var unwrapFailure: KeyProtectorError? {
        get { locked { failure } }
        set { locked { failure = newValue } }
    }

    /// The protector's methods the core called, in order.
    var calls: [String] { locked { log } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private func mask(_ bytes: [UInt8]) -> [UInt8] {
        bytes.enumerated().map { index, byte in byte ^ pad[index % pad.count] }
    }

    func wrap(secret: Data) throws -> Data {
        locked { log.append("wrap") }
        return Data(keyId + mask([UInt8](secret)))
    }

    func unwrap(blob: Data) throws -> Data {
        locked { log.append("unwrap") }
        if let failure = unwrapFailure { throw failure }
        let bytes = [UInt8](blob)
        guard bytes.count > keyId.count, Array(bytes.prefix(keyId.count)) == keyId else {
            throw KeyProtectorError.WrongKey
        }
        return Data(mask(Array(bytes.dropFirst(keyId.count))))
    }

    func info() throws -> KeyProtectionInfo {
        KeyProtectionInfo(hardwareBacked: false, kind: "swift-linux-test")
    }

    func loadAnchor() throws -> Data? { locked { anchor } }

    func storeAnchor(anchor: Data) throws -> Bool {
        locked { self.anchor = anchor }
        return true
    }
}

/// How the scripted user answers a prompt.
enum Answer: Sendable {
    case yes
    case no
    /// Never answers: waits until the core withdraws the prompt (its task is cancelled).
    case hang
    /// The app's implementation throws.
    case fail(UserInterfaceError)
}

/// A UserInterface that answers from `answer`, records every prompt and notice, and counts
/// the prompts the core withdrew (Swift task cancelled while waiting).
final class SwiftUserInterface: UserInterface, @unchecked Sendable {
    private let lock = NSLock()
    private var answerNow: Answer
    private var promptsSeen: [String] = []
    private var eventsSeen: [UserEvent] = []
    private var withdrawnCount = 0

    init(_ answer: Answer = .yes) {
        answerNow = answer
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    var answer: Answer {
        get { locked { answerNow } }
        set { locked { answerNow = newValue } }
    }
    /// "presence OPERATION RP", "verify OPERATION RP", "choose RP N" for each prompt, in order.
    var prompts: [String] { locked { promptsSeen } }
    var events: [UserEvent] { locked { eventsSeen } }
    var withdrawn: Int { locked { withdrawnCount } }

    private func respond(_ prompt: String) async throws -> Bool {
        locked { promptsSeen.append(prompt) }
        switch answer {
        case .yes: return true
        case .no: return false
        case .fail(let error): throw error
        case .hang:
            do {
                while true { try await Task.sleep(nanoseconds: 10_000_000) }
            } catch {
                locked { withdrawnCount += 1 }
                throw error
            }
        }
    }

    func confirmPresence(prompt: PresencePrompt) async throws -> Bool {
        try await respond("presence \(prompt.operation) \(prompt.rpId ?? "-")")
    }

    func verifyUser(prompt: PresencePrompt) async throws -> VerificationOutcome {
        try await respond("verify \(prompt.operation) \(prompt.rpId ?? "-")")
            ? .verified : .declined
    }

    func chooseAccount(rpId: String, accounts: [AccountOption]) async throws -> UInt32? {
        try await respond("choose \(rpId) \(accounts.count)") ? 0 : nil
    }

    func notify(event: UserEvent) throws {
        locked { eventsSeen.append(event) }
    }
}

/// A fresh folder per test, removed afterwards, and `open` with the Swift platform.
class CoreTestCase: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-bindings-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func open(_ protector: KeyProtector = SwiftKeyProtector(),
              ui: UserInterface = SwiftUserInterface(),
              in dir: URL? = nil,
              options: (inout AuthenticatorOptions) -> Void = { _ in }) throws -> Authenticator {
        var opts = defaultOptions(deviceName: "Swift on Linux")
        options(&opts)
        let path = (dir ?? folder).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return try Authenticator.open(dataDir: path, keyProtector: protector,
                                      userInterface: ui, logger: nil, options: opts)
    }

    /// Waits (at most `seconds`) until `condition` holds.
    func eventually(_ what: String, seconds: Double = 20,
                    _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline {
                XCTFail("timed out waiting for: \(what)")
                return
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The error an expression threw, as the generated AuthenticatorError.
    func coreError<T>(_ call: () throws -> T, file: StaticString = #filePath,
                      line: UInt = #line) -> AuthenticatorError? {
        do {
            _ = try call()
            XCTFail("no error was thrown", file: file, line: line)
            return nil
        } catch let error as AuthenticatorError {
            return error
        } catch {
            XCTFail("not an AuthenticatorError: \(error)", file: file, line: line)
            return nil
        }
    }

    func coreErrorAsync<T>(_ call: () async throws -> T, file: StaticString = #filePath,
                           line: UInt = #line) async -> AuthenticatorError? {
        do {
            _ = try await call()
            XCTFail("no error was thrown", file: file, line: line)
            return nil
        } catch let error as AuthenticatorError {
            return error
        } catch {
            XCTFail("not an AuthenticatorError: \(error)", file: file, line: line)
            return nil
        }
    }
}

/// The CBOR (RFC 8949) the requests here need: definite lengths only, maps given in the
/// canonical key order CTAP2 requires (CTAP 2.1 §8 "CTAP2 canonical CBOR encoding form").
indirect enum Cbor {
    case int(Int)
    case bytes([UInt8])
    case text(String)
    case array([Cbor])
    case map([(Cbor, Cbor)])
    case bool(Bool)

    var encoded: [UInt8] {
        switch self {
        case .int(let v) where v >= 0: return Cbor.head(0, UInt64(v))
        case .int(let v): return Cbor.head(1, UInt64(-1 - v))
        case .bytes(let b): return Cbor.head(2, UInt64(b.count)) + b
        case .text(let s): return Cbor.head(3, UInt64(s.utf8.count)) + Array(s.utf8)
        case .array(let items): return Cbor.head(4, UInt64(items.count)) + items.flatMap(\.encoded)
        case .map(let pairs):
            return Cbor.head(5, UInt64(pairs.count)) + pairs.flatMap { $0.0.encoded + $0.1.encoded }
        case .bool(let b): return [b ? 0xF5 : 0xF4]
        }
    }

    private static func head(_ major: UInt8, _ value: UInt64) -> [UInt8] {
        let m = major << 5
        switch value {
        case 0..<24: return [m | UInt8(value)]
        case 24..<0x100: return [m | 24, UInt8(value)]
        case 0x100..<0x10000: return [m | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        default: return [m | 26] + (0..<4).reversed().map { UInt8((value >> (8 * $0)) & 0xFF) }
        }
    }
}

enum Ctap {
    /// CTAP 2.1 §6: command bytes and the status codes the tests expect.
    static let makeCredential: UInt8 = 0x01
    static let getInfo: UInt8 = 0x04
    static let ok: UInt8 = 0x00
    static let operationDenied: UInt8 = 0x27
    static let keepaliveCancel: UInt8 = 0x2D
    static let userActionTimeout: UInt8 = 0x2F

    /// authenticatorMakeCredential for a discoverable ES256 passkey of `userName` at
    /// example.com, asking for user verification (the phone's own, through `verifyUser`).
    static func register(userName: String, userId: [UInt8]) -> Data {
        let clientDataHash = [UInt8](repeating: 0x5A, count: 32)
        let request = Cbor.map([
            (.int(1), .bytes(clientDataHash)),
            (.int(2), .map([(.text("id"), .text("example.com")), (.text("name"), .text("Example"))])),
            (.int(3), .map([(.text("id"), .bytes(userId)), (.text("name"), .text(userName)),
                            (.text("displayName"), .text("Alice Liddell"))])),
            (.int(4), .array([.map([(.text("alg"), .int(-7)), (.text("type"), .text("public-key"))])])),
            (.int(7), .map([(.text("rk"), .bool(true)), (.text("uv"), .bool(true))])),
        ])
        return Data([makeCredential] + request.encoded)
    }
}
