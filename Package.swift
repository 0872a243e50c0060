// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "clustermon",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "clustermon", targets: ["clustermon"]),
        // The DaemonSet's binary: the agent alone, without the aggregator, its web framework or
        // SQLite (about half the resident memory of `clustermon agent`; Foundation comes in
        // only through the pod-resources gRPC transport).
        .executable(name: "clustermon-agent", targets: ["clustermon-agent"]),
        // Libraries for the benchmark package (Benchmarks/), which depends on this one by path.
        .library(name: "Messaging", targets: ["Messaging"]),
        .library(name: "Wire", targets: ["Wire"]),
        .library(name: "Kubernetes", targets: ["Kubernetes"]),
        .library(name: "NodeAgent", targets: ["NodeAgent"]),
        .library(name: "TimeSeries", targets: ["TimeSeries"]),
        .library(name: "Aggregator", targets: ["Aggregator"]),
        .library(name: "API", targets: ["API"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // No default traits: BinaryDelimitedStreams imports all of Foundation (the agent binary links none).
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.7.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        // gRPC, for the kubelet's pod-resources API (a unix socket).
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    ],
    targets: [
        // The NATS C client from Debian's libnats-dev.
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        // zlib, for the informers' cached objects (raw deflate with a dictionary).
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // glibc's malloc_trim (the aggregator gives freed pages back after each refresh).
        .systemLibrary(name: "CMalloc"),
        // Snappy from Debian's libsnappy-dev: remote write bodies (block format).
        .systemLibrary(
            name: "CSnappy",
            providers: [.apt(["libsnappy-dev"])]
        ),
        .target(
            name: "Messaging",
            dependencies: [
                "CNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Wire",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["README.md"],
            // The generated messages keep their fields in a class; every field set through
            // them was a dynamic exclusivity check, a quarter of decoding a batch (the static
            // checks stay; nothing in this module shares a message across threads mutably).
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // The kubelet's pod-resources API: generated messages and gRPC client stubs
        // (scripts/generate-protos.sh), for the agent, and the tests' fake kubelet server.
        .target(
            name: "PodResources",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ]
        ),
        .target(
            name: "Kubernetes",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "Messaging", "CZlib",
            ],
            swiftSettings: strict
        ),
        // Reading a kubeconfig file (YAML, Foundation): the aggregator's and the tests' only.
        .target(
            name: "KubernetesConfig",
            dependencies: ["Kubernetes", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(
            name: "NodeAgent",
            dependencies: [
                "Wire", "Messaging", "Kubernetes", "PodResources",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The history store as a library of its own: chunk encodings, head and log, buckets,
        // retention, queries; nothing of Kubernetes.
        .target(
            name: "TimeSeries",
            dependencies: [
                "CZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Aggregator",
            dependencies: [
                "Wire", "Messaging", "Kubernetes", "TimeSeries", "CSnappy", "CMalloc",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "API",
            dependencies: [
                "Aggregator", "Kubernetes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                // HTTPS: TLS with ALPN, HTTP/2 beside HTTP/1.1 and its WebSocket upgrade.
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                // The front proxy's client certificate: its subject's common name.
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                "CZlib",
            ],
            // The web UI's files, compiled into the binary (`PackageResources`).
            resources: [.embedInCode("Web/static")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "clustermon",
            dependencies: ["ClustermonCLI"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "clustermon-agent",
            dependencies: ["AgentCLI"],
            swiftSettings: strict
        ),
        // The agent's command and the options every command shares; nothing of the aggregator.
        .target(
            name: "AgentCLI",
            dependencies: [
                "Messaging", "Kubernetes", "NodeAgent", "Wire",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        // The subcommands, as a library so that tests can parse and run them.
        .target(
            name: "ClustermonCLI",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                "Messaging", "Wire", "Kubernetes", "KubernetesConfig", "NodeAgent", "Aggregator", "API", "AgentCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "Messaging", "Wire", "CNATS", "Aggregator", "PodResources",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strict
        ),
        .testTarget(name: "WireTests", dependencies: ["Wire", "TestSupport"]),
        .testTarget(name: "KubernetesTests", dependencies: [
            "Kubernetes", "KubernetesConfig", "TestSupport", "Messaging",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "NodeAgentTests", dependencies: [
            "NodeAgent", "Kubernetes", "Wire", "Messaging", "TestSupport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "GRPCCore", package: "grpc-swift-2"),
        ]),
        .testTarget(name: "MessagingTests", dependencies: ["Messaging", "Wire", "TestSupport"]),
        .testTarget(name: "TimeSeriesTests", dependencies: ["TimeSeries", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "AggregatorTests", dependencies: [
            "Aggregator", "TimeSeries", "Kubernetes", "Messaging", "Wire", "TestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .testTarget(name: "APITests", dependencies: [
            "API", "Kubernetes", "Aggregator", "Messaging", "Wire", "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .testTarget(name: "ClustermonCLITests", dependencies: [
            "ClustermonCLI", "AgentCLI", "API", "Aggregator", "TestSupport", "Wire", "Messaging",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
    ]
)
