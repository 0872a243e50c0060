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
    /// What it was made from, so that an unchanged pod is reused rather than rebuilt: the
    /// informer's resourceVersion, or the agent's reported addresses and controller.
    let resourceVersion: String
    let reported: [String]

    init(uid: String, namespace: String, name: String, node: String, hostNetwork: Bool, addresses: [NetworkAddress],
         workload: OwnerReference?, services: [ServiceMembership], ports: Set<ProtocolPort>,
         resourceVersion: String = "", reported: [String] = []) {
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
        self.reported = reported
    }

    static func ordered(_ services: [ServiceMembership]) -> [ServiceMembership] {
        services.sorted { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
    }

    func with(services: [ServiceMembership]) -> PodIdentity {
        PodIdentity(uid: uid, namespace: namespace, name: name, node: node, hostNetwork: hostNetwork, addresses: addresses,
                    workload: workload, services: services, ports: ports, resourceVersion: resourceVersion, reported: reported)
    }

    /// The agent's fields this identity was made from.
    static func reported(_ pod: Agent_V1_Pod, node: String) -> [String] {
        [node, pod.namespace, pod.name, pod.ip, pod.hostNetwork ? "host" : "", pod.owners.first { $0.controller }?.name ?? ""] + pod.ips
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

    /// A pod as its node's agent reported it; `previous` when nothing it depends on changed.
    static func from(batchPod pod: Agent_V1_Pod, node: String, previous: PodIdentity? = nil) -> PodIdentity {
        let reported = reported(pod, node: node)
        if let previous, previous.reported == reported { return previous }
        var ports: Set<ProtocolPort> = []
        for container in pod.containers {
            for port in container.ports where port.port > 0 && port.port <= 65535 {
                ports.insert(ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(port.port)))
            }
        }
        let addresses = ([pod.ip] + pod.ips).compactMap { $0.isEmpty ? nil : NetworkAddress($0) }
        let controller = pod.owners.first { $0.controller }.map { OwnerReference(kind: $0.kind, name: $0.name, uid: $0.uid, controller: true) }
        return PodIdentity(uid: pod.uid, namespace: pod.namespace, name: pod.name, node: node, hostNetwork: pod.hostNetwork,
                           addresses: Array(Set(addresses)), workload: workload(controller: controller, labels: pod.labels), services: [], ports: ports,
                           reported: reported)
    }
}

/// A host-network pod is found by its node's address and one of its ports.
struct HostPortKey: Hashable, Sendable {
    var address: NetworkAddress
    var port: ProtocolPort
}

/// The lookups that turn connection endpoints into graph vertices, rebuilt from the API
/// server's objects and the agents' pods at every refresh and read without locks.
final class ResolutionIndex: Sendable {
    let podsByUID: [String: PodIdentity]
    let podsByAddress: [NetworkAddress: PodIdentity]
    let hostPods: [HostPortKey: PodIdentity]
    let servicesByAddress: [NetworkAddress: GraphEntity]
    let nodesByAddress: [NetworkAddress: String]
    /// Nodes with a reporting agent: a connection whose other end runs there is counted by
    /// that end's agent too.
    let reportingNodes: Set<String>
    /// When each pod address was last seen in the cluster (Unix seconds), so that the
    /// address of a pod that restarted elsewhere keeps resolving for a while.
    let addressSeen: [NetworkAddress: Double]

    init(podsByUID: [String: PodIdentity] = [:], podsByAddress: [NetworkAddress: PodIdentity] = [:], hostPods: [HostPortKey: PodIdentity] = [:],
         servicesByAddress: [NetworkAddress: GraphEntity] = [:], nodesByAddress: [NetworkAddress: String] = [:],
         reportingNodes: Set<String> = [], addressSeen: [NetworkAddress: Double] = [:]) {
        self.podsByUID = podsByUID
        self.podsByAddress = podsByAddress
        self.hostPods = hostPods
        self.servicesByAddress = servicesByAddress
        self.nodesByAddress = nodesByAddress
        self.reportingNodes = reportingNodes
        self.addressSeen = addressSeen
    }

    static let empty = ResolutionIndex()

    /// Builds the index from the informers (authoritative) and the pods the agents report
    /// (for pods the informers do not know, and for clusters watched without informers).
    /// Addresses of pods gone from `previous` keep resolving for `grace` seconds unless a
    /// new pod took them.
    static func build(cluster: (any ClusterView)?, agentPods: [String: [PodIdentity]], now: Double,
                      previous: ResolutionIndex, grace: Double) -> ResolutionIndex {
        // Sized up front: these are rebuilt every refresh at 150,000 pods, and growing them
        // by doubling rehashed every entry several times over.
        let listedPods = cluster?.allPods() ?? []
        var pods = [String: PodIdentity](minimumCapacity: max(listedPods.count, agentPods.values.reduce(0) { $0 + $1.count }))
        for (_, list) in agentPods { for pod in list { pods[pod.uid] = pod } }
        var nodesByAddress: [NetworkAddress: String] = [:]
        if let cluster {
            for node in cluster.allNodes() ?? [] {
                for address in node.addresses where address.type == "InternalIP" || address.type == "ExternalIP" {
                    if let ip = NetworkAddress(address.address) { nodesByAddress[ip] = node.metadata.name }
                }
            }
            for pod in listedPods where !pod.podIP.isEmpty && pod.phase != "Succeeded" && pod.phase != "Failed" {
                // An unchanged object is reused (110,000 pods every refresh otherwise).
                if let old = previous.podsByUID[pod.uid], !old.resourceVersion.isEmpty, old.resourceVersion == pod.metadata.resourceVersion {
                    pods[pod.uid] = old
                    continue
                }
                var ports: Set<ProtocolPort> = []
                for container in pod.containers {
                    for port in container.ports {
                        let number = pod.hostNetwork && port.hostPort > 0 ? port.hostPort : port.containerPort
                        if number > 0 && number <= 65535 { ports.insert(ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(number))) }
                    }
                }
                let workload = cluster.workload(of: pod).map { owner in
                    owner.kind == "ReplicaSet" || owner.kind == "Job" ? PodIdentity.workload(controller: owner, labels: pod.metadata.labels) ?? owner : owner
                }
                let addresses = Set(([pod.podIP] + pod.podIPs).compactMap { NetworkAddress($0) })
                pods[pod.uid] = PodIdentity(uid: pod.uid, namespace: pod.namespace, name: pod.name, node: pod.nodeName, hostNetwork: pod.hostNetwork,
                                            addresses: Array(addresses), workload: workload, services: [], ports: ports,
                                            resourceVersion: pod.metadata.resourceVersion)
            }
        }
        // Service membership and host-network ports from the EndpointSlices.
        var memberships: [String: [String: ServiceMembership]] = [:]  // pod uid -> "ns/name" -> membership
        var servicesByAddress: [NetworkAddress: GraphEntity] = [:]
        var hostPorts: [(HostPortKey, String)] = []
        if let cluster {
            for service in cluster.allServices() ?? [] {
                let entity = GraphEntity(.service, namespace: service.metadata.namespace, name: service.metadata.name)
                for ip in service.clusterIPs { if let address = NetworkAddress(ip) { servicesByAddress[address] = entity } }
            }
            var podsByAddress = [NetworkAddress: String](minimumCapacity: pods.count)
            for pod in pods.values where !pod.hostNetwork {
                for address in pod.addresses where podsByAddress[address] == nil { podsByAddress[address] = pod.uid }
            }
            for slice in cluster.allEndpointSlices() ?? [] {
                guard let service = slice.serviceName else { continue }
                let ports = Set(slice.ports.compactMap { port -> ProtocolPort? in
                    port.port > 0 && port.port <= 65535 ? ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(port.port)) : nil
                })
                for endpoint in slice.endpoints {
                    var uid = endpoint.targetRef.flatMap { $0.kind == "Pod" ? $0.uid : nil }
                    if uid?.isEmpty ?? true, let address = endpoint.addresses.first.flatMap(NetworkAddress.init) { uid = podsByAddress[address] }
                    guard let uid, !uid.isEmpty else { continue }
                    let key = "\(slice.metadata.namespace)/\(service)"
                    memberships[uid, default: [:]][key, default: ServiceMembership(namespace: slice.metadata.namespace, name: service, ports: [])].ports.formUnion(ports)
                    if pods[uid]?.hostNetwork == true {
                        for address in endpoint.addresses.compactMap(NetworkAddress.init) {
                            for port in ports { hostPorts.append((HostPortKey(address: address, port: port), uid)) }
                        }
                    }
                }
            }
        }
        // Memberships change with the EndpointSlices: a pod whose Services differ is rebuilt.
        for (uid, pod) in pods {
            let wanted = memberships[uid].map { PodIdentity.ordered(Array($0.values)) } ?? []
            if pod.services != wanted { pods[uid] = pod.with(services: wanted) }
        }
        var byAddress = [NetworkAddress: PodIdentity](minimumCapacity: pods.count + previous.podsByAddress.count / 16)
        var hostPods: [HostPortKey: PodIdentity] = [:]
        var seen = [NetworkAddress: Double](minimumCapacity: pods.count + previous.podsByAddress.count / 16)
        // Running pods first; a newer pod with the same address replaces an old one below.
        for pod in pods.values {
            if pod.hostNetwork {
                for address in pod.addresses {
                    for port in pod.ports { hostPods[HostPortKey(address: address, port: port)] = pod }
                }
            } else {
                for address in pod.addresses {
                    byAddress[address] = pod
                    seen[address] = now
                }
            }
        }
        for (key, uid) in hostPorts { if let pod = pods[uid] { hostPods[key] = pod } }
        // A pod that went away (restarted with a new address) keeps its old address for the
        // grace period: its closing connections still resolve to its workload.
        for (address, pod) in previous.podsByAddress where byAddress[address] == nil {
            let last = previous.addressSeen[address] ?? now
            if now - last <= grace {
                byAddress[address] = pod
                seen[address] = last
            }
        }
        return ResolutionIndex(podsByUID: pods, podsByAddress: byAddress, hostPods: hostPods, servicesByAddress: servicesByAddress,
                               nodesByAddress: nodesByAddress, reportingNodes: Set(agentPods.keys), addressSeen: seen)
    }

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
