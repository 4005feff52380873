// Small pieces shared by the screens: the alert for a core failure, and the startup screen.

import AuthenticatorCoreKit
import SwiftUI

extension View {
    /// Shows `failure` as an alert (title, the core's sentence) and clears it when dismissed.
    func failureAlert(_ failure: Binding<CoreFailure?>) -> some View {
        let isPresented = Binding(
            get: { failure.wrappedValue != nil },
            set: { shown in if !shown { failure.wrappedValue = nil } })
        return alert(failure.wrappedValue?.title ?? "", isPresented: isPresented,
                     presenting: failure.wrappedValue) { _ in
            Button("OK", role: .cancel) {}
        } message: { shown in
            Text(shown.message)
        }
    }
}

/// What the app shows while the core opens, waits for the first unlock, or failed to open.
struct StartupView: View {
    let phase: AppModel.Phase

    var body: some View {
        VStack(spacing: 16) {
            switch phase {
            case .opening, .ready:
                ProgressView("Opening your passkeys…")
            case .waitingForUnlock:
                Image(systemName: "lock.fill").font(.largeTitle)
                Text("Unlock your phone")
                    .font(.headline)
                Text("Your passkeys open once the phone has been unlocked since it started.")
                    .multilineTextAlignment(.center)
            case .failed(let failure):
                Image(systemName: "exclamationmark.triangle.fill").font(.largeTitle)
                Text(failure.title).font(.headline)
                Text(failure.message).multilineTextAlignment(.center)
                if failure.recovery == .activateAgain {
                    Text("Ask your administrator for a new activation link.")
                        .foregroundStyle(.secondary)
                        .multilineTextAlignment(.center)
                }
            }
        }
        .padding()
    }
}
