import Kubernetes
import Wire

/// A vertex of the dependency graph: a Service, a workload without a Service, a pod
/// without either, a node, an external address, or (for a tenant) every other tenant's
/// service folded into one anonymous vertex.
public struct GraphEntity: Hashable, Sendable, Comparable {
    public enum Kind: String, Sendable { case service, workload, pod, node, external, other }
    public var kind: Kind
    /// Empty for nodes and externals.
    public var namespace: String
    /// Service, workload, pod or node name; the address for an external.
    public var name: String
    /// The workload's kind (Deployment, StatefulSet, DaemonSet, Job, CronJob, ...).
    public var workloadKind: String

    public init(_ kind: Kind, namespace: String = "", name: String, workloadKind: String = "") {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.workloadKind = workloadKind
    }

    public static let other = GraphEntity(.other, name: "other")

    /// Stable, readable and parseable: `service:ns/name`, `workload:ns/Deployment/name`,
    /// `pod:ns/name`, `node:name`, `external:10.0.0.1`, `other`.
    public var id: String {
        switch kind {
        case .service, .pod: "\(kind.rawValue):\(namespace)/\(name)"
        case .workload: "workload:\(namespace)/\(workloadKind)/\(name)"
        case .node, .external: "\(kind.rawValue):\(name)"
        case .other: "other"
        }
    }

    public init?(id: String) {
        if id == "other" { self = .other; return }
        guard let colon = id.firstIndex(of: ":"), let kind = Kind(rawValue: String(id[..<colon])) else { return nil }
        let rest = id[id.index(after: colon)...]
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch kind {
        case .service, .pod:
            guard parts.count == 2 else { return nil }
            self.init(kind, namespace: parts[0], name: parts[1])
        case .workload:
            guard parts.count == 3 else { return nil }
            self.init(kind, namespace: parts[0], name: parts[2], workloadKind: parts[1])
        case .node, .external:
            self.init(kind, name: String(rest))
        case .other:
            return nil
        }
    }

    /// Nodes and externals belong to no tenant.
    public var isNamespaced: Bool { !namespace.isEmpty }

    /// By kind, namespace, workload kind and name: deterministic without building ids.
    public static func < (a: GraphEntity, b: GraphEntity) -> Bool {
        (a.kind.rawValue, a.namespace, a.workloadKind, a.name) < (b.kind.rawValue, b.namespace, b.workloadKind, b.name)
    }
}

/// A Service a pod is an endpoint of, with the pod's ports it lists.
struct ServiceMembership: Sendable, Equatable {
    var namespace: String
    var name: String
    var ports: Set<ProtocolPort>
}

struct ProtocolPort: Hashable, Sendable {
    var transport: UInt8
    var port: UInt16

    static func transport(_ name: String) -> UInt8 { name == "UDP" ? 2 : name == "SCTP" ? 3 : 1 }
}

/// What the graph knows about one pod; shared by the index's maps.
final class PodIdentity: Sendable {
    let uid: String
    let namespace: String
    let name: String
    let node: String
    let hostNetwork: Bool
    let addresses: [NetworkAddress]
    let workload: OwnerReference?
    /// Sorted by (namespace, name): a pod behind several Services is shown as the first.
    let services: [ServiceMembership]
    /// Declared container ports (host ports for host-network pods).
    let ports: Set<ProtocolPort>
    /// The informer's resourceVersion it was made from, so that an unchanged pod is reused
    /// rather than rebuilt (empty: made from an agent's report, `AgentPod`).
    let resourceVersion: String
    /// The identity without Services this one was made from (`with(services:)`).
    let source: PodIdentity?
    /// The ReplicaSet that controls a listed pod, whose own controller its workload was
    /// read from (the identity is made again when that ReplicaSet changes).
    let replicaSet: String?

    init(uid: String, namespace: String, name: String, node: String, hostNetwork: Bool, addresses: [NetworkAddress],
         workload: OwnerReference?, services: [ServiceMembership], ports: Set<ProtocolPort>,
         resourceVersion: String = "", source: PodIdentity? = nil, replicaSet: String? = nil) {
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.node = node
        self.hostNetwork = hostNetwork
        self.addresses = addresses
        self.workload = workload
        self.services = Self.ordered(services)
        self.ports = ports
        self.resourceVersion = resourceVersion
        self.source = source
        self.replicaSet = replicaSet
    }

    static func ordered(_ services: [ServiceMembership]) -> [ServiceMembership] {
        services.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
    }

    func with(services: [ServiceMembership]) -> PodIdentity {
        PodIdentity(uid: uid, namespace: namespace, name: name, node: node, hostNetwork: hostNetwork, addresses: addresses,
                    workload: workload, services: services, ports: ports, resourceVersion: resourceVersion, source: source ?? self, replicaSet: replicaSet)
    }

    /// The vertex of a pod that initiates a connection: its Service, else its workload,
    /// else the pod.
    var clientEntity: GraphEntity {
        if let service = services.first { return GraphEntity(.service, namespace: service.namespace, name: service.name) }
        return workloadEntity
    }

    /// The vertex of a pod that accepts a connection on `port`: the Service whose
    /// EndpointSlices list this pod and port, else its workload, else the pod.
    func serverEntity(_ port: ProtocolPort) -> GraphEntity {
        if let service = services.first(where: { $0.ports.contains(port) }) {
            return GraphEntity(.service, namespace: service.namespace, name: service.name)
        }
        return workloadEntity
    }

    var workloadEntity: GraphEntity {
        if let workload { return GraphEntity(.workload, namespace: namespace, name: workload.name, workloadKind: workload.kind) }
        return GraphEntity(.pod, namespace: namespace, name: name)
    }

    /// The workload of a controller reference when the ReplicaSet or Job is not cached: a
    /// ReplicaSet named `<deployment>-<pod-template-hash>` belongs to that Deployment, a Job
    /// named `<cronjob>-<minutes>` to that CronJob.
    static func workload(controller: OwnerReference?, labels: [String: String]) -> OwnerReference? {
        guard var owner = controller else { return nil }
        if owner.kind == "ReplicaSet", let hash = labels["pod-template-hash"], owner.name.hasSuffix("-" + hash) {
            owner = OwnerReference(kind: "Deployment", name: String(owner.name.dropLast(hash.count + 1)), controller: true)
        } else if owner.kind == "Job", let dash = owner.name.lastIndex(of: "-") {
            let suffix = owner.name[owner.name.index(after: dash)...]
            if suffix.count >= 8, suffix.allSatisfy(\.isNumber) {
                owner = OwnerReference(kind: "CronJob", name: String(owner.name[..<dash]), controller: true)
            }
        }
        return owner
    }

    /// A pod as its node's agent reported it.
    static func from(batchPod pod: Agent_V1_Pod, node: String) -> PodIdentity {
        var ports: Set<ProtocolPort> = []
        for container in pod.containers {
            for port in container.ports where port.port > 0 && port.port <= 65535 {
                ports.insert(ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(port.port)))
            }
        }
        let controller = pod.owners.first { $0.controller }.map { OwnerReference(kind: $0.kind, name: $0.name, uid: $0.uid, controller: true) }
        return PodIdentity(uid: pod.uid, namespace: pod.namespace, name: pod.name, node: node, hostNetwork: pod.hostNetwork,
                           addresses: addresses(pod), workload: workload(controller: controller, labels: pod.labels), services: [], ports: ports)
    }

    /// The addresses an agent reported for a pod, each once.
    static func addresses(_ pod: Agent_V1_Pod) -> [NetworkAddress] {
        Array(Set(([pod.ip] + pod.ips).compactMap { $0.isEmpty ? nil : NetworkAddress($0) }))
    }
}

/// A pod as its node's agent reported it: its identity and a hash of the report it stands
/// for (an unchanged report keeps its identity: 150,000 pods would otherwise be made again
/// every batch). The identity is the informers' own when they list the pod as the agent
/// reports it (node, namespace, name, host network, addresses): one object for both, where
/// each pod had two (~800 bytes a pod of 150,000 made from the agents' reports, which the
/// resolution index reads only for pods the informers do not list).
struct AgentPod: Sendable {
    let identity: PodIdentity
    /// `AgentPod.report(_:node:)` of the report: two reports of equal hash are taken as the
    /// same (Swift's 64-bit `Hasher`; a collision between a pod's two consecutive reports
    /// would keep the earlier identity until its next change).
    let report: Int

    /// The fields of an agent's report an identity is made from.
    static func report(_ pod: Agent_V1_Pod, node: String) -> Int {
        var hasher = Hasher()
        hasher.combine(node)
        hasher.combine(pod.namespace)
        hasher.combine(pod.name)
        hasher.combine(pod.ip)
        hasher.combine(pod.ips)
        hasher.combine(pod.hostNetwork)
        let controller = pod.owners.first { $0.controller }
        hasher.combine(controller?.kind)
        hasher.combine(controller?.name)
        return hasher.finalize()
    }

    /// `previous` (the pod in the node's last snapshot) when the report is the same and the
    /// informers' identity did not change; the informers' identity (`listed`, from the
    /// resolution index) when it agrees with the report; else an identity of the report.
    static func from(batchPod pod: Agent_V1_Pod, node: String, previous: AgentPod?, listed: PodIdentity?) -> AgentPod {
        let report = report(pod, node: node)
        // Only the informers' identities are taken (an agent's own earlier one may differ
        // in what the match below does not compare: its workload).
        let listed = listed.flatMap { $0.resourceVersion.isEmpty ? nil : $0 }
        if let previous, previous.report == report, listed == nil || previous.identity === listed { return previous }
        if let listed, listed.node == node, listed.namespace == pod.namespace, listed.name == pod.name, listed.hostNetwork == pod.hostNetwork,
           Set(listed.addresses) == Set(PodIdentity.addresses(pod)) {
            return AgentPod(identity: listed, report: report)
        }
        if let previous, previous.report == report { return previous }
        return AgentPod(identity: .from(batchPod: pod, node: node), report: report)
    }
}

/// A host-network pod is found by its node's address and one of its ports.
struct HostPortKey: Hashable, Sendable {
    var address: NetworkAddress
    var port: ProtocolPort
}

/// The lookups that turn connection endpoints into graph vertices, from the API server's
/// objects and the agents' pods (kept by `ResolutionIndexer`); a new one whenever they
/// change, read without locks.
final class ResolutionIndex: Sendable {
    let podsByUID: [String: PodIdentity]
    let podsByAddress: [NetworkAddress: PodIdentity]
    let hostPods: [HostPortKey: PodIdentity]
    let servicesByAddress: [NetworkAddress: GraphEntity]
    let nodesByAddress: [NetworkAddress: String]
    /// Nodes with a reporting agent: a connection whose other end runs there is counted by
    /// that end's agent too.
    let reportingNodes: Set<String>

    init(podsByUID: [String: PodIdentity] = [:], podsByAddress: [NetworkAddress: PodIdentity] = [:], hostPods: [HostPortKey: PodIdentity] = [:],
         servicesByAddress: [NetworkAddress: GraphEntity] = [:], nodesByAddress: [NetworkAddress: String] = [:],
         reportingNodes: Set<String> = []) {
        self.podsByUID = podsByUID
        self.podsByAddress = podsByAddress
        self.hostPods = hostPods
        self.servicesByAddress = servicesByAddress
        self.nodesByAddress = nodesByAddress
        self.reportingNodes = reportingNodes
    }

    static let empty = ResolutionIndex()

    /// What a remote address (and port, for host-network pods) is.
    enum Remote {
        case service(GraphEntity)
        case pod(PodIdentity)
        case node(String)
        case external(NetworkAddress)
    }

    /// `sameBatch`: the reporting node's own pods, which the index may not know yet.
    func remote(_ address: NetworkAddress, port: ProtocolPort, sameBatch: [NetworkAddress: PodIdentity] = [:]) -> Remote {
        if let service = servicesByAddress[address] { return .service(service) }
        if let pod = podsByAddress[address] ?? sameBatch[address] { return .pod(pod) }
        if let pod = hostPods[HostPortKey(address: address, port: port)] { return .pod(pod) }
        if let node = nodesByAddress[address] { return .node(node) }
        return .external(address)
    }
}
