// The passkeys on this phone, searchable; swipe to delete (after a confirmation) or to
// rename with the user's own label.

import AuthenticatorCoreKit
import SwiftUI

struct PasskeysView: View {
    @ObservedObject private var model: PasskeysViewModel
    @State private var deleting: PasskeyRow? = nil
    @State private var renaming: PasskeyRow? = nil
    @State private var draftName = ""
    @State private var renameProblem: String? = nil

    init(model: PasskeysViewModel) {
        _model = ObservedObject(wrappedValue: model)
    }

    var body: some View {
        NavigationStack {
            List {
                if model.loaded && model.rows.isEmpty {
                    Text("No passkeys yet. They appear here when you create one from your " +
                         "computer.")
                        .foregroundStyle(.secondary)
                }
                ForEach(model.visibleRows) { row in
                    VStack(alignment: .leading, spacing: 2) {
                        Text(row.title).font(.headline)
                        Text(row.subtitle).font(.subheadline)
                        Text(row.detail).font(.caption).foregroundStyle(.secondary)
                    }
                    .swipeActions(edge: .trailing) {
                        Button("Delete", role: .destructive) { deleting = row }
                        Button("Rename") {
                            draftName = row.label ?? ""
                            renameProblem = nil
                            renaming = row
                        }
                        .tint(.blue)
                    }
                }
            }
            .navigationTitle("Passkeys")
            .searchable(text: $model.query)
            .refreshable { await model.load() }
            .task { await model.load() }
            .confirmationDialog("Delete this passkey?", isPresented: isDeleting,
                                titleVisibility: .visible, presenting: deleting) { row in
                Button("Delete", role: .destructive) {
                    Task { await model.delete(row) }
                }
            } message: { row in
                Text("You will no longer be able to sign in to \(row.rpId) with it. " +
                     "This cannot be undone.")
            }
            .alert("Rename passkey", isPresented: isRenaming, presenting: renaming) { row in
                TextField("Name", text: $draftName)
                Button("Save") { Task { await rename(row) } }
                if row.label != nil {
                    Button("Use the site's name") { Task { await model.clearLabel(row) } }
                }
                Button("Cancel", role: .cancel) {}
            } message: { _ in
                Text(renameProblem ?? "A name of your own, shown instead of the site's.")
            }
        }
        .failureAlert($model.failure)
    }

    private var isDeleting: Binding<Bool> {
        Binding(get: { deleting != nil }, set: { if !$0 { deleting = nil } })
    }

    private var isRenaming: Binding<Bool> {
        Binding(get: { renaming != nil }, set: { if !$0 { renaming = nil } })
    }

    private func rename(_ row: PasskeyRow) async {
        if let problem = await model.rename(row, to: draftName) {
            // Show the alert again with the reason.
            renameProblem = problem
            renaming = row
        }
    }
}
