import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TestSupport

@Suite("clustermon dev as a process")
struct DevProcessTests {
    @Test func startsServesHealthAndStopsCleanlyOnInterrupt() async throws {
        // Its own data directory: nothing a run before left (the default is $TMPDIR/clustermon-dev).
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-dev-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", directory])
        _ = try await withTimeout(.seconds(30), "the first batch") { await dev.waitForLog("first batch collected") }
        let log = try await withTimeout(.seconds(30), "dev to listen") { await dev.waitForLog("http listening") }
        let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log), "no listening line in:\n\(log)")
        #expect(url.hasPrefix("http://127.0.0.1:"))

        let health = try await HTTPClient.shared.get(url: "\(url)/healthz").get()
        #expect(health.status == .ok)
        #expect(health.body.map { String(buffer: $0) } == "ok")
        let metrics = try await HTTPClient.shared.get(url: "\(url)/metrics").get()
        #expect(metrics.status == .ok)
        #expect(metrics.headers.first(name: "content-type")?.hasPrefix("text/plain") == true)
        // The agent ran its first cycle at start.
        let text = metrics.body.map { String(buffer: $0) } ?? ""
        #expect(text.contains("clustermon_agent_collector_duration_seconds"), "\(text.prefix(2000))")
        #expect(text.contains(#"collector="procfs-node""#))
        #expect(text.contains("\nprocess_resident_memory_bytes "), "the process's own metrics")
        let ready = try await HTTPClient.shared.get(url: "\(url)/readyz").get()
        #expect(ready.status == .ok)

        dev.signal(SIGINT)
        let status = try await withTimeout(.seconds(30), "dev to exit") { await dev.waitForExit() }
        #expect(status == 0, "exit status \(status); log:\n\(dev.log)")
        #expect(dev.log.contains("clustermon dev stopped"))
    }

    /// Kube-App's API and the allocation API of a real `dev` with simulated nodes: its
    /// credentials from the environment, `--cluster-name` and `--prices` from flags.
    @Test func accountingAPIsAnswerFromTheHistory() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-dev-accounting-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prices = directory + "/prices.json"
        try #"{"cpuCoreHour": 0.05, "ramGiBHour": 0.01, "gpuHour": 1, "networkGiB": 0.02, "currency": "CHF"}"#.write(toFile: prices, atomically: true, encoding: .utf8)
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", directory, "--simulate", "2", "--simulate-pods", "4",
                                         "--interval", "1s", "--refresh", "1s", "--cluster-name", "lab", "--prices", prices],
                                        environment: ["API_USERNAME": "billing", "API_PASSWORD": "s3cret", "JWT_SECRET": "dev-accounting-secret-of-32-bytes-plus"])
        let log = try await withTimeout(.seconds(30), "dev to listen") { await dev.waitForLog("http listening") }
        let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log))
        // Rows once a few snapshots are in (each poll is one request; bounded).
        var rows: [[String: Any]] = []
        for _ in 0..<60 where rows.count < 2 {
            var request = HTTPClientRequest(url: "\(url)/api/cpu/usage_rate")
            request.method = .POST
            request.headers.add(name: "X-USERNAME", value: "billing")
            request.headers.add(name: "X-PASSWORD", value: "s3cret")
            request.body = .bytes(ByteBuffer(string: #"{"namespace":"compute-u1-app"}"#))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            rows = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [[String: Any]] ?? []
            if rows.count < 2 { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(rows.count >= 2, "\(dev.log.suffix(2000))")
        #expect(rows.first?["cluster_name"] as? String == "lab" && rows.first?["namespace_name"] as? String == "compute-u1-app")
        var request = HTTPClientRequest(url: "\(url)/api/v2/allocation?window=1h&aggregate=namespace")
        request.headers.add(name: "X-USERNAME", value: "billing")
        request.headers.add(name: "X-PASSWORD", value: "s3cret")
        let allocation = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(allocation.status == .ok)
        let bytes = try await allocation.body.collect(upTo: 1 << 20)
        let document = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any]
        let namespace = (document?["data"] as? [[String: [String: Any]]])?.first?["compute-u1-app"]
        #expect((namespace?["cpuCoreNanoseconds"] as? Int ?? 0) > 0, "\(String(buffer: bytes).prefix(1000))")
        #expect(namespace?["totalCost"] is Double)
        let meta = document?["meta"] as? [String: Any]
        #expect((meta?["units"] as? [String: Any])?["currency"] as? String == "CHF")
        dev.signal(SIGTERM)
        #expect(try await withTimeout(.seconds(30), "dev to exit") { await dev.waitForExit() } == 0)
    }

    @Test func aBadPriceTableStopsTheStartWithTheReason() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-dev-prices-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", directory, "--prices", "/nonexistent/prices.json"])
        #expect(try await withTimeout(.seconds(30), "dev to exit") { await dev.waitForExit() } != 0)
        #expect(dev.log.contains("--prices"), "\(dev.log)")
    }

    @Test func agentOnceOutputsOneBatchAsJSON() async throws {
        let agent = try ClustermonProcess(["agent", "--node-name", "cli-node", "--no-kubelet", "--once", "--output", "json", "--fs-path", "root=/"])
        let status = try await withTimeout(.seconds(60), "agent --once") { await agent.waitForExit() }
        #expect(status == 0, "\(agent.log)")
        let output = await agent.waitForLog("}")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not JSON: \(output.prefix(500))")
        #expect(json["node_name"] as? String == "cli-node")
        #expect(json["sequence"] as? Int == 1)
        #expect(json["collected_at"] is String)
        let node = try #require(json["node"] as? [String: Any])
        #expect((node["cpu_count"] as? Int ?? 0) >= 1)
        #expect((node["filesystems"] as? [[String: Any]])?.first?["mount_point"] as? String == "/")
        let collectors = try #require(json["collectors"] as? [[String: Any]])
        #expect(collectors.compactMap { $0["name"] as? String }.contains("procfs-processes"))
    }

    @Test func agentOnceOutputsATableAndProtoJSON() async throws {
        let table = try ClustermonProcess(["agent", "--node-name", "cli-node", "--no-kubelet", "--once", "--output", "table", "--fs-path", "root=/"])
        #expect(try await withTimeout(.seconds(60), "agent --once") { await table.waitForExit() } == 0)
        let text = await table.waitForLog("COLLECTOR")
        #expect(text.contains("node cli-node") && text.contains("procfs-processes") && text.contains("PROTO"), "\(text.prefix(1000))")
        let proto = try ClustermonProcess(["agent", "--node-name", "cli-node", "--no-kubelet", "--once", "--output", "proto-json"])
        #expect(try await withTimeout(.seconds(60), "agent --once") { await proto.waitForExit() } == 0)
        let json = await proto.waitForLog("}")
        #expect(json.contains(#""sequence":"1""#), "\(json.prefix(300))")
    }

    @Test func agentWithoutNodeNameSaysWhatIsMissing() async throws {
        let agent = try ClustermonProcess(["agent", "--once"], environment: ["NODE_NAME": ""])
        let status = await agent.waitForExit()
        #expect(status != 0)
        #expect(agent.log.contains("--node-name"))
    }

    @Test func versionPrintsTheVersion() async throws {
        let version = try ClustermonProcess(["version"])
        #expect(await version.waitForExit() == 0)
        let log = await version.waitForLog("clustermon ")
        #expect(log.hasPrefix("clustermon 0."))
    }
}
