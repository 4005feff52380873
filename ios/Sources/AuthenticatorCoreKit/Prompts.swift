// The questions the core asks through `UserInterface`, as the screen words them. The core
// sends its own sentence (`PresencePrompt.message`); this adds a title and the button label
// for each operation, and the account list's rows. Mirrors the core's `UserOperation`.

/// Mirrors the core's `UserOperation`.
public enum PromptOperation: String, Equatable, Sendable, CaseIterable {
    case register, signIn, alreadyRegistered, reset, select, manage, onBehalfRegistration
}

/// A presence or verification request, ready to show.
public struct PresenceQuestion: Equatable, Sendable {
    public var operation: PromptOperation
    public var rpId: String?
    public var userName: String?
    /// The core's sentence, e.g. "Sign in to example.com as alice?".
    public var message: String

    public init(operation: PromptOperation, rpId: String?, userName: String?, message: String) {
        self.operation = operation
        self.rpId = rpId
        self.userName = userName
        self.message = message
    }

    public var title: String {
        switch operation {
        case .register: return "Create a passkey"
        case .signIn: return "Sign in"
        case .alreadyRegistered: return "Passkey already on this phone"
        case .reset: return "Erase all passkeys"
        case .select: return "Use this phone"
        case .manage: return "Manage passkeys"
        case .onBehalfRegistration: return "Registration by your administrator"
        }
    }

    /// The label of the button that says yes; "OK" where yes only acknowledges.
    public var allowLabel: String {
        switch operation {
        case .register: return "Create"
        case .signIn: return "Sign in"
        case .alreadyRegistered: return "OK"
        case .reset: return "Erase"
        case .select: return "Use this phone"
        case .manage: return "Allow"
        case .onBehalfRegistration: return "Approve"
        }
    }

    /// Whether yes destroys something (the button is shown as destructive).
    public var isDestructive: Bool { operation == .reset }

    /// The reason shown by the system's Face ID / passcode sheet: the core's sentence, which
    /// names everything a yes allows (a verification may unlock several rights at once, e.g.
    /// "Create a passkey for example.com and sign in to example.com?"), never a shorter title.
    public var verificationReason: String { message }
}

/// One account in the "which account?" list (the core's `AccountOption`).
public struct AccountChoice: Equatable, Sendable, Identifiable {
    /// The index the core expects back.
    public let id: UInt32
    public let userName: String?
    public let displayName: String?
    public let createdAt: UInt64

    public init(id: UInt32, userName: String?, displayName: String?, createdAt: UInt64) {
        self.id = id
        self.userName = userName
        self.displayName = displayName
        self.createdAt = createdAt
    }

    public var title: String {
        displayName.nonEmpty ?? userName.nonEmpty ?? "Account created \(Dates.short(createdAt))"
    }

    /// The user name under a display name, when both are known and differ.
    public var subtitle: String? {
        guard let displayName = displayName.nonEmpty, let userName = userName.nonEmpty,
              displayName != userName else { return nil }
        return userName
    }
}

/// A "which account?" request.
public struct AccountQuestion: Equatable, Sendable {
    public let rpId: String
    public let accounts: [AccountChoice]

    public init(rpId: String, accounts: [AccountChoice]) {
        self.rpId = rpId
        self.accounts = accounts
    }

    public var title: String { "Choose an account for \(rpId)" }
}

extension Optional where Wrapped == String {
    /// The string unless it is nil or empty.
    var nonEmpty: String? {
        switch self {
        case .some(let text) where !text.isEmpty: return text
        default: return nil
        }
    }
}
