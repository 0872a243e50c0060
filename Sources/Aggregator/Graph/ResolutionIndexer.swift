import Kubernetes

/// A node's pods as its agent reported them, by uid, with a version that moves only when
/// they are not the same identity objects as in the node's previous snapshot.
struct AgentPods: Sendable {
    var version: UInt64
    var byUID: [String: AgentPod]
}

/// Keeps the graph's resolution index from one refresh to the next, changing only what
/// changed: the pods and EndpointSlices the informers changed since the last refresh (their
/// change logs, `ClusterView.changes`), the nodes whose agents reported a different pod
/// list, the Nodes' and Services' maps when their caches moved. At 150,000 pods a rebuild
/// from every pod at every refresh was a tenth of the aggregator's CPU, with a cluster that
/// did not change at all; now a refresh costs its changes, and a copy of the maps it
/// changed (the readers of the previous index keep theirs).
///
/// Without change logs (a `ClusterView` that does not count changes, or an informer that
/// listed again) it reads the whole lists, as the first refresh does, and still changes only
/// the pods whose identity differs. Used by one refresh at a time.
struct ResolutionIndexer {
    /// The informers' running pods with an address, as identities without Services: by
    /// key (what a changed key was) and by uid.
    private var listedByKey: [ObjectKey: PodIdentity] = [:]
    private var listedByUID: [String: PodIdentity] = [:]
    /// The listed pods' names by the ReplicaSet that controls them.
    private var podsByReplicaSet: [ObjectKey: Set<String>] = [:]
    /// Each node's pods as its agent last reported them (by uid), and by uid across nodes
    /// (a pod two agents report is the one of the node whose list changed last).
    private var agentByNode: [String: AgentPods] = [:]
    private var agentByUID: [String: PodIdentity] = [:]
    /// What each EndpointSlice says, and per pod uid the slices that list it by reference.
    private var slices: [ObjectKey: SliceMembers] = [:]
    private var slicesByUID: [String: [SliceMember]] = [:]
    /// Slices that list endpoints by address only, and the pods those addresses were last.
    private var addressSlices: Set<ObjectKey> = []
    private var addressMembers: [String: [ServiceMembership]] = [:]

    private var podsByUID: [String: PodIdentity] = [:]
    private var podsByAddress: [NetworkAddress: PodIdentity] = [:]
    private var hostPods: [HostPortKey: PodIdentity] = [:]
    private var servicesByAddress: [NetworkAddress: GraphEntity] = [:]
    private var nodesByAddress: [NetworkAddress: String] = [:]
    private var reportingNodes: Set<String> = []
    /// Addresses of pods that went away or moved, still resolving to them for the grace
    /// period: when the pod last had it (the refresh before it went).
    private var released: [NetworkAddress: Double] = [:]

    /// The change counts the maps are as of (nil: read the whole list next time).
    private var podRevision: Int?
    private var sliceRevision: Int?
    private var nodeRevision: Int?
    private var serviceRevision: Int?
    private var replicaSetRevision: Int?
    private var lastRefresh: Double?
    private(set) var published = ResolutionIndex.empty

    /// An EndpointSlice's Service membership for the pods it lists by reference (uid) and
    /// for the addresses it lists without one.
    struct SliceMember: Equatable {
        var slice: ObjectKey
        var uid: String
        var membership: ServiceMembership
    }

    struct SliceMembers: Equatable {
        var byReference: [SliceMember] = []
        var byAddress: [NetworkAddress] = []
        var membership: ServiceMembership?
    }

    /// Brings the index up to date; returns it (the same object when nothing changed).
    /// Addresses of pods gone keep resolving for `grace` seconds unless a new pod took them.
    mutating func update(cluster: (any ClusterView)?, agentPods: [String: AgentPods], now: Double, grace: Double) -> ResolutionIndex {
        var dirty = Set<String>()
        var changed = false
        updateListed(cluster, dirty: &dirty)
        changed = updateAgents(agentPods, dirty: &dirty) || changed
        if let cluster {
            // A map is current when its kind's count has not moved (an uncounted kind never is).
            let nodeCount = cluster.changeCount(.nodes)
            if nodeCount == nil || nodeCount != nodeRevision {
                nodesByAddress = [:]
                for node in cluster.allNodes() ?? [] {
                    for address in node.addresses where address.type == "InternalIP" || address.type == "ExternalIP" {
                        if let ip = NetworkAddress(address.address) { nodesByAddress[ip] = node.metadata.name }
                    }
                }
                nodeRevision = nodeCount
                changed = true
            }
            let serviceCount = cluster.changeCount(.services)
            if serviceCount == nil || serviceCount != serviceRevision {
                servicesByAddress = [:]
                for service in cluster.allServices() ?? [] {
                    let entity = GraphEntity(.service, namespace: service.metadata.namespace, name: service.metadata.name)
                    for ip in service.clusterIPs { if let address = NetworkAddress(ip) { servicesByAddress[address] = entity } }
                }
                serviceRevision = serviceCount
                changed = true
            }
        } else if !nodesByAddress.isEmpty || !servicesByAddress.isEmpty {
            (nodesByAddress, servicesByAddress, nodeRevision, serviceRevision) = ([:], [:], nil, nil)
            changed = true
        }
        updateSlices(cluster, dirty: &dirty)
        for uid in dirty { changed = apply(uid) || changed }
        // Endpoints listed by address name whichever pod has the address now.
        if !addressSlices.isEmpty || !addressMembers.isEmpty {
            var resolved: [String: [ServiceMembership]] = [:]
            for key in addressSlices {
                guard let members = slices[key], let membership = members.membership else { continue }
                for address in members.byAddress where released[address] == nil {
                    if let pod = podsByAddress[address] { resolved[pod.uid, default: []].append(membership) }
                }
            }
            var moved = Set<String>()
            for (uid, list) in resolved where addressMembers[uid] != list { moved.insert(uid) }
            for uid in addressMembers.keys where resolved[uid] == nil { moved.insert(uid) }
            addressMembers = resolved
            for uid in moved { changed = apply(uid) || changed }
        }
        // Released addresses past the grace period are nobody's.
        for (address, last) in released where now - last > grace {
            released[address] = nil
            podsByAddress[address] = nil
            changed = true
        }
        lastRefresh = now
        if changed {
            published = ResolutionIndex(podsByUID: podsByUID, podsByAddress: podsByAddress, hostPods: hostPods, servicesByAddress: servicesByAddress,
                                        nodesByAddress: nodesByAddress, reportingNodes: reportingNodes)
        }
        return published
    }

    // MARK: Sources

    /// The informers' pods: the changed keys and the pods of the changed ReplicaSets, or the
    /// whole list when there is no change log.
    private mutating func updateListed(_ cluster: (any ClusterView)?, dirty: inout Set<String>) {
        // The ReplicaSets first: one that changes while the pods are read is read again next time.
        let owners = replicaSetChanges(cluster)
        if let cluster, let since = podRevision, let changes = cluster.changes(.pods, since: since) {
            var keys = Set(changes.keys)
            switch owners {
            case .some(let changed):
                for set in changed { for name in podsByReplicaSet[set] ?? [] { keys.insert(ObjectKey(set.namespace, name)) } }
            case nil:
                for (key, identity) in listedByKey where identity.replicaSet != nil { keys.insert(key) }
            }
            for key in keys {
                let old = listedByKey[key]
                let new = cluster.pod(namespace: key.namespace, name: key.name).flatMap { Self.identity(of: $0, reusing: old, cluster: cluster) }
                if old === new { continue }
                if let old {
                    dirty.insert(old.uid)
                    if listedByUID[old.uid] === old { listedByUID[old.uid] = nil }
                }
                if let new {
                    dirty.insert(new.uid)
                    listedByUID[new.uid] = new
                }
                if old?.replicaSet != new?.replicaSet {
                    if let set = old?.replicaSet {
                        let setKey = ObjectKey(key.namespace, set)
                        podsByReplicaSet[setKey]?.remove(key.name)
                        if podsByReplicaSet[setKey]?.isEmpty == true { podsByReplicaSet[setKey] = nil }
                    }
                    if let set = new?.replicaSet { podsByReplicaSet[ObjectKey(key.namespace, set), default: []].insert(key.name) }
                }
                listedByKey[key] = new
            }
            podRevision = changes.revision
            return
        }
        let count = cluster?.changeCount(.pods)
        let list = cluster?.allPods()
        var fresh = [ObjectKey: PodIdentity](minimumCapacity: list?.count ?? 0)
        if let cluster, let list {
            // In place: an element read through another module's getter is a copy of the
            // whole pod.
            list.withUnsafeBufferPointer { pods in
                for index in pods.indices {
                    let key = ObjectKey(pods[index].namespace, pods[index].name)
                    if let identity = Self.identity(of: pods[index], reusing: listedByKey[key], cluster: cluster) { fresh[key] = identity }
                }
            }
        }
        for (key, old) in listedByKey where fresh[key] !== old { dirty.insert(old.uid) }
        var byUID = [String: PodIdentity](minimumCapacity: fresh.count)
        var byReplicaSet: [ObjectKey: Set<String>] = [:]
        for (key, new) in fresh {
            if listedByKey[key] !== new { dirty.insert(new.uid) }
            byUID[new.uid] = new
            if let set = new.replicaSet { byReplicaSet[ObjectKey(key.namespace, set), default: []].insert(key.name) }
        }
        listedByKey = fresh
        listedByUID = byUID
        podsByReplicaSet = byReplicaSet
        podRevision = list == nil ? nil : count
    }

    /// The ReplicaSets changed since the last refresh (nil: any may have; the first
    /// refresh reads every pod anyway).
    private mutating func replicaSetChanges(_ cluster: (any ClusterView)?) -> Set<ObjectKey>? {
        let count = cluster?.changeCount(.replicaSets)
        defer { replicaSetRevision = count }
        guard let cluster, let since = replicaSetRevision else { return count == nil ? nil : [] }
        if count == since { return [] }
        return cluster.changes(.replicaSets, since: since).map { Set($0.keys) }
    }

    /// A running pod with an address as the graph knows it (`previous` when its
    /// resourceVersion and its workload are the same); nil for others.
    static func identity(of pod: Pod, reusing previous: PodIdentity?, cluster: any ClusterView) -> PodIdentity? {
        guard !pod.podIP.isEmpty, pod.phase != "Succeeded", pod.phase != "Failed" else { return nil }
        // The workload is read through the pod's ReplicaSet, another object: a pod listed
        // before its ReplicaSet has the name's guess until the ReplicaSet comes.
        let controller = pod.metadata.controller
        let workload = cluster.workload(namespace: pod.namespace, controller: controller).map { owner in
            owner.kind == "ReplicaSet" || owner.kind == "Job" ? PodIdentity.workload(controller: owner, labels: pod.metadata.labels) ?? owner : owner
        }
        if let previous, previous.uid == pod.uid, !previous.resourceVersion.isEmpty, previous.resourceVersion == pod.metadata.resourceVersion,
           previous.workload == workload {
            return previous
        }
        var ports: Set<ProtocolPort> = []
        for container in pod.containers {
            for port in container.ports {
                let number = pod.hostNetwork && port.hostPort > 0 ? port.hostPort : port.containerPort
                if number > 0 && number <= 65535 { ports.insert(ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(number))) }
            }
        }
        let addresses = Set(([pod.podIP] + pod.podIPs).compactMap { NetworkAddress($0) })
        return PodIdentity(uid: pod.uid, namespace: pod.namespace, name: pod.name, node: pod.nodeName, hostNetwork: pod.hostNetwork,
                           addresses: Array(addresses), workload: workload, services: [], ports: ports,
                           resourceVersion: pod.metadata.resourceVersion, replicaSet: controller?.kind == "ReplicaSet" ? controller?.name : nil)
    }

    /// The agents' pods: the nodes whose pods' version moved. Returns whether the set of
    /// reporting nodes changed.
    private mutating func updateAgents(_ agentPods: [String: AgentPods], dirty: inout Set<String>) -> Bool {
        var nodesChanged = false
        for (node, pods) in agentPods {
            let old = agentByNode[node]
            if let old, old.version == pods.version { continue }
            if old == nil { nodesChanged = true }
            for pod in (old?.byUID ?? [:]).values.lazy.map(\.identity) where agentByUID[pod.uid] === pod {
                agentByUID[pod.uid] = nil
                dirty.insert(pod.uid)
            }
            for pod in pods.byUID.values.lazy.map(\.identity) {
                agentByUID[pod.uid] = pod
                dirty.insert(pod.uid)
            }
            agentByNode[node] = pods
        }
        for (node, old) in agentByNode where agentPods[node] == nil {
            nodesChanged = true
            agentByNode[node] = nil
            for pod in old.byUID.values.lazy.map(\.identity) where agentByUID[pod.uid] === pod {
                agentByUID[pod.uid] = nil
                dirty.insert(pod.uid)
            }
        }
        if nodesChanged { reportingNodes = Set(agentByNode.keys) }
        return nodesChanged
    }

    /// The EndpointSlices: the changed keys, or the whole list when there is no change log.
    private mutating func updateSlices(_ cluster: (any ClusterView)?, dirty: inout Set<String>) {
        if let cluster, let since = sliceRevision, let changes = cluster.changes(.endpointSlices, since: since) {
            for key in Set(changes.keys) {
                setSlice(key, cluster.endpointSlice(namespace: key.namespace, name: key.name).map { Self.members(of: $0, key: key) }, dirty: &dirty)
            }
            sliceRevision = changes.revision
            return
        }
        let count = cluster?.changeCount(.endpointSlices)
        let list = cluster?.allEndpointSlices()
        var fresh: [ObjectKey: SliceMembers] = [:]
        for slice in list ?? [] {
            let key = ObjectKey(slice.metadata)
            fresh[key] = Self.members(of: slice, key: key)
        }
        for key in Set(slices.keys).union(fresh.keys) { setSlice(key, fresh[key], dirty: &dirty) }
        sliceRevision = list == nil ? nil : count
    }

    static func members(of slice: EndpointSlice, key: ObjectKey) -> SliceMembers {
        guard let service = slice.serviceName else { return SliceMembers() }
        let ports = Set(slice.ports.compactMap { port -> ProtocolPort? in
            port.port > 0 && port.port <= 65535 ? ProtocolPort(transport: ProtocolPort.transport(port.protocol), port: UInt16(port.port)) : nil
        })
        let membership = ServiceMembership(namespace: slice.metadata.namespace, name: service, ports: ports)
        var members = SliceMembers(membership: membership)
        for endpoint in slice.endpoints {
            if let uid = endpoint.targetRef.flatMap({ $0.kind == "Pod" ? $0.uid : nil }), !uid.isEmpty {
                members.byReference.append(SliceMember(slice: key, uid: uid, membership: membership))
            } else if let address = endpoint.addresses.first.flatMap(NetworkAddress.init) {
                members.byAddress.append(address)
            }
        }
        return members
    }

    private mutating func setSlice(_ key: ObjectKey, _ new: SliceMembers?, dirty: inout Set<String>) {
        let old = slices[key]
        if old == new { return }
        for member in old?.byReference ?? [] {
            slicesByUID[member.uid]?.removeAll { $0.slice == key }
            if slicesByUID[member.uid]?.isEmpty == true { slicesByUID[member.uid] = nil }
            dirty.insert(member.uid)
        }
        for member in new?.byReference ?? [] {
            slicesByUID[member.uid, default: []].append(member)
            dirty.insert(member.uid)
        }
        slices[key] = new
        if new?.byAddress.isEmpty ?? true { addressSlices.remove(key) } else { addressSlices.insert(key) }
    }

    // MARK: The maps

    /// A pod's Services: every slice's membership, a Service's ports united across its slices.
    private func services(of uid: String) -> [ServiceMembership] {
        var merged: [ServiceMembership] = []
        func add(_ membership: ServiceMembership) {
            if let index = merged.firstIndex(where: { $0.namespace == membership.namespace && $0.name == membership.name }) {
                merged[index].ports.formUnion(membership.ports)
            } else {
                merged.append(membership)
            }
        }
        for member in slicesByUID[uid] ?? [] { add(member.membership) }
        for membership in addressMembers[uid] ?? [] { add(membership) }
        return PodIdentity.ordered(merged)
    }

    /// Puts a pod's current identity (the informers', else an agent's; with its Services)
    /// in the maps. Returns whether anything changed.
    private mutating func apply(_ uid: String) -> Bool {
        let old = podsByUID[uid]
        var new: PodIdentity?
        if let base = listedByUID[uid] ?? agentByUID[uid] {
            let wanted = services(of: uid)
            if base.services == wanted { new = base }
            else if let old, old.source === base, old.services == wanted { new = old }
            else { new = base.with(services: wanted) }
        }
        if old === new { return false }
        if let old {
            if old.hostNetwork {
                for key in Self.hostKeys(old) where hostPods[key] === old { hostPods[key] = nil }
            } else {
                // Its addresses keep resolving to it for the grace period (closing
                // connections), unless the new identity takes them below.
                for address in old.addresses where podsByAddress[address] === old {
                    if let last = lastRefresh { released[address] = last } else { podsByAddress[address] = nil }
                }
            }
        }
        podsByUID[uid] = new
        if let new {
            if new.hostNetwork {
                for key in Self.hostKeys(new) { hostPods[key] = new }
            } else {
                for address in new.addresses {
                    podsByAddress[address] = new
                    released[address] = nil
                }
            }
        }
        return true
    }

    /// A host-network pod is found by its address and one of its ports: its declared ones
    /// and those its Services' EndpointSlices list.
    static func hostKeys(_ pod: PodIdentity) -> [HostPortKey] {
        var ports = pod.ports
        for service in pod.services { ports.formUnion(service.ports) }
        return pod.addresses.flatMap { address in ports.map { HostPortKey(address: address, port: $0) } }
    }
}
