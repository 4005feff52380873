// The app's top level: the startup screen until the core is open, then the tabs; and the
// sheet for the core's questions (presence and account choice), shown over any tab.

import AuthenticatorCoreKit
import SwiftUI

struct RootView: View {
    @EnvironmentObject private var app: AppModel
    @EnvironmentObject private var prompts: PromptCenter

    init() {}

    var body: some View {
        Group {
            if let screens = app.screens {
                MainTabs(screens: screens)
            } else {
                StartupView(phase: app.phase)
            }
        }
        .sheet(item: activePrompt) { prompt in
            PromptSheet(prompt: prompt)
                .environmentObject(prompts)
        }
    }

    /// The question to show; dismissing the sheet by swiping declines it.
    private var activePrompt: Binding<ActivePrompt?> {
        Binding(
            get: {
                if let presence = prompts.presence { return .presence(presence) }
                if let account = prompts.account { return .account(account) }
                return nil
            },
            set: { newValue in
                guard newValue == nil else { return }
                if let presence = prompts.presence {
                    prompts.answerPresence(presence.id, allowed: false)
                } else if let account = prompts.account {
                    prompts.answerAccount(account.id, index: nil)
                }
            })
    }
}

/// One question of the core, as a sheet item.
enum ActivePrompt: Identifiable {
    case presence(PromptCenter.PresencePending)
    case account(PromptCenter.AccountPending)

    var id: String {
        switch self {
        case .presence(let pending): return "presence-\(pending.id)"
        case .account(let pending): return "account-\(pending.id)"
        }
    }
}

struct MainTabs: View {
    @EnvironmentObject private var app: AppModel
    let screens: Screens
    /// Observed for the badge on the requests tab.
    @ObservedObject private var approvals: ApprovalsViewModel

    init(screens: Screens) {
        self.screens = screens
        _approvals = ObservedObject(wrappedValue: screens.approvals)
    }

    var body: some View {
        TabView(selection: $app.tab) {
            HomeView(activation: screens.activation, settings: screens.settings,
                     pin: screens.pin)
                .tabItem { Label("Security key", systemImage: "key.fill") }
                .tag(AppModel.Tab.home)
            PasskeysView(model: screens.passkeys)
                .tabItem { Label("Passkeys", systemImage: "person.badge.key.fill") }
                .tag(AppModel.Tab.passkeys)
            ComputersView(model: screens.computers, link: screens.link)
                .tabItem { Label("Computers", systemImage: "laptopcomputer") }
                .tag(AppModel.Tab.computers)
            ApprovalsView(model: screens.approvals)
                .tabItem { Label("Requests", systemImage: "checkmark.shield") }
                .badge(approvals.pending.count)
                .tag(AppModel.Tab.approvals)
            SettingsView(model: screens.settings, link: screens.link, pin: screens.pin)
                .tabItem { Label("Settings", systemImage: "gear") }
                .tag(AppModel.Tab.settings)
        }
    }
}
