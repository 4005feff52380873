// The app's entry point. The app delegate exists for one reason: the notification delegate
// must be installed before launch finishes, so that tapping "Approve" on a notification that
// launched the app is not lost. Everything else is SwiftUI.

import SwiftUI
import UIKit

final class AppDelegate: NSObject, UIApplicationDelegate {
    let model = AppModel()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions:
                        [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        model.notifications.install()
        return true
    }
}

@main
struct PasskeyPhoneApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) private var appDelegate
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(appDelegate.model)
                .environmentObject(appDelegate.model.prompts)
                // Universal links (https://HOST/activate?...) and the app's own scheme
                // (passkeyphone://activate?..., PASSKEYPHONE:/digits) both arrive here.
                .onOpenURL { url in appDelegate.model.handle(url: url) }
                .task { await appDelegate.model.notifications.requestPermission() }
        }
        .onChange(of: scenePhase) { phase in
            appDelegate.model.scenePhaseChanged(phase)
        }
    }
}
