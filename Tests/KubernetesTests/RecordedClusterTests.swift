import Foundation
import Testing
import TestSupport
@testable import Kubernetes

/// The fake API server serving a recorded cluster (`kubectl get -o yaml` lists from the
/// shared fixtures), read by real informers.
@Suite("Informers on a recorded cluster", .serialized)
struct RecordedClusterTests {
    static func items(_ fixture: String) throws -> [String] { try Fixtures.listItems("k8s-api/\(fixture)") }

    @Test func nodesWithCapacityAndConditions() async throws {
        let server = FakeAPIServer()
        for item in try Self.items("nri_k8s-1.34_nodes.kubectl-list.yaml") { server.upsert(.nodes, item) }
        try await withInformer(server, of: Node.self) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            let node = try #require(informer.get(namespace: "", name: "datagen-1-34")?.object)
            #expect(node.capacity["cpu"]?.milliValue == 10_000)
            #expect(node.capacity["memory"]?.milliValue == Int64(16_356_452) * 1024 * 1000)
            #expect(node.allocatable["pods"]?.value == 110)
            #expect(node.conditions.map { "\($0.type)=\($0.status)" } == ["MemoryPressure=False", "DiskPressure=False", "PIDPressure=False", "Ready=True"])
            #expect(node.addresses.first { $0.type == "InternalIP" }?.address == "192.168.58.2")
            #expect(node.podCIDRs == ["10.244.0.0/24"])
        }
    }

    @Test func servicesWithClusterIPsAndPorts() async throws {
        let server = FakeAPIServer()
        for item in try Self.items("nri_k8s-1.34_services.kubectl-list.yaml") { server.upsert(.services, item) }
        try await withInformer(server, of: KubernetesService.self) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            #expect(informer.count == 7)
            let dns = try #require(informer.get(namespace: "kube-system", name: "kube-dns")?.object)
            #expect(dns.clusterIPs == ["10.96.0.10"])
            #expect(dns.ports.map(\.port) == [53, 53, 9153])
            #expect(dns.ports.map(\.protocol) == ["UDP", "TCP", "TCP"])
            #expect(dns.ports.first?.targetPort == .int(53))
            #expect(dns.selector["k8s-app"] == "kube-dns")
        }
    }
}
