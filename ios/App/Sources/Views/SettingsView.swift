// Settings: the security key's enrollment, how the vault key is protected (hardware or
// not, said plainly), the link service switches, the client PIN, and the audit trail.

import AuthenticatorCoreKit
import SwiftUI

struct SettingsView: View {
    @ObservedObject var model: SettingsViewModel
    @ObservedObject var link: LinkServiceViewModel
    let pin: PinViewModel

    var body: some View {
        NavigationStack {
            Form {
                if let enrollment = model.enrollment {
                    Section("Security key") {
                        LabeledContent("State", value: enrollment.status.label)
                        LabeledContent("Workspace", value: enrollment.workspaceName)
                        LabeledContent("User", value: enrollment.userEmail)
                    }
                }
                Section {
                    LabeledContent("Protected by", value: model.keyProtectionText)
                    let hardware = model.keyProtection?.hardwareBacked == true
                    LabeledContent("Hardware key", value: hardware ? "Yes" : "No")
                } header: {
                    Text("Passkey storage")
                } footer: {
                    Text("Your passkeys are encrypted with a key that never leaves this phone " +
                         "and is not included in backups.")
                }
                Section {
                    Toggle("Serve my computers", isOn: serving)
                    Toggle("Use Bluetooth when nearby", isOn: $link.useBluetooth)
                        .disabled(link.running)
                    if let problem = link.activity.bluetoothProblem {
                        Text(problem).font(.caption).foregroundStyle(.secondary)
                    }
                } header: {
                    Text("Link service")
                } footer: {
                    Text("iOS pauses the app in the background, so computers reach the phone " +
                         "while the app is open.")
                }
                Section {
                    NavigationLink("Client PIN") { PinView(model: pin) }
                    NavigationLink("Audit log") { AuditLogView(model: model) }
                }
            }
            .navigationTitle("Settings")
            .task { await model.load() }
        }
        .failureAlert($model.failure)
    }

    private var serving: Binding<Bool> {
        Binding(get: { link.running },
                set: { on in Task { await link.setRunning(on) } })
    }
}

/// The audit trail, newest first.
struct AuditLogView: View {
    @ObservedObject var model: SettingsViewModel

    var body: some View {
        List {
            if model.audit.isEmpty {
                Text("Nothing recorded yet.").foregroundStyle(.secondary)
            }
            ForEach(model.audit) { row in
                VStack(alignment: .leading, spacing: 2) {
                    Text(row.title).font(.headline)
                    Text(row.time).font(.caption).foregroundStyle(.secondary)
                    ForEach(row.detailLines, id: \.self) { line in
                        Text(line).font(.caption)
                    }
                }
            }
        }
        .navigationTitle("Audit log")
        .refreshable { await model.loadAudit() }
        .task { await model.loadAudit() }
    }
}
