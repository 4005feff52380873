// The app's root state: opens the core (waiting for the first unlock if it must), owns the
// screens' view models, routes incoming links, polls the workspace while the app is in the
// foreground, runs the core's idle upkeep in the background, and turns workspace events into
// notifications. One per process, like the core's Authenticator.

import AuthenticatorCore
import AuthenticatorCoreKit
import os
import SwiftUI
import UIKit

/// The view models of a ready app, made once the core is open.
@MainActor
final class Screens {
    let activation: ActivationViewModel
    let pin: PinViewModel
    let passkeys: PasskeysViewModel
    let computers: ComputersViewModel
    let link: LinkServiceViewModel
    let approvals: ApprovalsViewModel
    let settings: SettingsViewModel

    init(core: AuthenticatorProtocol, enrollment: EnrollmentSummary?) {
        activation = ActivationViewModel(core: core, enrollment: enrollment)
        pin = PinViewModel(core: core)
        passkeys = PasskeysViewModel(core: core)
        computers = ComputersViewModel(core: core)
        link = LinkServiceViewModel(core: core)
        approvals = ApprovalsViewModel(core: core)
        settings = SettingsViewModel(core: core)
    }
}

@MainActor
final class AppModel: ObservableObject {
    enum Phase: Equatable {
        case opening
        /// The phone has not been unlocked since it started: the keychain and the vault file
        /// are closed. The app retries by itself.
        case waitingForUnlock
        case ready
        case failed(CoreFailure)
    }

    enum Tab: Hashable {
        case home, passkeys, computers, approvals, settings
    }

    @Published private(set) var phase = Phase.opening
    @Published private(set) var screens: Screens? = nil
    @Published var tab = Tab.home

    let prompts = PromptCenter()
    let notifications = AppNotifications()

    private var core: Authenticator?
    /// The core's idle upkeep (WAL checkpoint, vault check), run when the app goes to the
    /// background; made once the core is open.
    private var upkeep: IdleUpkeep?
    private var openTask: Task<Void, Never>?
    private var pollTask: Task<Void, Never>?
    /// A link or decision that arrived before the core was open (the link is a secret: held
    /// in memory only, until it is handed over).
    private var waitingLink: IncomingLink?
    private var waitingDecision: (String, AppNotifications.ApprovalAction)?
    private var unlockObserver: NSObjectProtocol?
    /// True while `Authenticator.open` runs (off the main thread).
    private var isOpening = false

    init() {
        notifications.onApprovalAction = { [weak self] id, action in
            self?.handleApprovalAction(id, action)
        }
        unlockObserver = NotificationCenter.default.addObserver(
            forName: UIApplication.protectedDataDidBecomeAvailableNotification,
            object: nil, queue: .main
        ) { [weak self] _ in
            Task { @MainActor in self?.retryOpenNow() }
        }
    }

    // MARK: - Opening the core

    func start() {
        guard core == nil, openTask == nil else { return }
        openTask = Task { await openLoop() }
    }

    /// The phone was just unlocked: cut the wait short (but never run two opens at once).
    private func retryOpenNow() {
        guard phase == .waitingForUnlock, !isOpening else { return }
        openTask?.cancel()
        openTask = nil
        start()
    }

    private func openLoop() async {
        var delay = RetryDelay(first: 2, cap: 30)
        let ui = AppUserInterface(
            presence: prompts.presenceBroker, accounts: prompts.accountBroker,
            notices: { [notifications] notice in notifications.post(notice) })
        let deviceName = UIDevice.current.name
        let tagPrefix = Bundle.main.bundleIdentifier ?? "passkeyphone"
        while !Task.isCancelled {
            phase = phase == .waitingForUnlock ? .waitingForUnlock : .opening
            isOpening = true
            let result = await Self.open(ui: ui, deviceName: deviceName, tagPrefix: tagPrefix)
            isOpening = false
            switch result {
            case .success(let core):
                opened(core)
                openTask = nil
                return
            case .failure(let failure) where failure.recovery == .retryAfterUnlock:
                phase = .waitingForUnlock
                try? await Task.sleep(nanoseconds: UInt64(delay.next() * 1_000_000_000))
            case .failure(let failure):
                AppLog.app.error(
                    "the core could not be opened: \(failure.kind.rawValue, privacy: .public)")
                phase = .failed(failure)
                openTask = nil
                return
            }
        }
    }

    /// Opens the vault off the main thread (it reads flash and may migrate the schema).
    private nonisolated static func open(
        ui: AppUserInterface, deviceName: String, tagPrefix: String
    ) async -> Result<Authenticator, CoreFailure> {
        await Task.detached(priority: .userInitiated) {
            coreResult {
                let folder = try VaultLocation.directory()
                guard VaultLocation.isReadable(in: folder) else {
                    throw CoreFailure(kind: .keyTemporarilyUnavailable,
                                      reason: "Unlock your phone to open your passkeys.")
                }
                return try Authenticator.open(
                    dataDir: folder.path,
                    keyProtector: SecureEnclaveKeyProtector.forThisDevice(tagPrefix: tagPrefix),
                    userInterface: ui,
                    logger: OSLogSink(),
                    options: defaultOptions(deviceName: deviceName))
            }
        }.value
    }

    private func opened(_ core: Authenticator) {
        self.core = core
        upkeep = IdleUpkeep { await core.idleUpkeep() }
        // A vault that cannot say whether it is activated shows the activation screen; the
        // core refuses a second activation, so nothing is lost.
        let info: EnrollmentInfo? = try? core.enrollment()
        let enrollment = info.map { EnrollmentSummary($0) }
        let screens = Screens(core: core, enrollment: enrollment)
        screens.activation.onEnrollmentChanged = { [weak self] summary in
            self?.enrollmentChanged(summary)
        }
        screens.approvals.onResolved = { [weak self] ids in
            self?.notifications.withdraw(approvalIds: ids)
        }
        self.screens = screens
        phase = .ready
        if enrollment == nil || enrollment?.waitingForPin == true { tab = .home }
        if let link = waitingLink {
            waitingLink = nil
            route(link)
        }
        if let decision = waitingDecision {
            waitingDecision = nil
            handleApprovalAction(decision.0, decision.1)
        }
        startPolling()
    }

    // MARK: - Links and notification actions

    /// A URL from the system: universal link, `passkeyphone:` scheme (activation or pairing).
    func handle(url: URL) {
        guard let link = IncomingLink.recognize(url.absoluteString) else {
            AppLog.app.info("ignored a URL that is neither an activation link nor a pairing code")
            return
        }
        guard screens != nil else {
            waitingLink = link
            return
        }
        route(link)
    }

    private func route(_ link: IncomingLink) {
        guard let screens else { return }
        switch link {
        case .activation(let text):
            tab = .home
            screens.activation.receive(link: text)
        case .pairing(let code):
            tab = .computers
            Task { await screens.computers.pair(code: code) }
        }
    }

    private func handleApprovalAction(_ id: String, _ action: AppNotifications.ApprovalAction) {
        guard let screens else {
            waitingDecision = (id, action)
            return
        }
        tab = .approvals
        Task {
            await screens.approvals.load()
            switch action {
            case .approve: await screens.approvals.decide(id, approve: true)
            case .deny: await screens.approvals.decide(id, approve: false)
            case .open: break
            }
        }
    }

    // MARK: - Foreground and background

    func scenePhaseChanged(_ scenePhase: ScenePhase) {
        switch scenePhase {
        case .active:
            start()
            startPolling()
        case .background:
            stopPolling()
            // Nobody can tap "Allow" now; the core gets a clear "no" instead of a timeout.
            prompts.declineAll()
            if let upkeep { Task { await upkeep.schedule() } }
        default:
            break
        }
    }

    // MARK: - Workspace events

    private func enrollmentChanged(_ summary: EnrollmentSummary?) {
        screens?.settings.enrollmentChanged(summary)
        screens?.activation.enrollmentChanged(summary)
        startPolling()
    }

    /// Long-polls the workspace while the app is active and the phone is activated:
    /// suspension and revocation apply within seconds, and on-behalf requests arrive.
    private func startPolling() {
        guard pollTask == nil, let core, let screens,
              UIApplication.shared.applicationState != .background,
              case .activated = screens.activation.flow.phase else { return }
        pollTask = Task { [weak self] in
            var delay = RetryDelay(first: 2, cap: 60)
            while !Task.isCancelled {
                let result = await coreResultAsync {
                    try await core.checkWorkspace(waitSeconds: 25)
                }
                guard let self, !Task.isCancelled else { return }
                switch result {
                case .success(let update):
                    delay.reset()
                    self.apply(update)
                case .failure(let failure) where failure.kind == .notActivated:
                    self.pollTask = nil
                    return
                case .failure:
                    try? await Task.sleep(nanoseconds: UInt64(delay.next() * 1_000_000_000))
                }
            }
        }
    }

    private func stopPolling() {
        pollTask?.cancel()
        pollTask = nil
    }

    private func apply(_ update: WorkspaceUpdate) {
        guard let screens else { return }
        let enrollment = EnrollmentSummary(update.enrollment)
        screens.activation.enrollmentChanged(enrollment)
        screens.settings.enrollmentChanged(enrollment)
        for approval in screens.approvals.apply(update) {
            notifications.post(approval)
        }
    }
}
