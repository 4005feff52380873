// swift-tools-version:5.9
// Linux only (tests/swift/run.sh builds it in a Debian chroot with Debian's Swift): the
// generated Swift bindings, KitBridge.swift and VaultLocation.swift compiled against the
// core's debug library (target/debug/libauthenticator_core.so), and binding tests that need
// neither Security nor CryptoKit (activation against a real workspace-server, PIN, passkeys,
// errors, async calls, cancellation, a Swift KeyProtector and UserInterface).
// - AuthenticatorCoreFFI: the generated C header (copied in by run.sh, not committed) under
//   a module map that links libauthenticator_core;
// - AuthenticatorCore: the generated authenticator_core.swift (copied into Generated/ by
//   run.sh) beside symbolic links to the iOS package's KitBridge.swift and VaultLocation.swift,
//   so the very files the app ships are the ones compiled here;
// - AuthenticatorCoreKit: the iOS package itself (`..`), as a path dependency.
// The macOS CI job (.github/workflows/ios.yml) builds the same adapters in the iOS package.

import PackageDescription

let package = Package(
    name: "LinuxBindings",
    dependencies: [.package(path: "..")],
    targets: [
        .systemLibrary(name: "AuthenticatorCoreFFI"),
        .target(
            name: "AuthenticatorCore",
            dependencies: [
                "AuthenticatorCoreFFI",
                .product(name: "AuthenticatorCoreKit", package: "ios"),
            ]
        ),
        .testTarget(
            name: "LinuxBindingsTests",
            dependencies: [
                "AuthenticatorCore",
                .product(name: "AuthenticatorCoreKit", package: "ios"),
            ]
        ),
    ]
)
