import Aggregator
import Foundation
import Logging
import Testing
import TestSupport
@testable import Kubernetes

@Suite("The aggregator's view of the cluster", .serialized)
struct ClusterInformersTests {
    @Test func everyKindSyncsAndIsReadableThroughTheView() async throws {
        let server = FakeAPIServer()
        server.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        server.upsert(.namespaces, #"{"metadata":{"name":"team-b","labels":{"clustermon.io/owner":"u2"}}}"#)
        server.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"compute-u1-web","labels":{"app":"web"}},"spec":{"nodeName":"n1"}}"#)
        server.upsert(.deployments, #"{"metadata":{"name":"web","namespace":"compute-u1-web"},"spec":{"replicas":3},"status":{"readyReplicas":2,"conditions":[{"type":"Available","status":"True"}]}}"#)
        server.upsert(.endpointSlices, #"{"metadata":{"name":"web-abc","namespace":"compute-u1-web","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.7"],"conditions":{"ready":true},"targetRef":{"kind":"Pod","namespace":"compute-u1-web","name":"web-1"}}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}"#)
        server.upsert(.ingresses, #"{"metadata":{"name":"web","namespace":"compute-u1-web"},"spec":{"ingressClassName":"nginx","rules":[{"host":"web.example","http":{"paths":[{"path":"/","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}"#)

        try await withLocalServer(server.router(), tls: true) { endpoint in
            let client = try APIClient(config: APIServerConfig(server: endpoint.baseURL, token: .value(server.token),
                                                               tls: ClientTLS(caFile: try TestCertificates.get().caCertificate)))
            let cluster = ClusterInformers(client: client, logger: Logger(label: "test.cluster"))
            do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await cluster.run() }
                let synced = [cluster.pods.synced, cluster.nodes.synced, cluster.services.synced, cluster.endpointSlices.synced,
                              cluster.deployments.synced, cluster.replicaSets.synced, cluster.namespaces.synced,
                              cluster.persistentVolumeClaims.synced, cluster.ingresses.synced]
                try await withTimeout(.seconds(20), "every kind synced") {
                    for flag in synced { await flag.wait { $0 } }
                }
                #expect(cluster.isSynced)
                #expect(cluster.unsynced.isEmpty)
                let pods = try #require(cluster.resources(.pods))
                #expect(pods.map(\.name) == ["web-1"])
                #expect(pods.first?.nodeName == "n1")
                #expect(pods.first?.labels == ["app": "web"])
                #expect(cluster.resources(.nodes)?.isEmpty == true)
                #expect(cluster.namespaceLabels("team-b") == ["clustermon.io/owner": "u2"])
                #expect(cluster.namespaceLabels("nowhere") == nil)
                #expect(cluster.namespaceOwners(label: "clustermon.io/owner") == ["u1", "u2"])
                let deployment = try #require(cluster.deployment(namespace: "compute-u1-web", name: "web"))
                #expect(deployment.status.desired == 3 && deployment.status.ready == 2)
                let slice = try #require(cluster.endpointSlices.get(namespace: "compute-u1-web", name: "web-abc")?.object)
                #expect(slice.serviceName == "web")
                #expect(slice.endpoints.first?.targetRef?.name == "web-1")
                let ingress = try #require(cluster.ingresses.get(namespace: "compute-u1-web", name: "web")?.object)
                #expect(ingress.backends.first?.serviceName == "web" && ingress.backends.first?.servicePort == .int(80))
                // Every kind keeps a watch open at once (nine long requests to one server):
                // a change to each must arrive.
                server.upsert(.nodes, #"{"metadata":{"name":"n2"}}"#)
                server.upsert(.services, #"{"metadata":{"name":"s2","namespace":"team-b"},"spec":{"clusterIP":"10.96.0.20"}}"#)
                server.upsert(.replicaSets, #"{"metadata":{"name":"rs2","namespace":"team-b"}}"#)
                server.upsert(.persistentVolumeClaims, #"{"metadata":{"name":"pvc2","namespace":"team-b"}}"#)
                server.upsert(.pods, #"{"metadata":{"name":"p2","namespace":"team-b"},"spec":{"nodeName":"n2"}}"#)
                server.upsert(.deployments, #"{"metadata":{"name":"d2","namespace":"team-b"}}"#)
                server.upsert(.namespaces, #"{"metadata":{"name":"ns2"}}"#)
                server.upsert(.endpointSlices, #"{"metadata":{"name":"e2","namespace":"team-b"},"addressType":"IPv4"}"#)
                server.upsert(.ingresses, #"{"metadata":{"name":"i2","namespace":"team-b"}}"#)
                try await withTimeout(.seconds(20), "a watched change of every kind") {
                    await cluster.nodes.revision.wait { _ in cluster.nodes.count == 1 }
                    await cluster.services.revision.wait { _ in cluster.services.count == 1 }
                    await cluster.replicaSets.revision.wait { _ in cluster.replicaSets.count == 1 }
                    await cluster.persistentVolumeClaims.revision.wait { _ in cluster.persistentVolumeClaims.count == 1 }
                    await cluster.pods.revision.wait { _ in cluster.pods.count == 2 }
                    await cluster.deployments.revision.wait { _ in cluster.deployments.count == 2 }
                    await cluster.namespaces.revision.wait { _ in cluster.namespaces.count == 3 }
                    await cluster.endpointSlices.revision.wait { _ in cluster.endpointSlices.count == 2 }
                    await cluster.ingresses.revision.wait { _ in cluster.ingresses.count == 2 }
                }
                #expect(server.requests.filter { $0.hasPrefix("LIST") }.count == 9, "changes came by watch, not by re-list")
                group.cancelAll()
                server.dropWatches()
            }
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}
