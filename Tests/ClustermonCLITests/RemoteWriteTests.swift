import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// clustermon and the Prometheus ecosystem with the real servers from Debian: `clustermon
/// dev` simulating a small cluster remote-writes to Prometheus and VictoriaMetrics at once,
/// Prometheus scrapes its `/metrics/resource` with a bearer token, and PromQL over each
/// returns the simulated pods' known CPU rates; a receiver that is away, then back.
@Suite("Remote write and scraping with real Prometheus and VictoriaMetrics", .serialized)
struct RemoteWriteTests {
    static let secret = "remote-write-secret-of-32-bytes-x"

    /// A simulated pod `pod-N-p` uses (10 + p) millicores: its counter grows by
    /// (10,000,000 + p x 1,000,000) ns per second of collection time (SimulatedNodes).
    static let pod01Rate = 0.011

    static func dev(port: Int, dataDir: String, arguments: [String]) throws -> ClustermonProcess {
        try ClustermonProcess(["dev", "--addr", "127.0.0.1:\(port)", "--simulate", "2", "--simulate-pods", "3", "--interval", "1s",
                               "--refresh", "1s", "--data-dir", dataDir, "--no-reverse-dns"] + arguments,
                              environment: ["JWT_SECRET": secret])
    }

    /// `deploy/grafana/clustermon.json`: its panels' PromQL and its variables' queries.
    static func dashboard() throws -> (expressions: [String], variables: [String]) {
        let data = try Data(contentsOf: Fixtures.packageRoot.appendingPathComponent("deploy/grafana/clustermon.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = object["panels"] as? [[String: Any]] ?? []
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        let templating = (object["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        let variables = templating.compactMap { ($0["query"] as? [String: Any])?["query"] as? String }
        return (expressions, variables)
    }

    /// A line of `/metrics` (the remote write counters), as a number.
    static func metric(_ url: String, _ prefix: String) async throws -> Double? {
        let metrics = try await httpGet("\(url)/metrics").body
        return metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func remoteWriteToPrometheusAndVictoriaMetricsAndAScrapeWithABearerToken() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-rw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let token = directory.appendingPathComponent("scrape.jwt")
        try JWTVerifier(secret: Self.secret).sign(userID: "prometheus", isAdmin: true, ttl: .seconds(3600)).write(to: token, atomically: true, encoding: .utf8)
        let devPort = try freeLoopbackPort()
        let prometheus = try await TSDBServer.prometheus(configuration: """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: clustermon
                metrics_path: /metrics/resource
                authorization:
                  credentials_file: \(token.path)
                static_configs:
                  - targets: ["127.0.0.1:\(devPort)"]
            """)
        let victoria = try await TSDBServer.victoriaMetrics()
        let dev = try Self.dev(port: devPort, dataDir: directory.appendingPathComponent("data").path, arguments: [
            "--remote-write-url", "\(prometheus.writeURL),\(victoria.writeURL)", "--cluster-name", "test", "--replica", "r1"])
        try await stopping([dev]) {
            let url = "http://127.0.0.1:\(devPort)"
            _ = try await readyBody(url, within: .seconds(60))
            // The remote-written rate of a simulated pod, on both receivers.
            // (Once the series is older than the window: a series that starts inside a rate's
            // window is extrapolated by design.)
            for server in [prometheus, victoria] {
                _ = try await eventually(.seconds(90), "\(server.name): 25 s of samples", every: .seconds(1)) {
                    let result = try await server.query(#"count_over_time(container_cpu_usage_seconds_total{cluster="test",pod="pod-0-1"}[30s])"#)
                    return (result.first?.value ?? 0) >= 25 ? true : nil
                }
                let rate = try #require(try await server.query(#"rate(container_cpu_usage_seconds_total{cluster="test",replica="r1",pod="pod-0-1"}[20s])"#).first)
                // The simulator's counters advance by the nominal second per snapshot, the
                // timestamps by the real one: a loaded machine's late ticks move the rate by a
                // few percent (6.5% seen once with the whole suite running; a unit or
                // duplication error would move it by 100% or more).
                #expect(abs(rate.value - Self.pod01Rate) < Self.pod01Rate * 0.1, "\(server.name): \(rate)")
                #expect(rate.labels["container"] == "main" && rate.labels["node"] == "sim-node-0000" && rate.labels["namespace"] != nil)
                let nodes = try await server.query(#"count(node_memory_working_set_bytes{cluster="test"})"#)
                #expect(nodes.first?.value == 3, "two simulated nodes and this machine")
                let edges = try await eventually(.seconds(30), "\(server.name): the graph's edges", every: .seconds(1)) {
                    try await server.query(#"count(clustermon_edge_sent_bytes_total{cluster="test"})"#).first?.value
                }
                #expect(edges > 0)
            }
            // Prometheus scraping /metrics/resource with the admin JWT.
            _ = try await eventually(.seconds(60), "25 s of scraped samples", every: .seconds(1)) {
                let result = try await prometheus.query(#"count_over_time(container_cpu_usage_seconds_total{job="clustermon",pod="pod-0-1"}[30s])"#)
                return (result.first?.value ?? 0) >= 25 ? true : nil
            }
            let scraped = try #require(try await prometheus.query(#"rate(container_cpu_usage_seconds_total{job="clustermon",pod="pod-0-1"}[20s])"#).first).value
            // A scrape every second of snapshots made every second sees some twice (one kept:
            // same timestamp) and misses others, so rate()'s extrapolation to the window's
            // edges moves it by a few percent; the remote-written series above have them all.
            #expect(abs(scraped - Self.pod01Rate) < Self.pod01Rate * 0.1)
            #expect(try await prometheus.query(#"up{job="clustermon"}"#).first?.value == 1)
            #expect(try await prometheus.query(#"count(container_cpu_usage_seconds_total{job="clustermon"})"#).first?.value == 6)
            #expect(try await prometheus.query(#"count(container_start_time_seconds{job="clustermon"})"#).first?.value == 6)
            // Nothing dropped or refused; the sent samples are counted per receiver.
            for server in [prometheus, victoria] {
                let labels = #"outcome="%@",url="\#(server.writeURL)""#
                #expect((try await Self.metric(url, "clustermon_remote_write_samples_total{\(labels.replacingOccurrences(of: "%@", with: "sent"))}") ?? 0) > 100)
                #expect(try await Self.metric(url, "clustermon_remote_write_samples_total{\(labels.replacingOccurrences(of: "%@", with: "dropped"))}") == 0)
                #expect(try await Self.metric(url, "clustermon_remote_write_samples_total{\(labels.replacingOccurrences(of: "%@", with: "failed"))}") == 0)
            }
            #expect(!dev.log.contains(try String(contentsOf: token, encoding: .utf8)), "the scrape token is never logged")

            // The Grafana dashboard: every metric it names is one /metrics/resource serves, and
            // every panel's query runs on this Prometheus and finds series.
            let exposition = try await httpGet("\(url)/metrics/resource", bearer: try String(contentsOf: token, encoding: .utf8)).body
            let served = Set(exposition.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
            let dashboard = try Self.dashboard()
            #expect(!dashboard.expressions.isEmpty && !dashboard.variables.isEmpty)
            for expression in dashboard.expressions + dashboard.variables {
                for name in expression.matches(of: /\b(?:node|pod|container|clustermon_edge)_[a-z_]+/).map({ String($0.output) }) {
                    #expect(served.contains(name), "the dashboard queries \(name), which /metrics/resource does not serve")
                }
            }
            for expression in dashboard.expressions {
                let promql = expression.replacingOccurrences(of: "$__rate_interval", with: "20s")
                    .replacingOccurrences(of: "$cluster", with: ".*").replacingOccurrences(of: "$node", with: ".*")
                    .replacingOccurrences(of: "$namespace", with: ".*")
                let result = try await prometheus.query(promql)
                #expect(!result.isEmpty, "no series for the dashboard's \(promql)")
            }
        }
    }

    @Test func aReceiverAwayThenBackWithABoundedQueue() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-rw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let devPort = try freeLoopbackPort(), receiverPort = try freeLoopbackPort()
        let write = "http://127.0.0.1:\(receiverPort)/api/v1/write"
        let dev = try Self.dev(port: devPort, dataDir: directory.appendingPathComponent("data").path, arguments: [
            "--remote-write-url", write, "--remote-write-queue-samples", "300", "--remote-write-timeout", "1s", "--cluster-name", "away",
            "--history", "remote-only"])
        try await stopping([dev]) {
            let url = "http://127.0.0.1:\(devPort)"
            let labels = #"outcome="dropped",url="\#(write)""#
            // Nobody listens: retried with backoff, the queue stays within its bound, the oldest dropped.
            let dropped = try await eventually(.seconds(60), "dropped samples counted", every: .milliseconds(500)) {
                let dropped = try await Self.metric(url, "clustermon_remote_write_samples_total{\(labels)}") ?? 0
                return dropped > 0 ? dropped : nil
            }
            #expect(dropped > 0)
            #expect((try await Self.metric(url, #"clustermon_remote_write_queue_samples{url="\#(write)"}"#) ?? .infinity) <= 300)
            #expect((try await Self.metric(url, #"clustermon_remote_write_retries_total{url="\#(write)"}"#) ?? 0) >= 1)
            #expect(dev.log.contains("remote write failed; retrying"))
            // --history remote-only: no history database, no history endpoints.
            #expect(dev.log.contains("no local history"))
            #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/history.sqlite").path))
            let openAPI = try await httpGet("\(url)/openapi.json").body
            #expect(openAPI.contains("/metrics/resource") && !openAPI.contains("/api/metrics/pods"))
            #expect(try await httpGet("\(url)/api/metrics/pods").status == 404)

            // The receiver comes up on that port: the queue drains into it.
            let victoria = try await TSDBServer.victoriaMetrics(port: receiverPort)
            let sent = try await eventually(.seconds(90), "samples sent after the receiver came back", every: .milliseconds(500)) {
                let sent = try await Self.metric(url, #"clustermon_remote_write_samples_total{outcome="sent",url="\#(write)"}"#) ?? 0
                return sent > 0 ? sent : nil
            }
            #expect(sent > 0)
            let nodes = try await eventually(.seconds(60), "series in VictoriaMetrics", every: .seconds(1)) {
                let result = try await victoria.query(#"count(node_cpu_usage_seconds_total{cluster="away"})"#)
                return result.first.map(\.value)
            }
            #expect(nodes >= 2)
            #expect((try await Self.metric(url, "clustermon_remote_write_last_success_timestamp_seconds{url=\"\(write)\"}") ?? 0) > 1_700_000_000)
            #expect(dev.process.isRunning && !dev.log.contains("Fatal error"))
        }
    }
}
