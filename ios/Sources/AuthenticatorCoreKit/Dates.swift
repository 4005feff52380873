// Turns the core's Unix-second timestamps into text. The core counts seconds since 1970 in
// UTC (`created_at`, `expires_at`, audit `at`); 0 means "never" where a time is optional.
// DateFormatter rather than `Date.formatted`, so that the same code runs in the Linux tests.

import Foundation

public enum Dates {
    // Formatters are costly to make and safe to share for formatting.
    private static let dateOnly: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateStyle = .medium
        formatter.timeStyle = .none
        return formatter
    }()

    private static let dateAndTime: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateStyle = .medium
        formatter.timeStyle = .short
        return formatter
    }()

    public static func date(_ unixSeconds: UInt64) -> Date {
        Date(timeIntervalSince1970: TimeInterval(unixSeconds))
    }

    /// A short date, e.g. "3 Mar 2026", in the user's locale.
    public static func short(_ unixSeconds: UInt64) -> String {
        dateOnly.string(from: date(unixSeconds))
    }

    /// A date and time, e.g. for the audit log.
    public static func dateTime(_ unixSeconds: UInt64) -> String {
        dateAndTime.string(from: date(unixSeconds))
    }

    /// "never" for 0, else a short date.
    public static func shortOrNever(_ unixSeconds: UInt64) -> String {
        unixSeconds == 0 ? "never" : short(unixSeconds)
    }

    /// Whole minutes from `now` until `unixSeconds`, rounded up, never negative.
    public static func minutesLeft(until unixSeconds: UInt64, now: Date = Date()) -> Int {
        let seconds = date(unixSeconds).timeIntervalSince(now)
        return seconds <= 0 ? 0 : Int((seconds / 60).rounded(.up))
    }
}
