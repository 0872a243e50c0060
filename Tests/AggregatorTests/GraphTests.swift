import Foundation
import Kubernetes
import Synchronization
import Testing
import TestSupport
import Wire
@testable import Aggregator

/// The API server's objects the graph resolves against, set by the test.
final class GraphCluster: ClusterView, @unchecked Sendable {
    var pods: [Pod] = []
    var services: [KubernetesService] = []
    var slices: [EndpointSlice] = []
    var nodes: [Node] = []
    var replicaSets: [ReplicaSet] = []

    func resources(_ kind: ResourceKind) -> [CachedResource]? { nil }
    func namespaceLabels(_ name: String) -> [String: String]? { nil }
    func namespaceOwners(label: String) -> Set<String> { [] }
    func deployment(namespace: String, name: String) -> Deployment? { nil }
    var isSynced: Bool { true }
    func allPods() -> [Pod]? { pods }
    func allNodes() -> [Node]? { nodes }
    func node(named name: String) -> Node? { nodes.last { $0.metadata.name == name } }
    func allServices() -> [KubernetesService]? { services }
    func allEndpointSlices() -> [EndpointSlice]? { slices }
    func pod(namespace: String, name: String) -> Pod? { pods.last { $0.namespace == namespace && $0.name == name } }
    func replicaSet(namespace: String, name: String) -> ReplicaSet? {
        replicaSets.last { $0.metadata.namespace == namespace && $0.metadata.name == name }
    }
    func endpointSlice(namespace: String, name: String) -> EndpointSlice? {
        slices.last { $0.metadata.namespace == namespace && $0.metadata.name == name }
    }

    /// Counts changes as the informers do (pods, slices and ReplicaSets with the keys that changed), by
    /// comparing the lists with what the previous call saw; false: no change log (readers
    /// read the whole lists every time).
    var tracksChanges = true
    private struct ChangeLog {
        var count = 0
        var keys: [(number: Int, key: ObjectKey)] = []
        var seen: [ObjectKey: String] = [:]
    }
    private var logs: [String: ChangeLog] = [:]

    private func logged(_ kind: ResourceKind) -> ChangeLog {
        func described<T>(_ list: [T], _ meta: (T) -> ObjectMeta) -> [ObjectKey: String] {
            Dictionary(list.map { (ObjectKey(meta($0)), "\($0)") }, uniquingKeysWith: { $1 })
        }
        let current = switch kind {
        case .pods: described(pods, \.metadata)
        case .endpointSlices: described(slices, \.metadata)
        case .services: described(services, \.metadata)
        case .replicaSets: described(replicaSets, \.metadata)
        default: described(nodes, \.metadata)
        }
        var log = logs[kind.plural] ?? ChangeLog()
        for key in Set(log.seen.keys).union(current.keys) where log.seen[key] != current[key] {
            log.count += 1
            log.keys.append((log.count, key))
        }
        log.seen = current
        logs[kind.plural] = log
        return log
    }

    func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])? {
        guard tracksChanges, kind == .pods || kind == .endpointSlices || kind == .replicaSets else { return nil }
        let log = logged(kind)
        guard revision <= log.count else { return nil }
        return (log.count, log.keys.filter { $0.number > revision }.map(\.key))
    }

    func changeCount(_ kind: ResourceKind) -> Int? { tracksChanges ? logged(kind).count : nil }

    /// The recorded single-node cluster of the shared fixtures (minikube 1.34: nodes,
    /// services, the kubelet's pod list) with EndpointSlices as the mirroring controller
    /// derives them from the recorded Endpoints.
    static func recorded() throws -> GraphCluster {
        let cluster = GraphCluster()
        cluster.nodes = try Fixtures.listItems("k8s-api/nri_k8s-1.34_nodes.kubectl-list.yaml").map { item in
            try JSONScanner.decode(Array(item.utf8)) { try Node.decode(&$0) }
        }
        cluster.services = try Fixtures.listItems("k8s-api/nri_k8s-1.34_services.kubectl-list.yaml").map { item in
            try JSONScanner.decode(Array(item.utf8)) { try KubernetesService.decode(&$0) }
        }
        cluster.pods = try Pod.decodeList(Fixtures.bytes("kubelet-pods/nri_k8s-1.34_containerd_pods.json")).items
        for item in try Fixtures.listItems("k8s-api/nri_k8s-1.34_endpoints.kubectl-list.yaml") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(item.utf8)) as? [String: Any])
            let meta = try #require(object["metadata"] as? [String: Any])
            let namespace = try #require(meta["namespace"] as? String), name = try #require(meta["name"] as? String)
            for subset in object["subsets"] as? [[String: Any]] ?? [] {
                var slice = EndpointSlice()
                slice.metadata.namespace = namespace
                slice.metadata.name = "\(name)-mirror"
                slice.metadata.labels = ["kubernetes.io/service-name": name]
                slice.addressType = "IPv4"
                slice.ports = (subset["ports"] as? [[String: Any]] ?? []).map { port in
                    var p = EndpointPort()
                    p.port = port["port"] as? Int ?? 0
                    p.protocol = port["protocol"] as? String ?? "TCP"
                    return p
                }
                slice.endpoints = (subset["addresses"] as? [[String: Any]] ?? []).map { address in
                    var endpoint = Endpoint()
                    endpoint.addresses = [address["ip"] as? String ?? ""]
                    if let ref = address["targetRef"] as? [String: Any], let podName = ref["name"] as? String {
                        endpoint.targetRef = EndpointReference(kind: "Pod", namespace: namespace, name: podName,
                                                               uid: cluster.pods.first { $0.name == podName }?.uid ?? "")
                    }
                    return endpoint
                }
                cluster.slices.append(slice)
            }
        }
        return cluster
    }

    func pod(_ name: String) -> Pod { pods.first { $0.name == name }! }
    func service(_ namespace: String, _ name: String) -> KubernetesService { services.first { $0.metadata.namespace == namespace && $0.metadata.name == name }! }

    /// A second node and a Deployment's pod on it, test-made.
    func addWorker(name: String = "worker-2", address: String = "192.168.58.3") {
        var node = Node()
        node.metadata.name = name
        node.addresses = [NodeAddress(type: "InternalIP", address: address)]
        nodes.append(node)
    }

    @discardableResult
    func addPod(_ namespace: String, _ name: String, ips: [String], node: String = "worker-2", deployment: String? = nil,
                ports: [Int] = [], hostNetwork: Bool = false) -> Pod {
        var pod = Pod()
        pod.metadata.namespace = namespace
        pod.metadata.name = name
        pod.metadata.uid = "uid-\(namespace)-\(name)"
        if let deployment {
            pod.metadata.ownerReferences = [OwnerReference(kind: "ReplicaSet", name: "\(deployment)-7d4f9c8b6", controller: true)]
            pod.metadata.labels = ["pod-template-hash": "7d4f9c8b6"]
        }
        pod.nodeName = node
        pod.hostNetwork = hostNetwork
        pod.phase = "Running"
        pod.podIP = ips[0]
        pod.podIPs = ips
        var container = ContainerSpec()
        container.ports = ports.map { ContainerPort(containerPort: $0) }
        pod.containers = [container]
        pods.append(pod)
        return pod
    }

    func addService(_ namespace: String, _ name: String, clusterIPs: [String], port: Int, protocol transport: String = "TCP",
                    backends: [Pod], targetPort: Int) {
        var service = KubernetesService()
        service.metadata.namespace = namespace
        service.metadata.name = name
        service.clusterIP = clusterIPs.first ?? "None"
        service.clusterIPs = clusterIPs
        var servicePort = ServicePort()
        servicePort.port = port
        servicePort.protocol = transport
        service.ports = [servicePort]
        services.append(service)
        var slice = EndpointSlice()
        slice.metadata.namespace = namespace
        slice.metadata.name = "\(name)-abcde"
        slice.metadata.labels = ["kubernetes.io/service-name": name]
        var endpointPort = EndpointPort()
        endpointPort.port = targetPort
        endpointPort.protocol = transport
        slice.ports = [endpointPort]
        slice.endpoints = backends.map { pod in
            var endpoint = Endpoint()
            endpoint.addresses = [pod.podIP]
            endpoint.targetRef = EndpointReference(kind: "Pod", namespace: pod.namespace, name: pod.name, uid: pod.uid)
            return endpoint
        }
        slices.append(slice)
    }
}

extension ContainerPort {
    init(containerPort: Int, protocol transport: String = "TCP") {
        self.init()
        self.containerPort = containerPort
        self.protocol = transport
    }
}

extension EndpointReference {
    init(kind: String, namespace: String, name: String, uid: String) {
        self.init()
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.uid = uid
    }
}

extension NodeAddress {
    init(type: String, address: String) {
        self.init()
        self.type = type
        self.address = address
    }
}

/// A graph fed by test-made batches on a test clock.
final class GraphScenario: @unchecked Sendable {
    let cluster: GraphCluster?
    let graph: ConnectionGraph
    var time: Double = 1_800_000_000
    private var sequences: [String: UInt64] = [:]
    private var version = 0

    init(cluster: GraphCluster?, configuration: GraphConfiguration = .init(), dns: ReverseDNS? = nil) {
        self.cluster = cluster
        graph = ConnectionGraph(configuration: configuration, dns: dns)
    }

    @discardableResult
    func refresh() -> GraphView {
        version += 1
        return graph.refresh(now: time, version: version, cluster: cluster).view
    }

    func report(_ node: String, _ connections: [Agent_V1_Connection], pods: [Agent_V1_Pod] = [], instance: String = "agent-1") {
        let sequence = (sequences[node] ?? 0) + 1
        sequences[node] = sequence
        let batch = Agent_V1_Batch.with { b in
            b.nodeName = node
            b.agentInstance = instance
            b.sequence = sequence
            b.collectedAt = .with { $0.seconds = Int64(time) }
            b.intervalMs = 10_000
            b.partCount = 1
            b.pods = pods
            b.connections = connections
        }
        graph.ingest(batch, receivedAt: time)
    }

    /// Two snapshots ten seconds apart (the first sets the baseline) and a refresh.
    @discardableResult
    func twoSnapshots(_ first: [(node: String, connections: [Agent_V1_Connection])],
                      _ second: [(node: String, connections: [Agent_V1_Connection])]) -> GraphView {
        refresh()
        for (node, connections) in first { report(node, connections) }
        refresh()
        time += 10
        for (node, connections) in second { report(node, connections) }
        time += 1
        return refresh()
    }
}

/// The rendered graph, parsed: nodes and edges by id.
struct RenderedGraph {
    var nodes: [String: [String: Any]] = [:]
    var edges: [String: [String: Any]] = [:]
    var text = ""

    init(_ view: GraphView, _ query: GraphQuery = GraphQuery(), visible: ((String) -> Bool)? = nil) throws {
        let bytes = try view.render(query, visible: visible)
        text = String(decoding: bytes, as: UTF8.self)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        for node in object["nodes"] as? [[String: Any]] ?? [] { nodes[node["id"] as? String ?? ""] = node }
        for edge in object["edges"] as? [[String: Any]] ?? [] { edges[edge["id"] as? String ?? ""] = edge }
    }

    func number(_ edge: String, _ field: String) -> Double? { (edges[edge]?[field] as? NSNumber)?.doubleValue }
}

@Suite("Dependency graph")
struct GraphTests {
    static let web = "workload:shop/Deployment/web"

    /// A node's connection table (sorted arrays, binary search) finds what a dictionary
    /// would: every key's last report, nothing for a key not reported; keys that differ in
    /// one field only (IPv4 and IPv6, ports, namespaces, transport) are told apart.
    @Test func aConnectionTableFindsWhatADictionaryWould() {
        var generator = SystemRandomNumberGenerator()
        let addresses = ["10.0.0.1", "10.0.0.2", "::1", "fd00::1", "10.0.0.1"].compactMap { NetworkAddress($0) }
        func randomKey() -> ConnectionGraph.ConnectionKey {
            ConnectionGraph.ConnectionKey(local: addresses.randomElement(using: &generator)!, remote: addresses.randomElement(using: &generator)!,
                                          netns: UInt64.random(in: 0...2, using: &generator), localPort: UInt16.random(in: 80...82, using: &generator),
                                          remotePort: UInt16.random(in: 80...82, using: &generator), transport: UInt8.random(in: 1...2, using: &generator))
        }
        for size in [0, 1, 7, 500] {
            var entries: [(key: ConnectionGraph.ConnectionKey, value: ConnectionGraph.Cumulative)] = []
            var expected: [ConnectionGraph.ConnectionKey: UInt64] = [:]
            for index in 0..<size {
                let key = randomKey()
                entries.append((key, ConnectionGraph.Cumulative(sent: UInt64(index), received: 0, retransmits: 0)))
                expected[key] = UInt64(index)
            }
            let table = ConnectionGraph.ConnectionTable(entries)
            #expect(table.count == expected.count)
            #expect(zip(table.keys, table.keys.dropFirst()).allSatisfy { $0 < $1 }, "sorted, each key once")
            for _ in 0..<2_000 {
                let key = randomKey()
                #expect(table[key]?.sent == expected[key])
            }
        }
    }

    /// A client on worker-2 dials e2e-hpa's ClusterIP; the backend's node reports the
    /// same connection from its end: one edge to the Service, counted once, with the real
    /// backend pod named.
    @Test func clusterIPToServiceToBackendCountedOnce() throws {
        let cluster = try GraphCluster.recorded()
        cluster.addWorker()
        let client = cluster.addPod("shop", "web-7d4f9c8b6-x2x9k", ips: ["10.244.1.5"], deployment: "web")
        let hpa = cluster.service("scraper", "e2e-hpa")
        let clusterIP = hpa.clusterIPs[0], servicePort = UInt32(hpa.ports[0].port)
        let backend = cluster.pod("e2e-hpa-5b9fd8d67d-sjdmn")
        let scenario = GraphScenario(cluster: cluster)
        func clientSide(_ sent: UInt64, _ received: UInt64) -> Agent_V1_Connection {
            connection(from: "10.244.1.5", 41000, to: clusterIP, servicePort, .outgoing, pod: client.uid, sent: sent, received: received)
        }
        func serverSide(_ sent: UInt64, _ received: UInt64) -> Agent_V1_Connection {
            connection(from: backend.podIP, 80, to: "10.244.1.5", 41000, .incoming, pod: backend.uid, sent: sent, received: received)
        }
        let view = scenario.twoSnapshots(
            [("worker-2", [clientSide(1000, 5000)]), ("datagen-1-34", [serverSide(5000, 1000)])],
            [("worker-2", [clientSide(3000, 15000)]), ("datagen-1-34", [serverSide(15000, 3000)])])
        let graph = try RenderedGraph(view)
        let id = "\(Self.web)->service:scraper/e2e-hpa:tcp/\(servicePort)"
        #expect(Array(graph.edges.keys) == [id], "\(graph.text)")
        // Once: the client's 2,000 + 10,000 bytes, not twice that.
        #expect(graph.number(id, "bytes") == 12_000)
        #expect(abs((graph.number(id, "bytes_sent_per_second") ?? 0) - 2000.0 / 11) < 0.01)
        #expect(abs((graph.number(id, "bytes_received_per_second") ?? 0) - 10_000.0 / 11) < 0.01)
        #expect(graph.number(id, "active_connections") == 1)
        #expect(graph.edges[id]?["backends"] as? [String] == ["pod:scraper/e2e-hpa-5b9fd8d67d-sjdmn"])
        #expect(graph.nodes["service:scraper/e2e-hpa"]?["type"] as? String == "service")
        #expect(graph.nodes[Self.web]?["kind"] as? String == "Deployment")
    }

    /// Pod to pod without a ClusterIP, reported by both nodes: counted once, and the
    /// server is the Service whose EndpointSlices list that pod and port.
    @Test func directConnectionSeenFromBothEndsCountedOnce() throws {
        let cluster = try GraphCluster.recorded()
        cluster.addWorker()
        let client = cluster.addPod("shop", "web-7d4f9c8b6-x2x9k", ips: ["10.244.1.5"], deployment: "web")
        let ksm = cluster.pod("e2e-kube-state-metrics-64d545d47-nvr8f")
        let scenario = GraphScenario(cluster: cluster)
        let view = scenario.twoSnapshots(
            [("worker-2", [connection(from: "10.244.1.5", 50000, to: ksm.podIP, 8080, .outgoing, pod: client.uid, sent: 100, received: 100)]),
             ("datagen-1-34", [connection(from: ksm.podIP, 8080, to: "10.244.1.5", 50000, .incoming, pod: ksm.uid, sent: 100, received: 100)])],
            [("worker-2", [connection(from: "10.244.1.5", 50000, to: ksm.podIP, 8080, .outgoing, pod: client.uid, sent: 600, received: 10_100)]),
             ("datagen-1-34", [connection(from: ksm.podIP, 8080, to: "10.244.1.5", 50000, .incoming, pod: ksm.uid, sent: 10_100, received: 600)])])
        let graph = try RenderedGraph(view)
        let id = "\(Self.web)->service:scraper/e2e-kube-state-metrics:tcp/8080"
        #expect(Array(graph.edges.keys) == [id], "\(graph.text)")
        #expect(graph.number(id, "bytes") == 10_500)
        #expect(graph.edges[id]?["backends"] as? [String] == ["pod:scraper/e2e-kube-state-metrics-64d545d47-nvr8f"])
    }

    /// A server whose clients run no agent (an external client) is counted from its end.
    @Test func serverEndCountsWhenTheClientHasNoAgent() throws {
        let cluster = try GraphCluster.recorded()
        let hpa = cluster.pod("e2e-hpa-5b9fd8d67d-sjdmn")
        let scenario = GraphScenario(cluster: cluster)
        let view = scenario.twoSnapshots(
            [("datagen-1-34", [connection(from: hpa.podIP, 80, to: "198.51.100.20", 61000, .incoming, pod: hpa.uid, sent: 0, received: 0)])],
            [("datagen-1-34", [connection(from: hpa.podIP, 80, to: "198.51.100.20", 61000, .incoming, pod: hpa.uid, sent: 9000, received: 700)])])
        let graph = try RenderedGraph(view)
        let id = "external:198.51.100.20->service:scraper/e2e-hpa:tcp/80"
        #expect(graph.number(id, "bytes_sent_per_second").map { abs($0 - 700.0 / 11) < 0.01 } == true, "\(graph.text)")
        #expect(graph.number(id, "bytes_received_per_second").map { abs($0 - 9000.0 / 11) < 0.01 } == true)
    }

    /// A headless Service (no ClusterIP: clients dial pod addresses) and pods behind two
    /// Services: the port decides which Service a connection reached.
    @Test func headlessServiceAndPodBehindTwoServices() throws {
        let cluster = try GraphCluster.recorded()
        let sts0 = cluster.pod("e2e-statefulset-0"), sts1 = cluster.pod("e2e-statefulset-1")
        cluster.addService("scraper", "pi-peers", clusterIPs: [], port: 7000, backends: [sts0, sts1], targetPort: 7000)
        let statefulset = cluster.service("scraper", "e2e-statefulset")
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let scenario = GraphScenario(cluster: cluster)
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: ds.podIP, 40001, to: sts1.podIP, 7000, .outgoing, pod: ds.uid, sent: n, received: n),
            connection(from: ds.podIP, 40002, to: sts0.podIP, 8089, .outgoing, pod: ds.uid, sent: n, received: n),
            connection(from: ds.podIP, 40003, to: statefulset.clusterIPs[0], UInt32(statefulset.ports[0].port), .outgoing, pod: ds.uid, sent: n, received: n),
            // The StatefulSet's pods as clients: shown as their first Service by name.
            connection(from: sts0.podIP, 40004, to: cluster.pod("e2e-hpa-5b9fd8d67d-sjdmn").podIP, 80, .outgoing, pod: sts0.uid, sent: n, received: n),
        ] }
        let graph = try RenderedGraph(scenario.twoSnapshots([("datagen-1-34", conns(10))], [("datagen-1-34", conns(110))]))
        let client = "workload:scraper/DaemonSet/e2e-daemonset"
        #expect(graph.edges["\(client)->service:scraper/pi-peers:tcp/7000"] != nil, "\(graph.text)")
        #expect(graph.edges["\(client)->service:scraper/e2e-statefulset:tcp/8089"] != nil)
        #expect(graph.edges["\(client)->service:scraper/e2e-statefulset:tcp/\(statefulset.ports[0].port)"] != nil || statefulset.ports[0].port == 8089)
        #expect(graph.edges["service:scraper/e2e-statefulset->service:scraper/e2e-hpa:tcp/80"] != nil)
        #expect(graph.number("\(client)->service:scraper/pi-peers:tcp/7000", "bytes") == 200)
    }

    /// Host-network pods share their node's address: the port tells them apart; other
    /// ports of a node address are the node itself. A host-network pod as a client is its
    /// workload, not the node.
    @Test func hostNetworkPods() throws {
        let cluster = try GraphCluster.recorded()
        let metrics = cluster.pod("metrics-server-85b7d694d7-dqckt")
        let kindnet = cluster.pod("kindnet-zqk2n")
        let kubernetes = cluster.service("default", "kubernetes")
        let scenario = GraphScenario(cluster: cluster)
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: metrics.podIP, 40001, to: "192.168.58.2", 8443, .outgoing, pod: metrics.uid, sent: n, received: n),
            connection(from: metrics.podIP, 40002, to: "192.168.58.2", 10250, .outgoing, pod: metrics.uid, sent: n, received: n),
            connection(from: "192.168.58.2", 40003, to: kubernetes.clusterIPs[0], 443, .outgoing, pod: kindnet.uid, sent: n, received: n),
        ] }
        let graph = try RenderedGraph(scenario.twoSnapshots([("datagen-1-34", conns(1))], [("datagen-1-34", conns(2))]))
        let client = "service:kube-system/metrics-server"
        #expect(graph.edges["\(client)->pod:kube-system/kube-apiserver-datagen-1-34:tcp/8443"] != nil, "\(graph.text)")
        #expect(graph.edges["\(client)->node:datagen-1-34:tcp/10250"] != nil)
        #expect(graph.edges["workload:kube-system/DaemonSet/kindnet->service:default/kubernetes:tcp/443"] != nil)
        #expect(graph.nodes["node:datagen-1-34"]?["type"] as? String == "node")
    }

    /// A pod that restarted with a new address: its old address keeps resolving to it for
    /// the grace period (closing connections), the new one at once; then the old one is
    /// an external address like any other.
    @Test func podRestartedWithNewAddress() throws {
        let cluster = try GraphCluster.recorded()
        cluster.addWorker()
        cluster.addPod("shop", "web-7d4f9c8b6-aaaaa", ips: ["10.244.1.5"], deployment: "web", ports: [8080])
        var configuration = GraphConfiguration()
        configuration.addressGrace = .seconds(60)
        let scenario = GraphScenario(cluster: cluster, configuration: configuration)
        scenario.refresh()
        cluster.pods.removeAll { $0.name == "web-7d4f9c8b6-aaaaa" }
        cluster.addPod("shop", "web-7d4f9c8b6-bbbbb", ips: ["10.244.1.9"], deployment: "web", ports: [8080])
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: ds.podIP, 40001, to: "10.244.1.5", 8080, .outgoing, pod: ds.uid, sent: n, received: 0),
            connection(from: ds.podIP, 40002, to: "10.244.1.9", 8080, .outgoing, pod: ds.uid, sent: n, received: 0),
        ] }
        let graph = try RenderedGraph(scenario.twoSnapshots([("datagen-1-34", conns(0))], [("datagen-1-34", conns(50))]))
        let id = "workload:scraper/DaemonSet/e2e-daemonset->\(Self.web):tcp/8080"
        #expect(Array(graph.edges.keys) == [id], "\(graph.text)")
        #expect(graph.number(id, "bytes") == 100)
        #expect(graph.number(id, "active_connections") == 2)
        // After the grace period the old address is no longer the pod's.
        scenario.time += 120
        scenario.refresh()
        scenario.report("datagen-1-34", conns(60))
        scenario.time += 1
        let later = try RenderedGraph(scenario.refresh())
        let moved = "workload:scraper/DaemonSet/e2e-daemonset->external:10.244.1.5:tcp/8080"
        #expect(later.edges[moved] != nil, "\(later.text)")
        // The same connection on its new edge from this snapshot on: its 10 bytes there, as
        // many as the other connection's 10 on the old edge (not both on the old one).
        let movedBytes = try #require(later.number(moved, "bytes"))
        #expect(movedBytes > 0 && movedBytes == later.number(id, "bytes"))
        #expect(later.number(moved, "active_connections") == 1 && later.number(id, "active_connections") == 1)
    }

    /// Externals are grouped by address and named by reverse DNS, looked up off the ingest
    /// path.
    @Test func externalsWithReverseDNS() async throws {
        let cluster = try GraphCluster.recorded()
        let names: [NetworkAddress: String] = [NetworkAddress("203.0.113.7")!: "api.example.com"]
        let dns = ReverseDNS(lookup: { names[$0] })
        defer { dns.stop() }
        let scenario = GraphScenario(cluster: cluster, dns: dns)
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: ds.podIP, 40001, to: "203.0.113.7", 443, .outgoing, pod: ds.uid, sent: n, received: n),
            connection(from: ds.podIP, 40002, to: "203.0.113.7", 443, .outgoing, pod: ds.uid, sent: n, received: n),
            connection(from: ds.podIP, 40003, to: "203.0.113.8", 443, .outgoing, pod: ds.uid, sent: n, received: n),
        ] }
        scenario.twoSnapshots([("datagen-1-34", conns(0))], [("datagen-1-34", conns(10))])
        try await withTimeout(.seconds(10), "reverse DNS answered") {
            while dns.name(for: NetworkAddress("203.0.113.7")!) == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        let graph = try RenderedGraph(scenario.refresh())
        let id = "workload:scraper/DaemonSet/e2e-daemonset->external:203.0.113.7:tcp/443"
        #expect(graph.number(id, "active_connections") == 2, "\(graph.text)")
        #expect(graph.nodes["external:203.0.113.7"]?["label"] as? String == "api.example.com")
        #expect(graph.nodes["external:203.0.113.8"]?["label"] as? String == "203.0.113.8")
    }

    /// A resolver that hangs never holds up ingest or views; the queue is bounded and what
    /// does not fit is counted and asked again later.
    @Test func reverseDNSNeverBlocks() async throws {
        let release = Mutex(false)
        var configuration = ReverseDNS.Configuration()
        configuration.queueLimit = 8
        configuration.workers = 1
        let dns = ReverseDNS(configuration: configuration, lookup: { _ in
            while !release.withLock({ $0 }) { usleep(1000) }
            return "late.example"
        })
        defer { dns.stop() }
        for i in 0..<100 { #expect(dns.name(for: NetworkAddress("198.51.100.\(i)")!) == nil) }
        release.withLock { $0 = true }
        try await withTimeout(.seconds(10), "queued lookups answered") {
            while dns.name(for: NetworkAddress("198.51.100.1")!) == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        // A lookup slower than the time-out is cached as unresolved.
        var slowConfiguration = ReverseDNS.Configuration()
        slowConfiguration.timeout = .milliseconds(1)
        let slow = ReverseDNS(configuration: slowConfiguration, lookup: { _ in usleep(20_000); return "too.late" })
        defer { slow.stop() }
        let address = NetworkAddress("2001:db8::7")!
        #expect(slow.name(for: address) == nil)
        try await withTimeout(.seconds(10), "slow lookup finished") {
            while slow.pendingCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(slow.name(for: address) == nil)
    }

    /// UDP flows are edges: DNS to kube-dns through its ClusterIP, with no direction from
    /// the source (the lower, declared port is the server).
    @Test func udpDNSToKubeDNS() throws {
        let cluster = try GraphCluster.recorded()
        let dnsIP = cluster.service("kube-system", "kube-dns").clusterIPs[0]
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let scenario = GraphScenario(cluster: cluster)
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in
            [connection(.udp, from: ds.podIP, 38811, to: dnsIP, 53, .unspecified, pod: ds.uid, sent: 60 * n, received: 120 * n)]
        }
        let graph = try RenderedGraph(scenario.twoSnapshots([("datagen-1-34", conns(1))], [("datagen-1-34", conns(11))]))
        let id = "workload:scraper/DaemonSet/e2e-daemonset->service:kube-system/kube-dns:udp/53"
        #expect(graph.edges[id]?["type"] as? String == "udp", "\(graph.text)")
        #expect(graph.edges[id]?["label"] as? String == "UDP 53")
        #expect(graph.number(id, "bytes") == 1800)
    }

    /// IPv6 end to end: a dual-stack pod and Service; both ends report; counted once.
    @Test func ipv6() throws {
        let cluster = try GraphCluster.recorded()
        cluster.addWorker()
        let api = cluster.addPod("shop", "api-7d4f9c8b6-v6v6v", ips: ["10.244.1.20", "fd00:10:244:1::20"], deployment: "api", ports: [9000])
        let client = cluster.addPod("shop", "web-7d4f9c8b6-x2x9k", ips: ["10.244.0.30", "fd00:10:244::30"], node: "datagen-1-34", deployment: "web")
        cluster.addService("shop", "api", clusterIPs: ["10.96.50.5", "fd00:10:96::5"], port: 90, backends: [api], targetPort: 9000)
        let scenario = GraphScenario(cluster: cluster)
        let conns: (UInt64) -> [(node: String, connections: [Agent_V1_Connection])] = { n in [
            ("datagen-1-34", [connection(from: "fd00:10:244::30", 51000, to: "fd00:10:96::5", 90, .outgoing, pod: client.uid, sent: n, received: 2 * n, rtt: 800)]),
            ("worker-2", [connection(from: "fd00:10:244:1::20", 9000, to: "fd00:10:244::30", 51000, .incoming, pod: api.uid, sent: 2 * n, received: n)]),
        ] }
        let graph = try RenderedGraph(scenario.twoSnapshots(conns(100), conns(1100)))
        let id = "\(Self.web)->service:shop/api:tcp/90"
        #expect(Array(graph.edges.keys) == [id], "\(graph.text)")
        #expect(graph.number(id, "bytes") == 3000)
        #expect(graph.number(id, "rtt_ms") == 0.8)
        #expect(graph.edges[id]?["backends"] as? [String] == ["pod:shop/api-7d4f9c8b6-v6v6v"])
    }

    /// Loopback and a pod talking to itself are not edges; a bad address is counted, not
    /// fatal.
    @Test func loopbackSamePodAndMalformed() throws {
        let cluster = try GraphCluster.recorded()
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let scenario = GraphScenario(cluster: cluster)
        var bad = connection(from: ds.podIP, 1, to: "10.0.0.1", 2, .outgoing, pod: ds.uid)
        bad.remoteAddress = Data([1, 2, 3])
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: "127.0.0.1", 40001, to: "127.0.0.1", 8080, .outgoing, pod: ds.uid, sent: n),
            connection(from: "::1", 40002, to: "::1", 8080, .outgoing, pod: ds.uid, sent: n),
            connection(from: ds.podIP, 40003, to: ds.podIP, 8080, .outgoing, pod: ds.uid, sent: n),
            bad,
            connection(from: ds.podIP, 40004, to: "10.96.0.10", 53, .outgoing, pod: ds.uid, sent: n),
        ] }
        let graph = try RenderedGraph(scenario.twoSnapshots([("datagen-1-34", conns(1))], [("datagen-1-34", conns(2))]))
        #expect(Array(graph.edges.keys) == ["workload:scraper/DaemonSet/e2e-daemonset->service:kube-system/kube-dns:tcp/53"], "\(graph.text)")
        #expect(scenario.graph.trackedConnections == 1)
    }

    /// The recorded cluster's DaemonSet pod dialling a pod behind the e2e-hpa Service: a
    /// scenario on that cluster, the client pod, the server pod's address and the edge's id.
    static func daemonSetToHPA() throws -> (scenario: GraphScenario, client: Pod, target: String, edge: String) {
        let cluster = try GraphCluster.recorded()
        return (GraphScenario(cluster: cluster), cluster.pod("e2e-daemonset-79ft8"), cluster.pod("e2e-hpa-5b9fd8d67d-sjdmn").podIP,
                "workload:scraper/DaemonSet/e2e-daemonset->service:scraper/e2e-hpa:tcp/80")
    }

    /// Rates over the window from cumulative counters: new connections, retransmits, RTT;
    /// a restarted agent's first snapshot only sets the baseline.
    @Test func ratesOverTheWindow() throws {
        let (scenario, ds, target, id) = try Self.daemonSetToHPA()
        scenario.refresh()
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 1_000_000, received: 0)])
        scenario.time += 10
        scenario.report("datagen-1-34", [
            connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 1_001_000, received: 0, retransmits: 3, rtt: 1500),
            connection(from: ds.podIP, 40002, to: target, 80, .outgoing, pod: ds.uid, sent: 500, received: 0, rtt: 500),
        ])
        scenario.time += 10
        let graph = try RenderedGraph(scenario.refresh())
        #expect(graph.number(id, "bytes") == 1500, "\(graph.text)")
        #expect(graph.number(id, "new_connections_per_second") == 1.0 / 20)
        #expect(graph.number(id, "retransmits_per_second") == 3.0 / 20)
        #expect(graph.number(id, "rtt_ms") == 1.0)
        #expect(graph.number(id, "active_connections") == 2)
        // A restarted agent: counters from its first snapshot are not traffic.
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 9_000_000, received: 0)],
                        instance: "agent-2")
        scenario.time += 1
        let restarted = try RenderedGraph(scenario.refresh())
        #expect(restarted.number(id, "bytes") == 1500)
        // Later, a shorter window leaves the old traffic out.
        scenario.time += 30
        scenario.refresh()
        #expect(try RenderedGraph(scenario.graph.view(window: 5)).number(id, "bytes") == 0)
    }

    /// A node's first snapshot before the graph's first refresh (no resolution index: every
    /// remote end would be external) sets its counters' baseline without making edges; its
    /// next snapshot resolves through the index and counts from that baseline.
    @Test func aBaselineBeforeTheFirstRefreshMakesNoEdges() throws {
        let (scenario, ds, target, id) = try Self.daemonSetToHPA()
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 1_000_000, received: 0)])
        #expect(scenario.graph.edgeStorage.edges == 0)
        #expect(scenario.graph.trackedConnections == 1)
        scenario.refresh()
        scenario.time += 10
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 1_004_000, received: 0)])
        scenario.time += 1
        let graph = try RenderedGraph(scenario.refresh())
        #expect(graph.number(id, "bytes") == 4_000, "\(graph.text)")
        #expect(graph.number(id, "active_connections") == 1)
        #expect(!graph.text.contains("external:"), "nothing resolved without the index")
        #expect(scenario.graph.edgeStorage.edges == 1)
    }

    /// Edges that never carried traffic are forgotten once no snapshot has them (not after
    /// the longest window), and a burst of them leaves no room behind in the edges' tables.
    @Test func edgesWithoutTrafficAreForgottenAndTheirRoomGoes() throws {
        let (scenario, ds, target, id) = try Self.daemonSetToHPA()
        scenario.refresh()
        let kept = connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 1_000, received: 0)
        let burst = (0..<3_000).map { connection(from: ds.podIP, UInt32(20_000 + $0), to: "198.18.\($0 / 250).\($0 % 250 + 1)", 443, .outgoing, pod: ds.uid) }
        scenario.report("datagen-1-34", [kept] + burst)
        #expect(scenario.graph.edgeStorage.edges == 3_001)
        let room = scenario.graph.edgeStorage.room
        scenario.time += 10
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 2_000, received: 0)])
        scenario.time += 1
        let graph = try RenderedGraph(scenario.refresh())
        #expect(graph.number(id, "bytes") == 1_000)
        let after = scenario.graph.edgeStorage
        #expect(after.edges == 1, "the burst's edges carried nothing and no snapshot has them")
        #expect(after.ids <= 2 && after.room < room / 8, "\(after), room before \(room)")
        // The kept edge still counts on its id; a new edge takes a free id.
        scenario.time += 10
        scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: target, 80, .outgoing, pod: ds.uid, sent: 2_500, received: 0),
                                         connection(from: ds.podIP, 40009, to: "198.18.0.1", 443, .outgoing, pod: ds.uid, sent: 10, received: 0)])
        scenario.time += 1
        let later = try RenderedGraph(scenario.refresh())
        #expect(later.number(id, "bytes") == 1_500)
        #expect(scenario.graph.edgeStorage.edges == 2 && scenario.graph.edgeStorage.ids <= 2)
    }

    /// More connections than the per-node cap: the rest are dropped and counted.
    @Test func connectionCapPerNode() throws {
        var configuration = GraphConfiguration()
        configuration.maxConnectionsPerNode = 100
        let cluster = try GraphCluster.recorded()
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let scenario = GraphScenario(cluster: cluster, configuration: configuration)
        scenario.refresh()
        scenario.report("datagen-1-34", (0..<150).map { connection(from: ds.podIP, UInt32(30000 + $0), to: "10.244.0.8", 80, .outgoing, pod: ds.uid) })
        #expect(scenario.graph.trackedConnections == 100)
    }

    /// The anonymous "other": a user's view names only their namespaces' vertices;
    /// another tenant's service appears as "other" and its backends and names never.
    @Test func tenantIsolation() throws {
        let cluster = try GraphCluster.recorded()
        cluster.addWorker()
        let mine = cluster.addPod("compute-u1-web", "web-7d4f9c8b6-aaaaa", ips: ["10.244.1.5"], deployment: "web")
        let theirs = cluster.addPod("compute-u1-x-web", "api-7d4f9c8b6-bbbbb", ips: ["10.244.1.6"], deployment: "secret-api", ports: [9000])
        _ = cluster.addPod("compute-u2-db", "db-7d4f9c8b6-ccccc", ips: ["10.244.1.7"], deployment: "hidden-db", ports: [5432])
        cluster.addService("compute-u1-x-web", "secret-api", clusterIPs: ["10.96.9.9"], port: 80, backends: [theirs], targetPort: 9000)
        let scenario = GraphScenario(cluster: cluster)
        let conns: (UInt64) -> [Agent_V1_Connection] = { n in [
            connection(from: "10.244.1.5", 40001, to: "10.96.9.9", 80, .outgoing, pod: mine.uid, sent: n, received: n),
            connection(from: "10.244.1.6", 9000, to: "10.244.1.5", 40001, .incoming, pod: theirs.uid, sent: n, received: n),
            connection(from: "10.244.1.5", 40002, to: "10.244.1.7", 5432, .outgoing, pod: mine.uid, sent: n, received: n),
            connection(from: "10.244.1.6", 40003, to: "10.244.1.7", 5432, .outgoing, pod: theirs.uid, sent: n, received: n),
            connection(from: "10.244.1.6", 40004, to: "203.0.113.9", 443, .outgoing, pod: theirs.uid, sent: n, received: n),
        ] }
        let view = scenario.twoSnapshots([("worker-2", conns(0))], [("worker-2", conns(1000))])
        let u1: (String) -> Bool = { $0 == "compute-u1-web" }
        let graph = try RenderedGraph(view, visible: u1)
        #expect(Set(graph.edges.keys) == ["workload:compute-u1-web/Deployment/web->other:tcp/80", "workload:compute-u1-web/Deployment/web->other:tcp/5432"], "\(graph.text)")
        #expect(Set(graph.nodes.keys) == ["workload:compute-u1-web/Deployment/web", "other"])
        for secret in ["compute-u1-x-web", "secret-api", "api-7d4f9c8b6", "compute-u2-db", "hidden-db", "203.0.113.9"] {
            #expect(!graph.text.contains(secret), "leaks \(secret)")
        }
        // Asking for another tenant's namespace or service is refused, whether it exists or not.
        for query in [GraphQuery(namespace: "compute-u1-x-web"), GraphQuery(service: "compute-u1-x-web/secret-api"),
                      GraphQuery(service: "compute-u1-x-web/no-such"), GraphQuery(namespace: "compute-u1-x-web", service: "secret-api"),
                      GraphQuery(service: "service:compute-u1-x-web/secret-api")] {
            #expect(throws: GraphView.QueryError.forbidden, "\(query)") { try view.render(query, visible: u1) }
        }
        // An admin sees everything by name.
        let admin = try RenderedGraph(view)
        #expect(admin.edges["workload:compute-u1-web/Deployment/web->service:compute-u1-x-web/secret-api:tcp/80"] != nil)
        #expect(admin.edges["service:compute-u1-x-web/secret-api->workload:compute-u2-db/Deployment/hidden-db:tcp/5432"] != nil)
    }

    /// Server-side filters on a chain a -> b -> c -> d plus heavier side edges.
    @Test func filters() throws {
        var totals: [EdgeKey: EdgeTotal] = [:]
        func service(_ ns: String, _ name: String) -> GraphEntity { GraphEntity(.service, namespace: ns, name: name) }
        let a = service("one", "a"), b = service("one", "b"), c = service("two", "c"), d = service("two", "d")
        for (i, (from, to)) in [(a, b), (b, c), (c, d)].enumerated() {
            totals[EdgeKey(source: from, target: to, transport: 1, port: 80)] = EdgeTotal(counters: EdgeCounters(toServer: UInt64(1000 * (i + 1))), active: 1)
        }
        totals[EdgeKey(source: d, target: GraphEntity(.external, name: "192.0.2.1"), transport: 1, port: 443)] = EdgeTotal(counters: EdgeCounters(toServer: 50_000))
        let view = GraphView.build(timestamp: 1_800_000_000, window: 60, span: 60, totals: totals, label: \.name)
        let ab = "service:one/a->service:one/b:tcp/80", bc = "service:one/b->service:two/c:tcp/80", cd = "service:two/c->service:two/d:tcp/80"
        let ext = "service:two/d->external:192.0.2.1:tcp/443"
        #expect(Set(try RenderedGraph(view, GraphQuery(namespace: "one")).edges.keys) == [ab, bc])
        #expect(Set(try RenderedGraph(view, GraphQuery(service: "one/b")).edges.keys) == [ab, bc])
        #expect(Set(try RenderedGraph(view, GraphQuery(namespace: "one", service: "b", depth: 2)).edges.keys) == [ab, bc, cd])
        #expect(Set(try RenderedGraph(view, GraphQuery(service: "service:one/a", depth: 10)).edges.keys) == [ab, bc, cd, ext])
        #expect(Set(try RenderedGraph(view, GraphQuery(minBytes: 2500)).edges.keys) == [cd, ext])
        #expect(Set(try RenderedGraph(view, GraphQuery(top: 2)).edges.keys) == [cd, ext])
        #expect(try RenderedGraph(view, GraphQuery(service: "one/nothing")).edges.isEmpty)
        let rendered = try RenderedGraph(view, GraphQuery(top: 1))
        #expect(Set(rendered.nodes.keys) == ["service:two/d", "external:192.0.2.1"])
        #expect(rendered.nodes["service:two/d"]?["namespace"] as? String == "two")
    }

    /// An agent's pod that did not change keeps its identity object between snapshots
    /// (110,000 pods would otherwise be rebuilt every batch); a new address makes a new one.
    @Test func unchangedPodsAreReused() {
        var pod = Agent_V1_Pod.with { $0.uid = "u1"; $0.name = "web-0"; $0.namespace = "shop"; $0.ip = "10.1.0.5" }
        let first = AgentPod.from(batchPod: pod, node: "n1", previous: nil, listed: nil)
        #expect(AgentPod.from(batchPod: pod, node: "n1", previous: first, listed: nil).identity === first.identity)
        pod.ip = "10.1.0.9"
        let moved = AgentPod.from(batchPod: pod, node: "n1", previous: first, listed: nil)
        #expect(moved.identity !== first.identity)
        #expect(moved.identity.addresses == [NetworkAddress("10.1.0.9")!])
        pod.owners = [.with { $0.kind = "StatefulSet"; $0.name = "web"; $0.controller = true }]
        let owned = AgentPod.from(batchPod: pod, node: "n1", previous: moved, listed: nil)
        #expect(owned.identity !== moved.identity)
        #expect(owned.identity.workload?.name == "web")
    }

    /// A pod the informers list as its agent reports it shares their identity object (one
    /// per pod, not two); one they list differently, or an agent's own earlier identity in
    /// the index, is not taken.
    @Test func anAgentsPodTakesTheInformersIdentityWhenTheyAgree() {
        let pod = Agent_V1_Pod.with { $0.uid = "u1"; $0.name = "web-0"; $0.namespace = "shop"; $0.ip = "10.1.0.5" }
        func listed(_ address: String, node: String = "n1", version: String = "7") -> PodIdentity {
            PodIdentity(uid: "u1", namespace: "shop", name: "web-0", node: node, hostNetwork: false, addresses: [NetworkAddress(address)!],
                        workload: OwnerReference(kind: "Deployment", name: "storefront", controller: true), services: [], ports: [], resourceVersion: version)
        }
        let own = AgentPod.from(batchPod: pod, node: "n1", previous: nil, listed: nil)
        let informers = listed("10.1.0.5")
        let taken = AgentPod.from(batchPod: pod, node: "n1", previous: own, listed: informers)
        #expect(taken.identity === informers)
        #expect(AgentPod.from(batchPod: pod, node: "n1", previous: taken, listed: informers).identity === informers)
        // The informers' pod changed (a new object): the new one.
        let newer = listed("10.1.0.5", version: "8")
        #expect(AgentPod.from(batchPod: pod, node: "n1", previous: taken, listed: newer).identity === newer)
        // Listed elsewhere, at another address, or made from an agent's report: the report's own.
        for other in [listed("10.1.0.6"), listed("10.1.0.5", node: "n2"), listed("10.1.0.5", version: "")] {
            let kept = AgentPod.from(batchPod: pod, node: "n1", previous: nil, listed: other)
            #expect(kept.identity !== other)
            #expect(kept.identity.node == "n1" && kept.identity.addresses == [NetworkAddress("10.1.0.5")!] && kept.identity.workload == nil)
        }
        // An unchanged report keeps the identity it has when the informers' does not agree.
        #expect(AgentPod.from(batchPod: pod, node: "n1", previous: own, listed: listed("10.1.0.6")).identity === own.identity)
    }

    /// Ids survive the round trip through history keys.
    @Test func idsParseBack() {
        let entities = [GraphEntity(.service, namespace: "a", name: "b"), GraphEntity(.workload, namespace: "a", name: "w", workloadKind: "StatefulSet"),
                        GraphEntity(.pod, namespace: "a", name: "p"), GraphEntity(.node, name: "n1"), GraphEntity(.external, name: "2001:db8::1"), .other]
        for source in entities {
            for target in entities {
                let key = EdgeKey(source: source, target: target, transport: 2, port: 53)
                #expect(EdgeKey(id: key.id) == key, "\(key.id)")
            }
        }
        #expect(NetworkAddress("10.1.2.3")?.description == "10.1.2.3")
        #expect(NetworkAddress("fd00::1:2")?.description == "fd00::1:2")
        #expect(NetworkAddress(bytes: [10, 1, 2, 3]) == NetworkAddress("::ffff:10.1.2.3"))
        // A batch's bytes (Data, read in place) and the same bytes as an array agree.
        let v6: [UInt8] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]
        #expect(NetworkAddress(bytes: Data(v6)) == NetworkAddress("fd00::1:2"))
        #expect(NetworkAddress(bytes: Data([10, 1, 2, 3])) == NetworkAddress(bytes: [10, 1, 2, 3]))
        #expect(NetworkAddress(bytes: Data([192, 168, 0, 255]))?.description == "192.168.0.255")
        #expect(NetworkAddress(bytes: Data(v6.dropLast())) == nil && NetworkAddress(bytes: Data()) == nil)
        #expect(NetworkAddress("::1")?.isLoopback == true)
        #expect(NetworkAddress("nonsense") == nil)
    }

    /// The graph of a past window from the history: edge counters written each refresh are
    /// read back as their increase over the window.
    @Test func historyGivesPastWindows() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("graph-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let history = try HistoryStore(path: path, logger: .init(label: "test"))
        let cluster = try GraphCluster.recorded()
        let ds = cluster.pod("e2e-daemonset-79ft8")
        let scenario = GraphScenario(cluster: cluster)
        let start = Int64(scenario.time)
        scenario.refresh()
        // 1,000 bytes/s for two minutes, refreshes every 5 s, an agent every 10 s.
        for step in 0...24 {
            if step % 2 == 0 {
                scenario.report("datagen-1-34", [connection(from: ds.podIP, 40001, to: "10.244.0.8", 80, .outgoing, pod: ds.uid, sent: UInt64(step * 5000))])
            }
            let result = scenario.graph.refresh(now: scenario.time, version: step + 2, cluster: cluster)
            try history.recordEdges(time: Int64(scenario.time), edges: result.history)
            scenario.time += 5
        }
        let past = try await history.graph(start: start + 60, end: start + 120)
        let graph = try RenderedGraph(past)
        let id = "workload:scraper/DaemonSet/e2e-daemonset->service:scraper/e2e-hpa:tcp/80"
        let rate = try #require(graph.number(id, "bytes_sent_per_second"), "\(graph.text)")
        #expect(abs(rate - 1000) < 100)
        #expect(graph.number(id, "retransmits_per_second") == 0)
        // A user's pre-selection reads only their edges.
        let none = try await history.graph(start: start + 60, end: start + 120) { _ in false }
        #expect(none.edges.isEmpty)
    }
}
