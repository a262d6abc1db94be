// swift-tools-version:5.9
// SwiftPM manifest of the ClawSocket Swift bindings. The Swift sources are the committed
// generated/swift/ClawSocket.swift; the Rust library comes as ClawSocketFFI.xcframework, built
// on a Mac by ./build-xcframework.sh (see README.md). Not built or tested on the Linux CI.
import PackageDescription

let package = Package(
    name: "ClawSocket",
    platforms: [.iOS(.v13), .macOS(.v10_15)],
    products: [
        .library(name: "ClawSocket", targets: ["ClawSocket"]),
    ],
    targets: [
        // The static Rust library with the C header and module map of `clawsocketFFI`.
        .binaryTarget(name: "clawsocketFFI", path: "ClawSocketFFI.xcframework"),
        .target(
            name: "ClawSocket",
            dependencies: ["clawsocketFFI"],
            path: "generated/swift",
            exclude: ["clawsocketFFI.h", "clawsocketFFI.modulemap"],
            sources: ["ClawSocket.swift"]
        ),
    ]
)
