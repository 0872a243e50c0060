import Aggregator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Kubernetes
import Prometheus
import Testing
import TestSupport
import Wire
@testable import API

private let secret = "metrics-api-secret-of-32-bytes-xy"
private let verifier = JWTVerifier(secret: secret)

/// metrics.k8s.io in metrics-server's shapes, from two snapshots of one node.
@Suite("metrics.k8s.io")
struct MetricsAPITests {
    @Test func quantitiesAndWindowsAsKubernetesWritesThem() {
        #expect(Quantity.canonicalCPU(nanocores: 137_052_385) == "137052385n")
        #expect(Quantity.canonicalCPU(nanocores: 137_052_000) == "137052u")
        #expect(Quantity.canonicalCPU(nanocores: 250_000_000) == "250m")
        #expect(Quantity.canonicalCPU(nanocores: 2_000_000_000) == "2")
        #expect(Quantity.canonicalCPU(nanocores: 3_000_000_000_000) == "3k")
        #expect(Quantity.canonicalCPU(nanocores: 0) == "0")
        #expect(Quantity.canonicalBytes(1_460_756_480) == "1426520Ki")
        #expect(Quantity.canonicalBytes(2 << 30) == "2Gi")
        #expect(Quantity.canonicalBytes(1_460_756_481) == "1460756481")
        #expect(Quantity.canonicalBytes(1536) == "3Ki" || Quantity.canonicalBytes(1536) == "1536")
        #expect(Quantity.canonicalBytes(512) == "512" && Quantity.canonicalBytes(1000) == "1k" && Quantity.canonicalBytes(0) == "0")
        #expect(GoDurationText.goString(milliseconds: 10_062) == "10.062s")
        #expect(GoDurationText.goString(milliseconds: 10_000) == "10s")
        #expect(GoDurationText.goString(milliseconds: 60_500) == "1m0.5s")
        #expect(GoDurationText.goString(milliseconds: 7_200_000) == "2h0m0s")
        #expect(GoDurationText.goString(milliseconds: 500) == "500ms")
    }

    /// Two snapshots 10 s apart: node n1 busy one core of four, 8 GiB working set; pods
    /// web-0 (u1) with two containers and db-0 (u2).
    static func state() -> ClusterState {
        let state = ClusterState()
        func batch(_ t: Int64, _ step: UInt64) -> Agent_V1_Batch {
            var batch = snapshotBatch(time: t, pods: [
                PodSnapshot(namespace: "compute-u1-web", name: "web-0", uid: "w0", containers: [
                    ContainerSnapshot(name: "main", id: "c1", cpu: 5_000_000_000 + step * 1_370_523_850, memory: 1_460_756_480),
                    ContainerSnapshot(name: "sidecar", id: "c2", cpu: step * 2_500_000_000, memory: 2 << 30),
                ]),
                PodSnapshot(namespace: "compute-u2-web", name: "db-0", uid: "d0", containers: [ContainerSnapshot(id: "c3", cpu: step * 1_000_000_000, memory: 1 << 20)]),
            ])
            batch.intervalMs = 10_000
            batch.node.cpuBusyNanoseconds = step * 10_000_000_000
            batch.node.cpuTotalNanoseconds = step * 40_000_000_000
            batch.node.usage.memoryWorkingSetBytes = 8 << 30
            return batch
        }
        let now = Date().timeIntervalSince1970
        state.ingest(batch(1_796_000_000_000, 1), receivedAt: now - 10)
        state.ingest(batch(1_796_000_010_000, 2), receivedAt: now)
        return state
    }

    /// The samples read as just received, however long the test takes (a loaded CI machine
    /// once took 33 s, past the 30 s after which a node is stale and left out).
    static func configuration(_ state: ClusterState) -> APIConfiguration {
        var configuration = APIConfiguration(address: .init(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(), jwtSecret: secret)
        configuration.nodeSamples = {
            state.snapshot().map { sample in
                var sample = sample
                sample.receivedAt = max(sample.receivedAt, Date().timeIntervalSince1970 - 1)
                return sample
            }
        }
        return configuration
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: buffer))) as? [String: Any] ?? [:]
    }

    @Test func nodesAndPodsInMetricsServersShapes() async throws {
        let app = Application(router: buildRouter(Self.configuration(Self.state())))
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let u1 = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        try await app.test(.router) { client in
            func get(_ path: String, _ token: String?) async throws -> (HTTPResponse.Status, [String: Any]) {
                let headers: HTTPFields = token.map { [.authorization: "Bearer \($0)"] } ?? [:]
                return try await client.execute(uri: path, method: .get, headers: headers) { ($0.status, Self.json($0.body)) }
            }
            let (status, nodes) = try await get("/apis/metrics.k8s.io/v1beta1/nodes", admin)
            #expect(status == .ok)
            #expect(nodes["kind"] as? String == "NodeMetricsList" && nodes["apiVersion"] as? String == "metrics.k8s.io/v1beta1")
            let node = try #require((nodes["items"] as? [[String: Any]])?.first)
            #expect(node["kind"] == nil, "list items carry no kind, as metrics-server's")
            #expect((node["metadata"] as? [String: Any])?["name"] as? String == "n1")
            #expect(node["timestamp"] as? String == "2026-11-30T00:53:30Z")
            #expect(node["window"] as? String == "10s")
            #expect(node["usage"] as? [String: String] == ["cpu": "1", "memory": "8Gi"])
            let (_, one) = try await get("/apis/metrics.k8s.io/v1beta1/nodes/n1", admin)
            #expect(one["kind"] as? String == "NodeMetrics")
            let (missing, status404) = try await get("/apis/metrics.k8s.io/v1beta1/nodes/nope", admin)
            #expect(missing == .notFound)
            #expect(status404["kind"] as? String == "Status" && status404["reason"] as? String == "NotFound" && status404["code"] as? Int == 404)
            #expect(status404["message"] as? String == #"nodemetrics.metrics.k8s.io "nope" not found"#)

            // Pods: exact rates per container, the caller's namespaces only.
            let (_, all) = try await get("/apis/metrics.k8s.io/v1beta1/pods", admin)
            #expect((all["items"] as? [[String: Any]])?.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String } == ["web-0", "db-0"], "by namespace, then name")
            let (_, mine) = try await get("/apis/metrics.k8s.io/v1beta1/pods", u1)
            let pods = try #require(mine["items"] as? [[String: Any]])
            #expect(pods.count == 1)
            let web = try #require(pods.first)
            #expect((web["metadata"] as? [String: Any])?["namespace"] as? String == "compute-u1-web")
            let containers = try #require(web["containers"] as? [[String: Any]])
            #expect(containers.map { $0["name"] as? String } == ["main", "sidecar"])
            #expect(containers.map { $0["usage"] as? [String: String] } == [["cpu": "137052385n", "memory": "1426520Ki"], ["cpu": "250m", "memory": "2Gi"]])
            let (_, named) = try await get("/apis/metrics.k8s.io/v1beta1/namespaces/compute-u1-web/pods/web-0", u1)
            #expect(named["kind"] as? String == "PodMetrics")
            let (_, bySelector) = try await get("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name%3Ddb-0", admin)
            #expect((bySelector["items"] as? [[String: Any]])?.count == 1)
            let (_, none) = try await get("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=metadata.name!%3Ddb-0,metadata.name!%3Dweb-0", admin)
            #expect((none["items"] as? [[String: Any]])?.isEmpty == true)

            // Refusals, as Kubernetes Status objects.
            let cases: [(String, String?, HTTPResponse.Status, String)] = [
                ("/apis/metrics.k8s.io/v1beta1/nodes", nil, .unauthorized, "Unauthorized"),
                ("/apis/metrics.k8s.io/v1beta1/nodes", u1, .forbidden, "Forbidden"),
                ("/apis/metrics.k8s.io/v1beta1/namespaces/compute-u2-web/pods", u1, .forbidden, "Forbidden"),
                ("/apis/metrics.k8s.io/v1beta1/pods?fieldSelector=spec.nodeName%3Dn1", admin, .badRequest, "BadRequest"),
                ("/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.namespace%3Dx", admin, .badRequest, "BadRequest"),
                ("/apis/metrics.k8s.io/v1beta1/namespaces/Not_A_Namespace/pods", admin, .badRequest, "BadRequest"),
            ]
            for (path, token, expected, reason) in cases {
                let (status, body) = try await get(path, token)
                #expect(status == expected, "\(path)")
                #expect(body["kind"] as? String == "Status" && body["reason"] as? String == reason, "\(path): \(body)")
            }
            // Discovery.
            let (_, groups) = try await get("/apis", u1)
            #expect(groups["kind"] as? String == "APIGroupList")
            let (_, resources) = try await get("/apis/metrics.k8s.io/v1beta1", u1)
            #expect((resources["resources"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["NodeMetrics", "PodMetrics"])
        }
    }
}
