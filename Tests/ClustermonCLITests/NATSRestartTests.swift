import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// NATS restarted under load: 1,000 simulated agents publishing through a real nats-server
/// to a real aggregator, the server stopped and started again on its port. Nothing crashes,
/// the live views keep being served while NATS is away (`/readyz` says NATS is missing),
/// the disconnection and the batches' age are counted, and every node is fresh again after.
@Suite("NATS restarted under load", .serialized)
struct NATSRestartTests {
    /// Nodes of /cluster-info and how many were last seen at or after `since` (Unix seconds).
    static func nodes(_ url: String, token: String, since: Int64) async throws -> (total: Int, fresh: Int) {
        let body = try await httpGet("\(url)/cluster-info", bearer: token).body
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let nodes = object?["nodes"] as? [[String: Any]] ?? []
        let fresh = nodes.filter { node in
            guard let text = node["last_seen"] as? String, let seen = ISO8601DateFormatter().date(from: text) else { return false }
            return Int64(seen.timeIntervalSince1970) >= since
        }
        return (nodes.count, fresh.count)
    }

    @Test func aggregatorRidesOutANATSRestartUnderAThousandNodes() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        let launch = try AggregatorLaunch(apiToken: api.token)
        let secret = "nats-restart-secret-of-32-bytes-x"
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: secret, arguments: ["--refresh", "2s"])
            let simulated = try ClustermonProcess(["simulate", "--nodes", "1000", "--pods", "5", "--interval", "5s", "--nats", nats.url,
                                                   "--nats-reconnect-wait", "250ms"])
            try await stopping([simulated, aggregator]) {
                let url = try await AggregatorLaunch.url(of: aggregator)
                let start = Int64(Date().timeIntervalSince1970)
                let before = try await eventually(.seconds(120), "a thousand nodes", every: .seconds(1)) {
                    let seen = try await Self.nodes(url, token: admin, since: start)
                    return seen.total == 1000 ? seen : nil
                }
                #expect(before.total == 1000)

            // NATS goes away for a few seconds, then comes back on its port.
            nats.stop()
            try await Task.sleep(for: .seconds(3))
            let away = try await httpGet("\(url)/readyz")
            #expect(away.status == 503 && away.body.contains("nats:"), "\(away.body)")
            let served = try await httpGet("\(url)/cluster-info", bearer: admin)
            #expect(served.status == 200, "the live view is served while NATS is away")
            let restarted = try await nats.restarted()
            defer { restarted.stop() }
            let back = Int64(Date().timeIntervalSince1970)

            // Every node reports again through the new server.
            let after = try await eventually(.seconds(120), "every node fresh after the restart", every: .seconds(1)) {
                let seen = try await Self.nodes(url, token: admin, since: back)
                return seen.fresh == 1000 ? seen : nil
            }
            #expect(after.total == 1000 && after.fresh == 1000)
            let ready = try await readyBody(url, within: .seconds(30))
            #expect(ready.hasPrefix("ok"))
            let metrics = try await httpGet("\(url)/metrics").body
            func value(_ name: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect((value("clustermon_nats_disconnects_total") ?? 0) >= 1, "the disconnection is counted")
            #expect((value("clustermon_nats_reconnects_total") ?? 0) >= 1, "the reconnection is counted")
            #expect((value("clustermon_ingest_batch_age_seconds_count") ?? 0) > 1000, "each batch's age (the lag) is measured")
            #expect(!aggregator.log.contains("Fatal error") && !simulated.log.contains("Fatal error"))
            #expect(aggregator.process.isRunning && simulated.process.isRunning)
            }
        }
    }
}
