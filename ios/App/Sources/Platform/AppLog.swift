// The app's own log lines (os_log). Kept in a file that does not import AuthenticatorCore:
// the bindings also declare a `Logger` (the core's log callback), and the two names would
// clash. Nothing secret or personal is logged: no links, codes, PINs, names or sites.

import Foundation
import os

enum AppLog {
    private static let subsystem = Bundle.main.bundleIdentifier ?? "passkeyphone"
    static let app = os.Logger(subsystem: subsystem, category: "app")
    static let prompts = os.Logger(subsystem: subsystem, category: "prompts")
}
