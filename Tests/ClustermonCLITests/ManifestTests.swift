import Foundation
import Testing
import TestSupport
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

    @Test func daemonSetSetsOnlyVariablesTheAgentReads() throws {
        let names = try Self.environmentNames(in: "daemonset/daemonset.yaml")
        #expect(names.contains("NODE_NAME"))
        #expect(names.contains("PROC_ROOT"))
        let known = Set(Agent.environment.map(\.variable) + ["NODE_IP"])
        for name in names { #expect(known.contains(name), "daemonset.yaml sets \(name), which the agent does not read") }
    }

    @Test func aggregatorDeploymentSetsOnlyVariablesTheAggregatorReads() throws {
        let names = try Self.environmentNames(in: "aggregator/deployment.yaml")
        #expect(names.contains("JWT_SECRET"))
        let known = Set(Aggregator.environment.map(\.variable) + ["JWT_SECRET", "AUTH_TOKEN_BASIC", "MALLOC_ARENA_MAX"])
        for name in names { #expect(known.contains(name), "deployment.yaml sets \(name), which the aggregator does not read") }
    }
}
