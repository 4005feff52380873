// The computers paired with this phone, the link service's status, and pairing a new
// computer by scanning the QR code its pairing tool shows.

import AuthenticatorCoreKit
import SwiftUI

struct ComputersView: View {
    @ObservedObject private var model: ComputersViewModel
    @ObservedObject private var link: LinkServiceViewModel
    @State private var scanning = false
    @State private var removing: ComputerRow? = nil

    init(model: ComputersViewModel, link: LinkServiceViewModel) {
        _model = ObservedObject(wrappedValue: model)
        _link = ObservedObject(wrappedValue: link)
    }

    var body: some View {
        NavigationStack {
            List {
                Section {
                    Toggle("Serve my computers", isOn: serving)
                    if link.running {
                        Text(link.activity.statusLine).font(.subheadline)
                    }
                } footer: {
                    Text("While this is on and the app is open, your paired computers can " +
                         "use this phone as their security key.")
                }
                Section("Paired computers") {
                    if model.rows.isEmpty {
                        Text("No computer yet. Start the pairing tool on your computer and " +
                             "scan its code.")
                            .foregroundStyle(.secondary)
                    }
                    ForEach(model.rows) { row in
                        VStack(alignment: .leading, spacing: 2) {
                            Text(row.name).font(.headline)
                            Text(row.detail).font(.caption).foregroundStyle(.secondary)
                        }
                        .swipeActions {
                            Button("Remove", role: .destructive) { removing = row }
                        }
                    }
                }
                if model.pairing {
                    Section { ProgressView("Pairing…") }
                }
                if let notice = model.notice {
                    Section { Label(notice, systemImage: "checkmark.circle") }
                }
            }
            .failureAlert($link.failure)
            .navigationTitle("Computers")
            .toolbar {
                ToolbarItem(placement: .primaryAction) {
                    Button {
                        scanning = true
                    } label: {
                        Label("Pair a computer", systemImage: "qrcode.viewfinder")
                    }
                    .disabled(model.pairing)
                }
            }
            .sheet(isPresented: $scanning) {
                PairingScannerSheet { code in
                    scanning = false
                    Task { await model.pair(code: code) }
                }
            }
            .confirmationDialog("Remove this computer?", isPresented: isRemoving,
                                titleVisibility: .visible, presenting: removing) { row in
                Button("Remove", role: .destructive) { Task { await model.remove(row) } }
            } message: { row in
                Text("\(row.name) will no longer reach this phone. Pair again to use it.")
            }
            .refreshable { await model.load() }
            .task { await model.load() }
        }
        .failureAlert($model.failure)
    }

    private var serving: Binding<Bool> {
        Binding(get: { link.running },
                set: { on in Task { await link.setRunning(on) } })
    }

    private var isRemoving: Binding<Bool> {
        Binding(get: { removing != nil }, set: { if !$0 { removing = nil } })
    }
}

/// The scanner in a sheet, with a line of help and a cancel button.
struct PairingScannerSheet: View {
    private let onCode: (String) -> Void
    @Environment(\.dismiss) private var dismiss
    @State private var hint = "Point the camera at the code the pairing tool shows."

    init(onCode: @escaping (String) -> Void) {
        self.onCode = onCode
    }

    var body: some View {
        NavigationStack {
            VStack(spacing: 12) {
                QRScannerView(
                    onCode: onCode,
                    onRejected: { problem in hint = problem.message },
                    onUnavailable: { message in hint = message })
                    .clipShape(RoundedRectangle(cornerRadius: 12))
                Text(hint).multilineTextAlignment(.center).padding(.horizontal)
            }
            .padding()
            .navigationTitle("Scan pairing code")
            .navigationBarTitleDisplayMode(.inline)
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { dismiss() }
                }
            }
        }
    }
}
