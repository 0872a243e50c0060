import API
import Foundation
import Testing
import TestSupport

/// schemathesis (PyPI, `scripts/setup.sh --tests`) reads each server's own /openapi.json and
/// sends what it admits and what it forbids: every check passes (no 500, statuses, content
/// types and bodies as documented, schema-valid requests accepted, invalid ones refused,
/// 405 with Allow for undocumented methods). Bounded: the coverage phase, then a fixed
/// number of generated cases per operation from a fixed seed.
@Suite("schemathesis against the OpenAPI document", .serialized)
struct SchemathesisTests {
    static let secret = "schemathesis-secret-of-32-bytes-x"

    static func schemathesis(_ base: String, token: String) async throws -> (status: Int32, output: String) {
        let root = Fixtures.packageRoot
        let binary = root.appendingPathComponent(".build-venv/bin/schemathesis").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "run scripts/setup.sh --tests: it installs schemathesis into .build-venv")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-schemathesis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let examples = ProcessInfo.processInfo.environment["SCHEMATHESIS_EXAMPLES"] ?? "10"
        let result = try await runCommandDetached(binary, [
            "--config-file", root.appendingPathComponent("scripts/schemathesis.toml").path, "run", "\(base)/openapi.json",
            "--phases", "coverage,fuzzing", "--max-examples", examples, "--seed", "1",
            "--no-color", "-H", "Authorization: Bearer \(token)",
        ], directory: work)
        return (result.status, result.stdoutText + result.stderr)
    }

    static func summary(_ output: String) -> String {
        // The failures and the summary: the end of the report.
        String(output.suffix(60_000))
    }

    @Test func devFollowsItsDocument() async throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-st-dev-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--simulate", "3", "--simulate-pods", "5",
                                         "--refresh", "1s", "--interval", "1s"], environment: ["JWT_SECRET": Self.secret])
        try await stopping([dev]) {
            let listening = try await withTimeout(.seconds(60), "listening") { await dev.waitForLog("http listening") }
            let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening))
            // A refresh with history behind it before the run.
            try await Task.sleep(for: .seconds(3))
            let admin = try JWTVerifier(secret: Self.secret).sign(userID: "root", isAdmin: true, ttl: .seconds(3600))
            let (status, output) = try await Self.schemathesis(url, token: admin)
            #expect(status == 0, "\(Self.summary(output))")
            #expect(output.contains("Coverage") && output.contains("Fuzzing"), "\(Self.summary(output))")
            #expect(!dev.log.contains("Fatal error"), "\(dev.log.suffix(4000))")
        }
    }

    @Test func aggregatorWithAnAPIServerFollowsItsDocument() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        api.upsert(.nodes, #"{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"4","memory":"8Gi"}}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"compute-u1-web","labels":{"app":"web"}},"spec":{"nodeName":"n1"}}"#)
        api.upsert(.services, #"{"metadata":{"name":"web","namespace":"compute-u1-web"},"spec":{"clusterIP":"10.96.0.10","ports":[{"port":80}]}}"#)
        api.upsert(.deployments, #"{"metadata":{"name":"shop","namespace":"compute-u1-web"},"spec":{"replicas":1},"status":{"readyReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}"#)
        let launch = try AggregatorLaunch(apiToken: api.token)
        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: Self.secret, arguments: ["--refresh", "1s"],
                                              environment: ["AUTH_TOKEN_BASIC": "beat", "API_USERNAME": "billing", "API_PASSWORD": "billing-password"])
            let simulated = try ClustermonProcess(["simulate", "--nodes", "3", "--pods", "5", "--interval", "1s", "--nats", nats.url])
            try await stopping([simulated, aggregator]) {
                let url = try await AggregatorLaunch.url(of: aggregator)
                _ = try await withTimeout(.seconds(60), "informers synced") { await aggregator.waitForLog("informer synced", count: 9) }
                try await Task.sleep(for: .seconds(3))
                let admin = try JWTVerifier(secret: Self.secret).sign(userID: "root", isAdmin: true, ttl: .seconds(3600))
                let (status, output) = try await Self.schemathesis(url, token: admin)
                #expect(status == 0, "\(Self.summary(output))")
                #expect(output.contains("/api/resources/pods") || output.contains("Operations:"), "\(Self.summary(output))")
                #expect(!aggregator.log.contains("Fatal error"), "\(aggregator.log.suffix(4000))")
            }
        }
    }
}
