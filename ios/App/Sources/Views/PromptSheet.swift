// The core's questions as a sheet: "Sign in to example.com as alice?" with Allow / Cancel,
// or "Which account?" with the accounts to pick from. The core waits for the answer (and
// gives up after its timeout, which withdraws the sheet).

import AuthenticatorCoreKit
import SwiftUI

struct PromptSheet: View {
    @EnvironmentObject private var prompts: PromptCenter
    private let prompt: ActivePrompt

    init(prompt: ActivePrompt) {
        self.prompt = prompt
    }

    var body: some View {
        NavigationStack {
            Group {
                switch prompt {
                case .presence(let pending):
                    presence(pending)
                case .account(let pending):
                    accounts(pending)
                }
            }
            .padding()
        }
        .presentationDetents([.medium, .large])
    }

    private func presence(_ pending: PromptCenter.PresencePending) -> some View {
        let question = pending.question
        return VStack(spacing: 20) {
            Text(question.title).font(.title2.bold())
            Text(question.message).multilineTextAlignment(.center)
            Button(role: question.isDestructive ? .destructive : nil) {
                prompts.answerPresence(pending.id, allowed: true)
            } label: {
                Text(question.allowLabel).frame(maxWidth: .infinity)
            }
            .buttonStyle(.borderedProminent)
            Button("Cancel", role: .cancel) {
                prompts.answerPresence(pending.id, allowed: false)
            }
        }
    }

    private func accounts(_ pending: PromptCenter.AccountPending) -> some View {
        let question = pending.question
        return List {
            Section(question.title) {
                ForEach(question.accounts) { account in
                    Button {
                        prompts.answerAccount(pending.id, index: account.id)
                    } label: {
                        VStack(alignment: .leading) {
                            Text(account.title)
                            if let subtitle = account.subtitle {
                                Text(subtitle).font(.caption).foregroundStyle(.secondary)
                            }
                        }
                    }
                }
            }
            Button("Cancel", role: .cancel) {
                prompts.answerAccount(pending.id, index: nil)
            }
        }
    }
}
