import Kubernetes
import Testing
import TestSupport
import Wire
@testable import Aggregator

/// The graph's resolution index, kept from refresh to refresh by what changed, against the
/// same index read from the whole lists.
@Suite("Resolution index")
struct ResolutionIndexTests {
    /// A cluster changed at random (pods added, deleted, moved, recreated under the same name
    /// or finished; Services and EndpointSlices, by reference and by address only; Nodes;
    /// agents' pods) for many refreshes: after every one, the index kept from the change logs
    /// is the one a fresh indexer reads from the whole lists.
    @Test(arguments: [1, 2, 3, 4])
    func keptFromChangesEqualsReadFromTheLists(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let world = RandomCluster()
        var kept = ResolutionIndexer()
        var busy = (services: 0, hostPods: 0)
        for step in 0..<120 {
            for _ in 0..<(1 + Int(random.next() % 3)) { world.change(&random) }
            let now = 1_800_000_000 + Double(step) * 5
            // A grace of less than nothing: a gone pod's address is released at once, as it
            // is in an index that never saw the pod.
            // The agents' pods take the identities of the index before, as ingest does.
            let agents = world.agentPods(index: kept.published)
            let index = kept.update(cluster: world.cluster, agentPods: agents, now: now, grace: -1)
            world.cluster.tracksChanges = false
            var fresh = ResolutionIndexer()
            let expected = fresh.update(cluster: world.cluster, agentPods: agents, now: now, grace: -1)
            world.cluster.tracksChanges = true
            let got = Set(Self.lines(index)), want = Set(Self.lines(expected))
            let same = got == want
            #expect(same, "seed \(seed) step \(step): kept only \(got.subtracting(want).sorted()), read only \(want.subtracting(got).sorted())")
            if !same { return }
            busy.services += index.podsByUID.values.contains { !$0.services.isEmpty } ? 1 : 0
            busy.hostPods += index.hostPods.isEmpty ? 0 : 1
        }
        // The cluster was busy: pods behind Services and host-network pods for a good part of it.
        let busyEnough = busy.services > 30 && busy.hostPods > 30
        #expect(busyEnough, "\(busy)")
    }

    /// A refresh with nothing changed returns the same index; one with a change returns a
    /// new one, and the previous one (which ingest may still be reading) is as it was.
    @Test func readersKeepTheirIndex() throws {
        let cluster = GraphCluster()
        cluster.addWorker()
        let pod = cluster.addPod("shop", "web-1", ips: ["10.244.1.5"], deployment: "web", ports: [8080])
        var indexer = ResolutionIndexer()
        let first = indexer.update(cluster: cluster, agentPods: [:], now: 100, grace: 60)
        #expect(indexer.update(cluster: cluster, agentPods: [:], now: 105, grace: 60) === first)
        cluster.pods[0].podIP = "10.244.1.9"
        cluster.pods[0].podIPs = ["10.244.1.9"]
        let second = indexer.update(cluster: cluster, agentPods: [:], now: 110, grace: 60)
        #expect(second !== first)
        #expect(first.podsByUID[pod.uid]?.addresses == [NetworkAddress("10.244.1.5")!])
        #expect(first.podsByAddress[NetworkAddress("10.244.1.9")!] == nil)
        #expect(second.podsByUID[pod.uid]?.addresses == [NetworkAddress("10.244.1.9")!])
        // The old address resolves to the pod for the grace period (60 s from 105), then not.
        #expect(second.podsByAddress[NetworkAddress("10.244.1.5")!]?.uid == pod.uid)
        #expect(indexer.update(cluster: cluster, agentPods: [:], now: 165, grace: 60).podsByAddress[NetworkAddress("10.244.1.5")!]?.uid == pod.uid)
        #expect(indexer.update(cluster: cluster, agentPods: [:], now: 166, grace: 60).podsByAddress[NetworkAddress("10.244.1.5")!] == nil)
    }

    /// A pod listed before its ReplicaSet has the workload its names suggest; when the
    /// ReplicaSet comes (or its owner changes), the pod's workload is the ReplicaSet's owner,
    /// though the pod itself did not change.
    @Test func aPodTakesItsReplicaSetsOwnerWhenTheReplicaSetComesLater() throws {
        let cluster = GraphCluster()
        cluster.addWorker()
        let pod = cluster.addPod("shop", "web-1", ips: ["10.244.1.5"], deployment: "web", ports: [8080])
        cluster.pods[0].metadata.resourceVersion = "1"
        var indexer = ResolutionIndexer()
        let guessed = indexer.update(cluster: cluster, agentPods: [:], now: 100, grace: 60)
        #expect(guessed.podsByUID[pod.uid]?.workload.map { "\($0.kind)/\($0.name)" } == "Deployment/web")
        var set = ReplicaSet()
        set.metadata.namespace = "shop"
        set.metadata.name = "web-7d4f9c8b6"
        set.metadata.ownerReferences = [OwnerReference(kind: "Deployment", name: "storefront", uid: "d1", controller: true)]
        cluster.replicaSets = [set]
        let known = indexer.update(cluster: cluster, agentPods: [:], now: 105, grace: 60)
        #expect(known.podsByUID[pod.uid]?.workload.map { "\($0.kind)/\($0.name)" } == "Deployment/storefront")
        #expect(known.podsByAddress[NetworkAddress("10.244.1.5")!]?.workload?.name == "storefront")
        // Only its status changes: the same index.
        cluster.replicaSets[0].status.replicas = 3
        #expect(indexer.update(cluster: cluster, agentPods: [:], now: 110, grace: 60) === known)
        cluster.replicaSets[0].metadata.ownerReferences = []
        let orphaned = indexer.update(cluster: cluster, agentPods: [:], now: 115, grace: 60)
        #expect(orphaned.podsByUID[pod.uid]?.workload.map { "\($0.kind)/\($0.name)" } == "Deployment/web")
    }

    /// Everything the index resolves, as sorted text.
    static func lines(_ index: ResolutionIndex) -> [String] {
        func ports(_ set: Set<ProtocolPort>) -> String { set.map { "\($0.transport)/\($0.port)" }.sorted().joined(separator: ",") }
        func pod(_ p: PodIdentity) -> String {
            let services = p.services.map { "\($0.namespace)/\($0.name)[\(ports($0.ports))]" }.joined(separator: " ")
            return "\(p.uid) \(p.namespace)/\(p.name) on \(p.node) host=\(p.hostNetwork) at \(p.addresses.map(\.description).sorted()) "
                + "workload=\(p.workload.map { "\($0.kind)/\($0.name)" } ?? "-") ports=\(ports(p.ports)) services=\(services)"
        }
        var lines: [String] = []
        for (uid, p) in index.podsByUID { lines.append("uid \(uid): \(pod(p))") }
        for (address, p) in index.podsByAddress { lines.append("address \(address): \(pod(p))") }
        for (key, p) in index.hostPods { lines.append("host \(key.address) \(key.port.transport)/\(key.port.port): \(p.uid)") }
        for (address, service) in index.servicesByAddress { lines.append("service \(address): \(service.id)") }
        for (address, node) in index.nodesByAddress { lines.append("node \(address): \(node)") }
        for node in index.reportingNodes { lines.append("reporting \(node)") }
        return lines.sorted()
    }
}

extension SplitMix {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
}

/// A cluster of three nodes whose objects and agents' pods change at random. Every live
/// address is unique (two live pods never claim one), as are host-network pods' ports.
final class RandomCluster {
    let cluster = GraphCluster()
    /// Pods only agents report, by node.
    private var agentOnly: [String: [Agent_V1_Pod]] = [:]
    private var identities: [String: AgentPods] = [:]
    private var serial = 0
    let nodes = ["n1", "n2", "n3"]

    init() {
        for (index, node) in nodes.enumerated() { cluster.addWorker(name: node, address: "192.168.0.\(index + 1)") }
    }

    private func fresh() -> Int {
        serial += 1
        return serial
    }

    /// What the agents report: each node's agent-only pods and the listed pods on it, with
    /// the identities `index` has for them when they agree (as the graph's ingest takes them).
    func agentPods(index: ResolutionIndex = .empty) -> [String: AgentPods] {
        var result: [String: AgentPods] = [:]
        for node in nodes where node != "n3" {  // n3 has no agent
            let listed = cluster.pods.filter { $0.nodeName == node }.map { pod in
                Agent_V1_Pod.with { $0.uid = pod.uid; $0.name = pod.name; $0.namespace = pod.namespace; $0.ip = pod.podIP; $0.hostNetwork = pod.hostNetwork }
            }
            let reported = (agentOnly[node] ?? []) + listed
            // A new version when the pods are not the same objects, as the graph's ingest does.
            let previous = identities[node] ?? AgentPods(version: 0, byUID: [:])
            let pods = Dictionary(reported.map { pod in
                (pod.uid, AgentPod.from(batchPod: pod, node: node, previous: previous.byUID[pod.uid], listed: index.podsByUID[pod.uid]))
            }, uniquingKeysWith: { first, _ in first })
            let same = previous.byUID.count == pods.count && pods.allSatisfy { previous.byUID[$0.key]?.identity === $0.value.identity }
            result[node] = same ? previous : AgentPods(version: previous.version + 1, byUID: pods)
        }
        identities = result
        return result
    }

    func change(_ random: inout SplitMix) {
        let n = fresh()
        switch random.below(11) {
        case 0, 1:
            let host = random.below(6) == 0
            var pod = cluster.addPod(["shop", "ops"][random.below(2)], "p\(n)", ips: [host ? "192.168.\(10 + n / 250).\(n % 250)" : "10.1.\(n / 250).\(n % 250)"],
                                     node: nodes[random.below(3)], deployment: random.below(2) == 0 ? "web" : nil,
                                     ports: [host ? 20_000 + n : 8080], hostNetwork: host)
            pod.metadata.resourceVersion = "\(n)"
            cluster.pods[cluster.pods.count - 1] = pod
        case 2 where !cluster.pods.isEmpty:
            cluster.pods.remove(at: random.below(cluster.pods.count))
        case 3 where !cluster.pods.isEmpty:
            let i = random.below(cluster.pods.count)
            guard !cluster.pods[i].hostNetwork else { return }
            cluster.pods[i].podIP = "10.2.\(n / 250).\(n % 250)"
            cluster.pods[i].podIPs = [cluster.pods[i].podIP]
            cluster.pods[i].metadata.resourceVersion = "\(n)"
        case 4 where !cluster.pods.isEmpty:
            // Deleted and made again under the same name: a new uid.
            let i = random.below(cluster.pods.count)
            cluster.pods[i].metadata.uid = "uid-again-\(n)"
            cluster.pods[i].metadata.resourceVersion = "\(n)"
        case 5 where !cluster.pods.isEmpty:
            let i = random.below(cluster.pods.count)
            cluster.pods[i].phase = "Succeeded"
            cluster.pods[i].metadata.resourceVersion = "\(n)"
        case 6:
            // A Service's slice lists a random few pods, one of them by address only now and then.
            let name = "svc\(random.below(4))"
            cluster.services.removeAll { $0.metadata.name == name }
            cluster.slices.removeAll { $0.metadata.name == "\(name)-abcde" }
            let backends = cluster.pods.filter { _ in random.below(4) == 0 }
            cluster.addService("shop", name, clusterIPs: ["10.96.\(n / 250).\(n % 250)"], port: 80, backends: backends, targetPort: 8000 + random.below(3))
            if random.below(2) == 0, let pod = cluster.pods.randomElement(using: &random), !pod.hostNetwork {
                var endpoint = Endpoint()
                endpoint.addresses = [pod.podIP]
                cluster.slices[cluster.slices.count - 1].endpoints.append(endpoint)
            }
        case 7 where !cluster.slices.isEmpty:
            let i = random.below(cluster.slices.count)
            let name = cluster.slices[i].serviceName
            cluster.slices.remove(at: i)
            if random.below(2) == 0 { cluster.services.removeAll { $0.metadata.name == name } }
        case 8:
            let node = nodes[random.below(2)]
            if random.below(3) == 0, !(agentOnly[node] ?? []).isEmpty {
                agentOnly[node]!.remove(at: random.below(agentOnly[node]!.count))
            } else {
                agentOnly[node, default: []].append(Agent_V1_Pod.with {
                    $0.uid = "agent-\(n)"; $0.name = "a\(n)"; $0.namespace = "shop"; $0.ip = "10.3.\(n / 250).\(n % 250)"
                })
            }
        case 9:
            // The pods' ReplicaSet comes, goes, changes owner or only its status.
            let namespace = ["shop", "ops"][random.below(2)]
            cluster.replicaSets.removeAll { $0.metadata.namespace == namespace }
            if random.below(4) != 0 {
                var set = ReplicaSet()
                set.metadata.namespace = namespace
                set.metadata.name = "web-7d4f9c8b6"
                set.metadata.resourceVersion = "\(n)"
                set.metadata.ownerReferences = [OwnerReference(kind: "Deployment", name: ["web", "storefront"][random.below(2)], controller: true)]
                cluster.replicaSets.append(set)
            }
        default:
            let i = random.below(cluster.nodes.count)
            cluster.nodes[i].addresses = [NodeAddress(type: "InternalIP", address: "192.168.\(20 + n / 250).\(n % 250)")]
        }
    }
}

