import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// The history as a process keeps it: killed during writes, stopped gracefully.
@Suite("history across kills and stops", .serialized)
struct HistoryCrashTests {
    let secret = "history-test-secret-of-32-bytes-or-more"

    func startDev(_ directory: String) throws -> ClustermonProcess {
        try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", directory, "--interval", "1s", "--refresh", "1s",
                               "--simulate", "3", "--simulate-pods", "4"], environment: ["JWT_SECRET": secret])
    }

    func url(of dev: ClustermonProcess) async throws -> String {
        let log = try await withTimeout(.seconds(60), "dev to listen") { await dev.waitForLog("http listening") }
        return try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log), "no listening line in:\n\(log)")
    }

    /// The raw times of a simulated node's history (the legacy shape's `t`).
    func times(_ url: String, node: String) async throws -> [String] {
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let response = try await HTTPClient.shared.get(url: "\(url)/api/metrics/nodes/\(node)?resolution=raw&token=\(admin)").get()
        guard response.status == .ok, let body = response.body else { return [] }
        let json = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]
        let series = json?["series"] as? [String: [[String: Any]]]
        return series?[node]?.compactMap { $0["t"] as? String } ?? []
    }

    /// Polls until the node has at least `count` raw points (a bounded number of tries).
    func waitForPoints(_ url: String, node: String, count: Int) async throws -> [String] {
        for _ in 0..<300 {
            let seen = try await times(url, node: node)
            if seen.count >= count { return seen }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("\(node) never had \(count) points")
        return []
    }

    @Test func aKilledProcessReopensWithEverythingItHadServed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-crash-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try startDev(directory)
        let seen = try await waitForPoints(try await url(of: first), node: "sim-node-0001", count: 6)
        first.signal(SIGKILL)
        _ = await first.waitForExit()

        let second = try startDev(directory)
        defer { second.signal(SIGKILL) }
        let url = try await url(of: second)
        #expect(second.log.contains("history log replayed"), "\(second.log.suffix(2000))")
        let after = try await times(url, node: "sim-node-0001")
        // Every point the killed process had served is there again.
        #expect(Set(seen).isSubset(of: Set(after)), "before: \(seen)\nafter: \(after)")
    }

    /// The real aggregator (batches over a real nats-server from `clustermon simulate`, the
    /// fake API server) killed with SIGKILL while it writes: it restarts with every point it
    /// had served.
    @Test func aKilledAggregatorRestartsWithItsHistory() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-kill-token-\(UUID().uuidString)")
        try api.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-kill-\(UUID().uuidString)").path
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(at: tokenFile)
        }
        let simulator = try ClustermonProcess(["simulate", "--nodes", "3", "--pods", "4", "--interval", "1s", "--nats", nats.url])
        defer { simulator.signal(SIGKILL) }
        try await withLocalServer(api.router(), tls: true) { endpoint in
            func start() async throws -> (ClustermonProcess, String) {
                let process = try ClustermonProcess(
                    ["aggregator", "--addr", "127.0.0.1:0", "--api-server", endpoint.baseURL, "--api-token-file", tokenFile.path,
                     "--api-ca", try TestCertificates.get().caCertificate, "--nats", nats.url, "--refresh", "1s", "--data-dir", directory],
                    environment: ["JWT_SECRET": secret])
                return (process, try await url(of: process))
            }
            let (first, firstURL) = try await start()
            let seen = try await waitForPoints(firstURL, node: "sim-node-0001", count: 6)
            first.signal(SIGKILL)
            _ = await first.waitForExit()
            let (second, secondURL) = try await start()
            defer { second.signal(SIGKILL) }
            #expect(second.log.contains("history log replayed"), "\(second.log.suffix(2000))")
            let after = try await times(secondURL, node: "sim-node-0001")
            #expect(!seen.isEmpty && Set(seen).isSubset(of: Set(after)), "before: \(seen)\nafter: \(after)")
        }
    }

    @Test func aGracefulStopSealsTheHead() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-stop-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dev = try startDev(directory)
        let seen = try await waitForPoints(try await url(of: dev), node: "sim-node-0000", count: 3)
        dev.signal(SIGTERM)
        #expect(await dev.waitForExit() == 0, "\(dev.log.suffix(2000))")
        // One log file is left, holding its header only: every row is in a sealed chunk.
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("history.sqlite.log.") }
        #expect(logs.count == 1, "\(logs)")
        let log = try FileManager.default.attributesOfItem(atPath: directory + "/" + (logs.first ?? "none"))
        #expect(log[.size] as? Int == 16)

        let again = try startDev(directory)
        defer { again.signal(SIGKILL) }
        let after = try await times(try await url(of: again), node: "sim-node-0000")
        #expect(Set(seen).isSubset(of: Set(after)))
    }
}
