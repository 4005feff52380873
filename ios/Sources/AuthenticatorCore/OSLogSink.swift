// The core's log lines to the unified logging system (os_log). The core promises that its
// lines hold no secrets; they can still name sites and accounts, so the text is logged as
// private (redacted in logs taken off the device) and only the core module is public.
// The core's protocol is `CoreLogger` (the Rust trait's name), so it never clashes with
// `os.Logger`.

import Foundation
import os

public final class OSLogSink: CoreLogger, @unchecked Sendable {
    private let logger: Logger

    /// `subsystem` is the app's bundle id; the category tells the core's lines from the app's.
    public init(subsystem: String = Bundle.main.bundleIdentifier ?? "authenticator-core",
                category: String = "core") {
        logger = Logger(subsystem: subsystem, category: category)
    }

    public func log(level: LogLevel, target: String, message: String) throws {
        logger.log(level: Self.osLogType(for: level),
                   "\(target, privacy: .public): \(message, privacy: .private)")
    }

    static func osLogType(for level: LogLevel) -> OSLogType {
        switch level {
        case .error: return .error
        case .warn: return .default
        case .info: return .info
        case .debug, .trace: return .debug
        }
    }
}
