// Activation: waits for the administrator's link (opened from the email, or pasted), asks
// the user to confirm the workspace, activates, then takes the PIN from the second email.

import AuthenticatorCoreKit
import SwiftUI

struct ActivationView: View {
    @ObservedObject var model: ActivationViewModel

    var body: some View {
        Form {
            switch model.flow.phase {
            case .waitingForLink:
                Section {
                    Text("Open the activation link in the email from your administrator on " +
                         "this phone, or copy the link and paste it here.")
                    pasteButton
                }
            case .confirm(let host):
                Section("Activate this phone?") {
                    Text("This phone will become your security key for the workspace at " +
                         "\(host). Continue only if you expected this email.")
                    Button("Activate") { Task { await model.confirm() } }
                    Button("Cancel", role: .cancel) { model.cancel() }
                }
            case .activating:
                Section { ProgressView("Activating…") }
            case .enterPin(let workspace, let failure):
                Section("PIN from \(workspace)") {
                    Text("Enter the PIN from the second email. It becomes the PIN your " +
                         "computer asks for.")
                    SecureField("PIN", text: $model.pin)
                        .textContentType(.oneTimeCode)
                        .submitLabel(.done)
                        .onSubmit { Task { await model.submitPin() } }
                    if let failure {
                        Text(failure.message).foregroundStyle(.red)
                    }
                    Button("Continue") { Task { await model.submitPin() } }
                        .disabled(!model.canSubmitPin)
                }
            case .submittingPin:
                Section { ProgressView("Checking the PIN…") }
            case .activated(let enrollment):
                Section { Text("Activated for \(enrollment.workspaceName).") }
            case .failed(let failure):
                Section(failure.title) {
                    Text(failure.message)
                    pasteButton
                }
            }
        }
    }

    /// The system paste button: reads the clipboard only when tapped, without a prompt.
    private var pasteButton: some View {
        PasteButton(payloadType: String.self) { strings in
            guard let text = strings.first else { return }
            Task { @MainActor in model.receive(link: text) }
        }
    }
}
