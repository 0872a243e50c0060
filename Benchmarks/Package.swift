// swift-tools-version:6.1
// Benchmarks live in their own package so that CI's `swift test` never builds them (they
// need a release build of the whole stack). Run: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "clustermon-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "clustermon", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        // glibc's count of allocated bytes, for memory per cached object.
        .target(name: "MallocInfo", path: "MallocInfo"),
        // A cluster whose API server lists the simulated agents' pods (the informers' side).
        .target(
            name: "BenchmarkCluster",
            dependencies: [
                .product(name: "Aggregator", package: "clustermon"),
                .product(name: "Kubernetes", package: "clustermon"),
                .product(name: "Wire", package: "clustermon"),
            ],
            path: "BenchmarkCluster"
        ),
        .executableTarget(
            name: "InformerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Kubernetes", package: "clustermon"),
                "MallocInfo",
            ],
            path: "InformerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "AgentBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Kubernetes", package: "clustermon"),
                .product(name: "NodeAgent", package: "clustermon"),
                .product(name: "Wire", package: "clustermon"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "AgentBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TimeSeriesBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TimeSeries", package: "clustermon"),
            ],
            path: "TimeSeriesBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "AccountingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Aggregator", package: "clustermon"),
                .product(name: "TimeSeries", package: "clustermon"),
                .product(name: "Wire", package: "clustermon"),
            ],
            path: "AccountingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Not a benchmark: times the phases of an accounting query (see its main.swift).
        .executableTarget(
            name: "AccountingProbe",
            dependencies: [
                .product(name: "Aggregator", package: "clustermon"),
                .product(name: "TimeSeries", package: "clustermon"),
            ],
            path: "AccountingProbe"
        ),
        .executableTarget(
            name: "MemoryProbe",
            dependencies: [
                .product(name: "Aggregator", package: "clustermon"),
                .product(name: "Messaging", package: "clustermon"),
                .product(name: "NodeAgent", package: "clustermon"),
                .product(name: "Wire", package: "clustermon"),
                "BenchmarkCluster",
                "MallocInfo",
            ],
            path: "MemoryProbe"
        ),
        .executableTarget(
            name: "AggregatorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Aggregator", package: "clustermon"),
                .product(name: "API", package: "clustermon"),
                .product(name: "Messaging", package: "clustermon"),
                .product(name: "NodeAgent", package: "clustermon"),
                .product(name: "Wire", package: "clustermon"),
                .product(name: "Kubernetes", package: "clustermon"),
                "BenchmarkCluster",
                "MallocInfo",
            ],
            path: "AggregatorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
