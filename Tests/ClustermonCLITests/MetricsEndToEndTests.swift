import API
import AsyncHTTPClient
import Foundation
import Logging
import Messaging
import NIOCore
import NIOHTTP1
import Testing
import TestSupport
import Wire

/// Publishes a node's batches over NATS once per `period` until cancelled, with growing
/// counters, the way `clustermon agent` does.
private func publishBatches(_ bus: NATSConnection, period: Duration) async {
    var sequence: UInt64 = 0
    // Collection times exactly half a second apart, as the agent's clock would say (they
    // keep pace with the wall clock: an agent clock far ahead is clamped by the aggregator).
    let start = Int64(Date().timeIntervalSince1970 * 1000)
    while !Task.isCancelled {
        sequence += 1
        let collected = start + Int64(sequence) * 500
        var batch = TestBatches.batch(
            node: "n1", sequence: sequence, collectedAt: collected / 1000, cpuBusyNanoseconds: sequence * 2_000_000_000, cpuTotalNanoseconds: sequence * 4_000_000_000,
            pods: [.init("compute-u1-web", "web-1", uid: "uid-web-1", cpuCoreNanoseconds: sequence * 250_000_000, memoryBytes: 64 << 20, diskBytes: 4096),
                   .init("kube-system", "dns", uid: "uid-dns", memoryBytes: 32 << 20)],
            intervalMs: 500)
        batch.collectedAt.nanos = Int32(collected % 1000) * 1_000_000
        // web-1 asks kube-dns (its ClusterIP) over UDP, 100 bytes out and 300 back per snapshot.
        batch.connections = [connection(.udp, from: "10.244.0.7", 38_811, to: "10.96.0.10", 53, .outgoing, pod: "uid-web-1",
                                        sent: sequence * 100, received: sequence * 300)]
        if let bytes: [UInt8] = try? batch.serializedBytes() { try? bus.publish(subject: "agent.v1.n1", payload: bytes) }
        try? await Task.sleep(for: period)
    }
}

private func get(_ url: String, token: String) async throws -> (HTTPResponseStatus, String) {
    var request = HTTPClientRequest(url: url)
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    return (response.status, String(buffer: try await response.body.collect(upTo: 8 << 20)))
}

/// Polls an endpoint until its body satisfies `condition` (the aggregator refreshes on its
/// own clock; there is no event to await from outside the process).
private func eventually(_ url: String, token: String, _ what: String, _ condition: @escaping @Sendable (String) -> Bool) async throws -> String {
    try await withTimeout(.seconds(60), what) {
        while true {
            if let (status, body) = try? await get(url, token: token), status == .ok, condition(body) { return body }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

private func jetStream(_ url: String) async throws -> [JetStreamReader.Message] {
    try await withTimeout(.seconds(30), "reading the CLUSTER stream") { try JetStreamReader.readAll(url: url, stream: "CLUSTER", subject: "cluster.>") }
}

@Suite("Cluster Monitor replacement end to end", .serialized)
struct MetricsEndToEndTests {
    @Test func batchesAndAPIServerToRESTStreamsEventsAndHistory() async throws {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-e2e-js-\(UUID().uuidString)")
        let nats = try await NATSServer.start(storeDirectory: store)
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        api.upsert(.namespaces, #"{"metadata":{"name":"kube-system"}}"#)
        api.upsert(.nodes, #"{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"4","memory":"16Gi"},"allocatable":{"cpu":"3900m","memory":"15Gi"},"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"DiskPressure","status":"True"},{"type":"Ready","status":"True"}]}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"compute-u1-web","uid":"uid-web-1","ownerReferences":[{"kind":"ReplicaSet","name":"web-abc","uid":"r1","controller":true}]},"spec":{"nodeName":"n1","containers":[{"name":"main"}],"initContainers":[{"name":"setup"}]},"status":{"phase":"Running","podIP":"10.244.0.7","initContainerStatuses":[{"name":"setup","restartCount":9,"lastState":{"terminated":{"reason":"OOMKilled"}}}],"containerStatuses":[{"name":"main","restartCount":3,"state":{"running":{}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137}}}]}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"dns","namespace":"kube-system","uid":"uid-dns"},"spec":{"nodeName":"n1","containers":[{"name":"coredns"}]},"status":{"phase":"Running","podIP":"10.244.0.2","containerStatuses":[{"name":"coredns","restartCount":0,"state":{"running":{}}}]}}"#)
        api.upsert(.services, #"{"metadata":{"name":"kube-dns","namespace":"kube-system"},"spec":{"clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ports":[{"name":"dns","port":53,"protocol":"UDP","targetPort":53}]}}"#)
        api.upsert(.endpointSlices, #"{"metadata":{"name":"kube-dns-x1","namespace":"kube-system","labels":{"kubernetes.io/service-name":"kube-dns"}},"addressType":"IPv4","ports":[{"name":"dns","port":53,"protocol":"UDP"}],"endpoints":[{"addresses":["10.244.0.2"],"targetRef":{"kind":"Pod","namespace":"kube-system","name":"dns","uid":"uid-dns"}}]}"#)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-e2e-token-\(UUID().uuidString)")
        try api.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-e2e-data-\(UUID().uuidString)").path
        let secret = "end-to-end-secret-of-32-bytes-or-more"
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(900))
        let user = try JWTVerifier(secret: secret).sign(userID: "u1", isAdmin: false, ttl: .seconds(900))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            func start() async throws -> (ClustermonProcess, String) {
                let process = try ClustermonProcess(
                    ["aggregator", "-addr", "127.0.0.1:0", "-api-server", endpoint.baseURL, "--api-token-file", tokenFile.path,
                     "--api-ca", try TestCertificates.get().caCertificate, "-nats", nats.url, "-refresh", "1s", "--data-dir", dataDir,
                     "--nats-reconnect-wait", "200ms"],
                    environment: ["JWT_SECRET": secret])
                let listening = try await withTimeout(.seconds(60), "listening") { await process.waitForLog("http listening") }
                let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening))
                return (process, url)
            }
            let (aggregator, url) = try await start()
            let agentBus = try await NATSConnection.connect(NATSConfiguration(servers: [nats.url], name: "test-agent", reconnectWait: .milliseconds(200)), logger: Logger(label: "test-agent"))
            let agent = Task { await publishBatches(agentBus, period: .milliseconds(500)) }
            defer { agent.cancel(); agentBus.close() }

            // REST: the agent's numbers joined with the API server's.
            let info = try await eventually("\(url)/cluster-info", token: admin, "n1 with a CPU rate") { $0.contains(#""cpu_usage":"2""#) }
            // web-1's ReplicaSet comes after the pod (informers list in any order): the pod's
            // workload, here and in the graph, is then its Deployment.
            api.upsert(.replicaSets, #"{"metadata":{"name":"web-abc","namespace":"compute-u1-web","ownerReferences":[{"kind":"Deployment","name":"web","uid":"d1","controller":true}]}}"#)
            let node = try #require(((try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])?["nodes"] as? [[String: Any]])?.first)
            #expect(node["name"] as? String == "n1")
            #expect(node["cpu_capacity"] as? String == "4")
            #expect(node["cpu_percent"] as? Double == 50)
            #expect(node["memory_capacity"] as? String == "16Gi")
            #expect(node["memory_usage"] as? String == "4Gi")
            #expect(node["memory_percent"] as? Double == 25)
            #expect(node["disk_percent"] as? Double == 25)
            let conditions = try #require(node["conditions"] as? [[String: String]])
            #expect(conditions == [["type": "MemoryPressure", "status": "False"], ["type": "DiskPressure", "status": "True"]])

            let mine = try await eventually("\(url)/pod-metrics", token: user, "u1's pod with a CPU rate and its Deployment") {
                $0.contains(#""cpu_usage":500000000"#) && $0.contains(#""kind":"Deployment""#)
            }
            let pods = try #require((try JSONSerialization.jsonObject(with: Data(mine.utf8)) as? [String: Any])?["pods"] as? [[String: Any]])
            #expect(pods.map { $0["name"] as? String } == ["web-1"])
            #expect(pods.first?["cpu_capacity"] as? Int == 4_000_000_000)
            #expect(pods.first?["memory_usage"] as? Int == 64 << 20)
            #expect(pods.first?["memory_capacity"] as? Int == 16 << 30)
            #expect((pods.first?["workload"] as? [String: String]) == ["kind": "Deployment", "name": "web"])

            // The dependency graph: web's DNS traffic to the kube-dns Service; u1 sees the
            // system namespace only as "other".
            let edge = "workload:compute-u1-web/Deployment/web->service:kube-system/kube-dns:udp/53"
            // 100 bytes out and 300 back per snapshot, two snapshots a second: about 800
            // bytes/s, once the edge's traffic fills most of the time since the first
            // snapshot. That edge's own figures: under load the first snapshots may come
            // before the Services are listed, and go to an edge to the external address
            // (a baseline, no bytes) that stays in the window beside it.
            @Sendable func perSecond(_ edge: [String: Any]) -> Double {
                ((edge["bytes_sent_per_second"] as? NSNumber)?.doubleValue ?? 0) + ((edge["bytes_received_per_second"] as? NSNumber)?.doubleValue ?? 0)
            }
            let graph = try await eventually("\(url)/api/graph/dependencies", token: admin, "the DNS edge at about 800 bytes/s") { body in
                let edges = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["edges"] as? [[String: Any]]
                return edges?.first { $0["id"] as? String == edge }.map { perSecond($0) > 200 } ?? false
            }
            let graphEdges = try #require((try JSONSerialization.jsonObject(with: Data(graph.utf8)) as? [String: Any])?["edges"] as? [[String: Any]])
            let dnsEdge = try #require(graphEdges.first { $0["id"] as? String == edge })
            #expect(dnsEdge["type"] as? String == "udp")
            #expect(perSecond(dnsEdge) < 2000, "\(dnsEdge)")
            let (graphStatus, userGraph) = try await get("\(url)/api/graph/dependencies", token: user)
            #expect(graphStatus == .ok)
            #expect(userGraph.contains(#""id":"workload:compute-u1-web/Deployment/web->other:udp/53""#), "\(userGraph)")
            #expect(!userGraph.contains("kube-dns") && !userGraph.contains("kube-system"))

            // SSE over a real socket.
            var sse = HTTPClientRequest(url: "\(url)/sse/health?token=\(admin)")
            sse.method = .GET
            let stream = try await HTTPClient.shared.execute(sse, timeout: .seconds(30))
            let frames = try await withTimeout(.seconds(30), "two SSE refreshes") {
                var text = ""
                for try await chunk in stream.body {
                    text += String(buffer: chunk)
                    if text.components(separatedBy: #"data: {"type":"cluster""#).count > 2 { break }
                }
                return text
            }
            #expect(frames.contains(#"data: {"type":"pods","payload":{"timestamp":"#))

            // JetStream: an alerting consumer decodes both events.
            let events = try await jetStream(nats.url)
            let metrics = try events.filter { $0.subject == "cluster.metrics" }.map { try Cluster_ClusterMetrics(serializedBytes: $0.payload) }
            let podEvents = try events.filter { $0.subject == "cluster.pods" }.map { try Cluster_PodStatusSnapshot(serializedBytes: $0.payload) }
            let lastMetrics = try #require(metrics.last { $0.nodes.first?.cpuPercent == 50 })
            #expect(lastMetrics.metadata.source == "cluster-monitor")
            #expect(lastMetrics.nodes.first?.conditions.map(\.status) == ["False", "True"])
            let lastPods = try #require(podEvents.last)
            #expect(lastPods.pods.count == 2, "one status per container, init containers excluded")
            let web = try #require(lastPods.pods.first { $0.name == "web-1" })
            #expect(web.namespace == "compute-u1-web" && web.restartCount == 3 && web.oomKilled)
            #expect(lastPods.pods.first { $0.name == "dns" }?.oomKilled == false)

            // NATS restarts: ingest and publishing resume.
            let countBefore = metrics.count
            nats.stop()
            let natsAgain = try await nats.restarted()
            defer { natsAgain.stop() }
            let natsURL = natsAgain.url
            _ = try await withTimeout(.seconds(60), "events after the NATS restart") {
                while true {
                    let after = try JetStreamReader.readAll(url: natsURL, stream: "CLUSTER", subject: "cluster.metrics", idleMilliseconds: 300)
                    if after.count >= countBefore + 3 { return after.count }
                    try await Task.sleep(for: .milliseconds(300))
                }
            }

            // An aggregator restart: the history survives; no tick is published twice.
            let restartedAt = Int64(Date().timeIntervalSince1970)
            aggregator.signal(SIGTERM)
            let status = try await withTimeout(.seconds(30), "exit") { await aggregator.waitForExit() }
            #expect(status == 0, "\(aggregator.log)")
            #expect(!aggregator.log.contains(secret))
            let (again, url2) = try await start()
            let history = try await eventually("\(url2)/api/metrics/nodes/n1?resolution=raw", token: admin, "history after restart") { $0.contains(#""n1":["#) }
            let points = try #require(((try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [String: Any])?["series"] as? [String: [[String: Any]]])?["n1"])
            let times = points.compactMap { ($0["t"] as? String).flatMap(UnixTime.init(rfc3339:))?.seconds }
            #expect(times.contains { $0 < restartedAt }, "points from before the restart: \(times)")
            _ = try await eventually("\(url2)/cluster-info", token: admin, "live again") { $0.contains(#""cpu_usage":"2""#) }
            let all = try await jetStream(natsURL).filter { $0.subject == "cluster.metrics" }
            let ids = try all.map { try Cluster_ClusterMetrics(serializedBytes: $0.payload).metadata.eventID }
            #expect(Set(ids).count == ids.count, "duplicate events in the stream")
            again.signal(SIGTERM)
            _ = try await withTimeout(.seconds(30), "exit") { await again.waitForExit() }
        }
        try? FileManager.default.removeItem(atPath: dataDir)
    }
}

import Kubernetes
