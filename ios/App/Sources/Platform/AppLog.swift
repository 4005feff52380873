// The app's own log lines (os_log); the core's own lines go through OSLogSink. Nothing
// secret or personal is logged: no links, codes, PINs, names or sites.

import Foundation
import os

enum AppLog {
    private static let subsystem = Bundle.main.bundleIdentifier ?? "passkeyphone"
    static let app = os.Logger(subsystem: subsystem, category: "app")
    static let prompts = os.Logger(subsystem: subsystem, category: "prompts")
}
