// The first tab: activation while the phone is not activated yet, then the security key's
// status (workspace, user, state) and a nudge to set the client PIN.

import AuthenticatorCoreKit
import SwiftUI

struct HomeView: View {
    @ObservedObject var activation: ActivationViewModel
    @ObservedObject var settings: SettingsViewModel
    @ObservedObject var pin: PinViewModel

    var body: some View {
        NavigationStack {
            Group {
                if case .activated(let enrollment) = activation.flow.phase {
                    EnrollmentView(enrollment: enrollment, pin: pin)
                } else {
                    ActivationView(model: activation)
                }
            }
            .navigationTitle("Security key")
        }
    }
}

/// The activated security key.
struct EnrollmentView: View {
    let enrollment: EnrollmentSummary
    @ObservedObject var pin: PinViewModel

    var body: some View {
        Form {
            Section("Status") {
                LabeledContent("State", value: enrollment.status.label)
                LabeledContent("Workspace", value: enrollment.workspaceName)
                LabeledContent("User", value: enrollment.userDisplayName)
                LabeledContent("Email", value: enrollment.userEmail)
            }
            if !enrollment.status.canServe {
                Section {
                    Text("This phone cannot be used to sign in while the key is " +
                         "\(enrollment.status.label.lowercased()).")
                }
            }
            Section("Client PIN") {
                if let status = pin.status, !status.isSet || status.mustChange {
                    Text(status.isSet ? "Your PIN must be changed." :
                            "Set a PIN: your computer asks for it before using this phone.")
                }
                NavigationLink("Client PIN") { PinView(model: pin) }
            }
        }
        .task { await pin.load() }
    }
}
