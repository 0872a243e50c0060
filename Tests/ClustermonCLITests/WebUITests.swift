import API
import Foundation
import Logging
import Messaging
import Testing
import TestSupport

/// The web UI in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
/// driven by Selenium from PyPI: `scripts/setup.sh --tests`) against the real
/// `clustermon dev --simulate`: `Tests/web/ui_test.py` signs in each way (a pasted token,
/// `?token=`, Kube-App's username and password) and with bad credentials, renders every
/// page with data and no console error, sees live updates arrive, follows deep links,
/// checks the security headers, signs out, and checks that user `u1` never sees another
/// tenant's name (`compute-u10-app`, `compute-u11-app`, ...) in the DOM or in any response
/// the page received.
@Suite("Web UI in a real browser", .serialized)
struct WebUITests {
    static let secret = "web-ui-secret-of-at-least-32-bytes"

    /// Runs a script of `Tests/web` (Selenium and Chromium) and expects every check passed.
    static func browserChecks(_ script: String, _ arguments: [String]) async throws {
        let root = Fixtures.packageRoot
        let python = root.appendingPathComponent(".build-venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/setup.sh --tests: it installs selenium into .build-venv")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
                     "run scripts/setup.sh --tests: it installs Debian's chromium and chromium-driver")
        let result = try await runCommandDetached(python, [root.appendingPathComponent("Tests/web/\(script)").path] + arguments, directory: root)
        let output = result.stdoutText + result.stderr
        // The failing check and the page's state (the script stops at the first).
        let failure = output.range(of: "FAIL ").map { String(output[$0.lowerBound...].prefix(6000)) } ?? String(output.suffix(6000))
        #expect(result.status == 0, "\(failure)")
        #expect(output.contains("all checks passed"), "\(output.suffix(8000))")
    }

    @Test func everyPageAndEverySignInPathInChromium() async throws {
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--simulate", "3", "--simulate-pods", "30",
                                         "--refresh", "1s", "--interval", "1s"],
                                        environment: ["JWT_SECRET": Self.secret, "API_USERNAME": "billing", "API_PASSWORD": "billing-password"])
        try await stopping([dev]) {
            let listening = try await withTimeout(.seconds(60), "listening") { await dev.waitForLog("http listening") }
            let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening))
            // A few refreshes, so that live views and history have points.
            try await Task.sleep(for: .seconds(4))
            let verifier = JWTVerifier(secret: Self.secret)
            let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(3600))
            let user = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(3600))
            try await Self.browserChecks("ui_test.py", [url, admin, user, "compute-u1-app", "compute-u10-app,compute-u11-app,compute-u2-app,kube-system",
                                                        "billing", "billing-password"])
            // The sign-ins refused and accepted are counted.
            let metrics = try await httpGet("\(url)/metrics").body
            #expect(metrics.contains(#"clustermon_web_sign_ins_total{outcome="refused"} 2"#), "\(metrics.split(separator: "\n").filter { $0.contains("sign_ins") })")
            #expect(!dev.log.contains(admin) && !dev.log.contains(user), "a token reached the log")
        }
    }

    /// The real aggregator, watching a fake API server (namespaces of u1 and u2, a
    /// deployment in each: u1's unavailable, u2's available) and ingesting an agent's batches
    /// over a real NATS: `Tests/web/aggregator_ui_test.py` checks the overview's unavailable
    /// deployments, live nodes and pods, and that u1 never sees u2's names.
    @Test func theAggregatorWithTheAPIServersDeployments() async throws {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-js-\(UUID().uuidString)")
        let nats = try await NATSServer.start(storeDirectory: store)
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u2-db","labels":{"clustermon.io/owner":"u2"}}}"#)
        api.upsert(.nodes, #"{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"4","memory":"16Gi"},"allocatable":{"cpu":"3900m","memory":"15Gi"},"conditions":[{"type":"Ready","status":"True"}]}}"#)
        api.upsert(.deployments, #"{"metadata":{"name":"web","namespace":"compute-u1-web"},"spec":{"replicas":2},"status":{"readyReplicas":0,"conditions":[{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable"}]}}"#)
        api.upsert(.deployments, #"{"metadata":{"name":"db","namespace":"compute-u2-db"},"spec":{"replicas":1},"status":{"readyReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"compute-u1-web","uid":"uid-web-1"},"spec":{"nodeName":"n1","containers":[{"name":"main"}]},"status":{"phase":"Running","podIP":"10.244.0.7","containerStatuses":[{"name":"main","restartCount":0,"state":{"running":{}}}]}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"db-0","namespace":"compute-u2-db","uid":"uid-db-0"},"spec":{"nodeName":"n1","containers":[{"name":"postgres"}]},"status":{"phase":"Running","podIP":"10.244.0.8","containerStatuses":[{"name":"postgres","restartCount":0,"state":{"running":{}}}]}}"#)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-token-\(UUID().uuidString)")
        try api.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: tokenFile) }
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let verifier = JWTVerifier(secret: Self.secret)
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(3600))
        let user = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(3600))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try ClustermonProcess(
                ["aggregator", "-addr", "127.0.0.1:0", "-api-server", endpoint.baseURL, "--api-token-file", tokenFile.path,
                 "--api-ca", try TestCertificates.get().caCertificate, "-nats", nats.url, "-refresh", "1s", "--data-dir", dataDir],
                environment: ["JWT_SECRET": Self.secret])
            try await stopping([aggregator]) {
                let listening = try await withTimeout(.seconds(60), "listening") { await aggregator.waitForLog("http listening") }
                let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening))
                let bus = try await NATSConnection.connect(NATSConfiguration(servers: [nats.url], name: "test-agent"), logger: Logger(label: "test-agent"))
                // n1's agent: both tenants' pods, every half second, with growing counters.
                let agent = Task {
                    var sequence: UInt64 = 0
                    let start = Int64(Date().timeIntervalSince1970)
                    while !Task.isCancelled {
                        sequence += 1
                        let batch = TestBatches.batch(
                            node: "n1", sequence: sequence, collectedAt: start + Int64(sequence), cpuBusyNanoseconds: sequence * 2_000_000_000,
                            cpuTotalNanoseconds: sequence * 4_000_000_000,
                            pods: [.init("compute-u1-web", "web-1", uid: "uid-web-1", cpuCoreNanoseconds: sequence * 250_000_000, memoryBytes: 64 << 20),
                                   .init("compute-u2-db", "db-0", uid: "uid-db-0", cpuCoreNanoseconds: sequence * 500_000_000, memoryBytes: 512 << 20)],
                            intervalMs: 1000)
                        if let bytes: [UInt8] = try? batch.serializedBytes() { try? bus.publish(subject: "agent.v1.n1", payload: bytes) }
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                defer { agent.cancel(); bus.close() }
                // The informers have listed and both pods have a rate before the browser looks.
                _ = try await eventually(.seconds(60), "deployments cached and pods reported") { () -> Bool? in
                    let deployments = try await httpGet("\(url)/api/resources/deployments", bearer: admin)
                    let pods = try await httpGet("\(url)/pod-metrics", bearer: admin)
                    return deployments.body.contains(#""name":"web""#) && deployments.body.contains(#""name":"db""#)
                        && pods.body.contains("web-1") && pods.body.contains("db-0") ? true : nil
                }
                try await Self.browserChecks("aggregator_ui_test.py", [url, admin, user, "compute-u1-web", "compute-u2-db,db-0",
                                                                      "compute-u1-web/web", "compute-u2-db/db"])
                #expect(!aggregator.log.contains(admin) && !aggregator.log.contains(user), "a token reached the log")
            }
        }
    }
}
