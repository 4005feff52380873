// swift-tools-version:5.9
// The iOS side of the phone authenticator core, as a Swift package (see README.md):
// - AuthenticatorCoreKit: pure Swift (screen state, wording, link and code checks); builds
//   and tests anywhere Swift runs, Linux included, without the Rust library;
// - AuthenticatorCoreFFI: the Rust core as an xcframework, made by build-xcframework.sh;
// - AuthenticatorCore: the uniffi-generated bindings (copied into Generated/ by the same
//   script) plus the iOS adapters (Secure Enclave key protector, os_log sink, vault folder).
// The last two exist only once the script has run, so that `swift test` of the Kit needs
// nothing but a Swift toolchain.

import Foundation
import PackageDescription

let xcframeworkPath = "build/AuthenticatorCoreFFI.xcframework"
let generatedBindings = "Sources/AuthenticatorCore/Generated/authenticator_core.swift"

/// True when build-xcframework.sh has produced the library and its bindings.
let coreIsBuilt: Bool = {
    #if canImport(Darwin)
    let root = Context.packageDirectory
    return FileManager.default.fileExists(atPath: "\(root)/\(xcframeworkPath)")
        && FileManager.default.fileExists(atPath: "\(root)/\(generatedBindings)")
    #else
    return false
    #endif
}()

var products: [Product] = [
    .library(name: "AuthenticatorCoreKit", targets: ["AuthenticatorCoreKit"]),
]

var targets: [Target] = [
    .target(name: "AuthenticatorCoreKit"),
    .testTarget(name: "AuthenticatorCoreKitTests", dependencies: ["AuthenticatorCoreKit"]),
]

if coreIsBuilt {
    products.append(.library(name: "AuthenticatorCore", targets: ["AuthenticatorCore"]))
    targets += [
        .binaryTarget(name: "AuthenticatorCoreFFI", path: xcframeworkPath),
        .target(
            name: "AuthenticatorCore",
            dependencies: ["AuthenticatorCoreFFI", "AuthenticatorCoreKit"],
            // What the Rust static library needs from the system: rustls-platform-verifier
            // checks certificates with Security, over CoreFoundation; libc links iconv; the
            // Bluetooth link (build-xcframework.sh --ble) uses CoreBluetooth.
            linkerSettings: [
                .linkedFramework("Security"),
                .linkedFramework("CoreFoundation"),
                .linkedFramework("CoreBluetooth"),
                .linkedLibrary("iconv"),
            ]
        ),
        .testTarget(name: "AuthenticatorCoreTests",
                    dependencies: ["AuthenticatorCore", "AuthenticatorCoreKit"]),
    ]
}

let package = Package(
    name: "AuthenticatorCore",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: products,
    targets: targets
)
