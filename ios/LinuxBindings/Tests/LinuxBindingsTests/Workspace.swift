// The emulated workspace server (tests/workspace-server) as a real process for the activation
// tests, as the Python bindings tests run it (tests/e2e/wslib.py): `serve` on a loopback port
// chosen at run time, read from its banner, and its admin API over HTTP. The binary's path
// comes from WORKSPACE_SERVER (tests/swift/run.sh builds it); each test stops its server by pid.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

final class WorkspaceServer {
    let process = Process()
    /// `http://127.0.0.1:PORT`
    let url: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init() throws {
        guard let binary = ProcessInfo.processInfo.environment["WORKSPACE_SERVER"] else {
            throw Failure(description: "WORKSPACE_SERVER is not set: run tests/swift/run.sh")
        }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The banner is the first line: "workspace listening on http://127.0.0.1:PORT".
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
            .split(separator: "\n").first.map(String.init) ?? ""
        let prefix = "workspace listening on "
        guard text.hasPrefix(prefix + "http://127.0.0.1:") else {
            kill(process.processIdentifier, SIGKILL)
            throw Failure(description: "unexpected banner \(text)")
        }
        url = String(text.dropFirst(prefix.count))
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// One admin call; the JSON answer. Fails on a status outside 2xx.
    @discardableResult
    func admin(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> Any? {
        var request = URLRequest(url: URL(string: url + path)!)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "content-type")
        }
        // The answer, handed from URLSession's queue; the semaphore orders the accesses.
        final class Answer: @unchecked Sendable {
            var data: Data?
            var response: URLResponse?
            var error: Error?
        }
        let answer = Answer()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            answer.data = data
            answer.response = response
            answer.error = error
            done.signal()
        }.resume()
        done.wait()
        if let error = answer.error { throw error }
        let status = (answer.response as? HTTPURLResponse)?.statusCode ?? 0
        let data = answer.data ?? Data()
        guard (200..<300).contains(status) else {
            throw Failure(description: "\(method) \(path) -> \(status) \(String(decoding: data, as: UTF8.self))")
        }
        return data.isEmpty ? nil : try JSONSerialization.jsonObject(with: data)
    }

    /// Adds a user and assigns them a smartphone key; the activation link emailed to them.
    func assign(_ email: String, name: String, clientPin: Bool) throws -> String {
        let user = try admin("POST", "/admin/users", ["email": email, "display_name": name])
        guard let id = (user as? [String: Any])?["id"] else {
            throw Failure(description: "no user id in \(String(describing: user))")
        }
        try admin("POST", "/admin/users/\(id)/security-key",
                  ["type": "smartphone", "client_pin": clientPin, "force_change": false])
        return try latest("link", to: email)
    }

    /// The PIN emailed to `email` (sent once the phone has activated).
    func pin(for email: String) throws -> String {
        try latest("pin", to: email)
    }

    private func latest(_ field: String, to email: String) throws -> String {
        let quoted = email.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? email
        let mails = try admin("GET", "/admin/outbox?to=\(quoted)") as? [[String: Any]] ?? []
        guard let value = mails.compactMap({ $0[field] as? String }).last else {
            throw Failure(description: "no \(field) mailed to \(email)")
        }
        return value
    }
}
