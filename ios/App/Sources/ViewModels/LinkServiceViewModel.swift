// The link service: while on, the core serves the paired computers' requests over the
// relay (and Bluetooth, when the library was built with it). iOS suspends the app in the
// background, so this is a foreground service here; the switch says so in Settings.

import AuthenticatorCore
import AuthenticatorCoreKit
import Foundation

@MainActor
final class LinkServiceViewModel: ObservableObject {
    @Published private(set) var running = false
    @Published private(set) var activity = LinkActivity()
    @Published var failure: CoreFailure? = nil
    /// The user's choice, kept across launches.
    @Published var useBluetooth: Bool {
        didSet { defaults.set(useBluetooth, forKey: Self.bluetoothKey) }
    }

    private static let bluetoothKey = "link.useBluetooth"
    private let core: AuthenticatorProtocol
    private let defaults: UserDefaults

    init(core: AuthenticatorProtocol, defaults: UserDefaults = .standard) {
        self.core = core
        self.defaults = defaults
        useBluetooth = defaults.bool(forKey: Self.bluetoothKey)
        running = core.linkServiceRunning()
    }

    func setRunning(_ on: Bool) async {
        let core = self.core
        if !on {
            _ = await CoreCalls.run { core.stopLinkService() }
            running = core.linkServiceRunning()
            return
        }
        activity = LinkActivity()
        let observer = AppLinkObserver { [weak self] event in self?.activity.apply(event) }
        let useBluetooth = self.useBluetooth
        let result = await CoreCalls.run {
            try core.startLinkService(useBle: useBluetooth, observer: observer)
        }
        if case .failure(let failure) = result {
            // A library without Bluetooth says "unsupported": fall back to the relay only.
            if failure.kind == .unsupported, useBluetooth {
                self.useBluetooth = false
                self.failure = failure
                await setRunning(true)
                return
            }
            self.failure = failure
        }
        running = core.linkServiceRunning()
    }
}
