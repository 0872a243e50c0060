// swift-tools-version:6.1
// libFuzzer targets for every input clustermon takes from outside: their own package, so
// that CI's `swift test` never builds them (they need an instrumented build of the whole
// stack). Run: scripts/fuzz.sh [seconds per target] [target ...]
import PackageDescription

func target(_ name: String, _ products: [String]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzDriver"] + products.map { .product(name: $0, package: "clustermon") }, path: "Targets/\(name)")
}

let package = Package(
    name: "clustermon-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "clustermon", path: "..")],
    targets: [
        .target(name: "FuzzDriver", path: "Targets/FuzzDriver"),
        target("fuzz-kubelet-summary", ["Kubernetes"]),
        target("fuzz-kubelet-pods", ["Kubernetes"]),
        target("fuzz-procfs", ["NodeAgent"]),
        target("fuzz-tracer-feed", ["NodeAgent"]),
        target("fuzz-batch-ingest", ["Aggregator", "Messaging", "Wire"]),
        target("fuzz-jwt", ["API"]),
        target("fuzz-kube-app-body", ["API"]),
    ]
)
