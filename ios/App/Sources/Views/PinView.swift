// The client PIN: set the first one, or change it. The rules (length, match) are checked as
// the user types; the core checks them again and counts wrong current PINs.

import AuthenticatorCoreKit
import SwiftUI

struct PinView: View {
    @ObservedObject var model: PinViewModel

    var body: some View {
        Form {
            if let status = model.status {
                Section {
                    if status.isSet {
                        let retries = Int(status.retriesLeft)
                        Text("\(retries) attempts left before the PIN is blocked.")
                    } else {
                        Text("No PIN yet. Choose one of at least \(model.policy.minLength) " +
                             "characters.")
                    }
                }
            }
            Section(model.isSet ? "Change the PIN" : "Set a PIN") {
                if model.isSet {
                    SecureField("Current PIN", text: $model.currentPin)
                }
                SecureField("New PIN", text: $model.newPin)
                SecureField("New PIN again", text: $model.confirmation)
                if let problem = model.problem {
                    Text(problem).foregroundStyle(.red)
                }
                if model.saved {
                    Label("PIN saved", systemImage: "checkmark.circle")
                }
                Button(model.isSet ? "Change PIN" : "Set PIN") {
                    Task { await model.save() }
                }
                .disabled(model.busy || model.newPin.isEmpty)
            }
        }
        .navigationTitle("Client PIN")
        .task { await model.load() }
        .failureAlert($model.failure)
    }
}
