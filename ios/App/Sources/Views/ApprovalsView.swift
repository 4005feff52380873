// Administrators' requests to register passkeys on the user's behalf: who asks, for which
// sites, until when; Approve (then Face ID or the passcode) or Deny. While an approved
// session runs, the screen says so: the core serves the administrator's tool until it ends.

import AuthenticatorCoreKit
import SwiftUI

struct ApprovalsView: View {
    @ObservedObject var model: ApprovalsViewModel

    var body: some View {
        NavigationStack {
            List {
                if let result = model.result {
                    Section { Label(result, systemImage: "info.circle") }
                }
                if model.pending.isEmpty {
                    Text("No requests. When your administrator asks to add passkeys for you, " +
                         "the request appears here and as a notification.")
                        .foregroundStyle(.secondary)
                }
                ForEach(model.pending) { request in
                    Section {
                        Text(request.body)
                        Text(request.expiryText()).font(.caption).foregroundStyle(.secondary)
                        if model.deciding == request.id {
                            ProgressView("Registering with your administrator's tool…")
                        } else {
                            HStack {
                                Button("Deny", role: .destructive) {
                                    Task { await model.decide(request.id, approve: false) }
                                }
                                .buttonStyle(.bordered)
                                Spacer()
                                Button("Approve") {
                                    Task { await model.decide(request.id, approve: true) }
                                }
                                .buttonStyle(.borderedProminent)
                            }
                            .disabled(model.deciding != nil || request.isExpired())
                        }
                    } header: {
                        Text(request.title)
                    }
                }
            }
            .navigationTitle("Requests")
            .refreshable { await model.load() }
            .task { await model.load() }
        }
        .failureAlert($model.failure)
    }
}
