import Kubernetes
import Logging
import ServiceLifecycle
import Synchronization

/// One cached object as readers of the resource API need it.
public struct CachedResource: Sendable {
    public var namespace: String
    public var name: String
    public var labels: [String: String]
    /// For pods: the node they run on.
    public var nodeName: String
    /// The object as the API server sent it (without kind/apiVersion/managedFields).
    public var raw: StoredJSON

    public init(namespace: String, name: String, labels: [String: String], nodeName: String = "", raw: StoredJSON) {
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.nodeName = nodeName
        self.raw = raw
    }
}

/// What the API reads about the cluster; the informers are the real one.
public protocol ClusterView: Sendable {
    /// Cached objects of a kind, nil for a kind that is not cached.
    func resources(_ kind: ResourceKind) -> [CachedResource]?
    /// A namespace's labels, nil when the namespace is unknown.
    func namespaceLabels(_ name: String) -> [String: String]?
    /// User ids that own a namespace by label.
    func namespaceOwners(label: String) -> Set<String>
    func deployment(namespace: String, name: String) -> Deployment?
    /// Every informer has listed once.
    var isSynced: Bool { get }
    /// The Node object of that name.
    func node(named name: String) -> Node?
    /// The Pod object, nil when unknown.
    func pod(namespace: String, name: String) -> Pod?
    func replicaSet(namespace: String, name: String) -> ReplicaSet?
    /// Every Pod object; nil when pods are not watched or not yet listed (so absence from
    /// this list means nothing).
    func allPods() -> [Pod]?
    /// Every Pod's cache entry by key, taken by reference (no pod copied), with the pods'
    /// change count read just before it (the entries hold every change up to it); nil when
    /// pods are not watched or not yet listed. By default made from `allPods()` (a key
    /// listed twice: the first).
    func podEntries() -> (entries: [ObjectKey: Informer<Pod>.Entry], count: Int?)?
    /// Every Node, Service and EndpointSlice object (nil when not watched).
    func allNodes() -> [Node]?
    func allServices() -> [KubernetesService]?
    func allEndpointSlices() -> [EndpointSlice]?
    /// The EndpointSlice object, nil when unknown.
    func endpointSlice(namespace: String, name: String) -> EndpointSlice?
    /// The keys of the pods, endpoint slices or replica sets added, modified or deleted after change
    /// `revision` of that kind's cache (a count from `changeCount` or from here), and the
    /// newest change's number; nil when that is not known (every object may have changed:
    /// read the list). Readers that keep something per object update it from these.
    func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])?
    /// The number of the newest change to a kind's cache (pods, nodes, services, endpoint
    /// slices, replica sets); nil when not counted (then read the lists every time).
    func changeCount(_ kind: ResourceKind) -> Int?
}

/// One refresh's look at the cluster: the lists (every pod, node, service, endpoint slice)
/// are copied out of the informers once and shared by the live view and the graph, which
/// both read all of them; single lookups go to the informers.
public final class RefreshClusterView: ClusterView {
    let base: any ClusterView
    private let pods = Mutex<Snapshot<[Pod]>?>(nil)
    private let nodes = Mutex<Snapshot<[Node]>?>(nil)
    private let services = Mutex<Snapshot<[KubernetesService]>?>(nil)
    private let slices = Mutex<Snapshot<[EndpointSlice]>?>(nil)

    /// A list as read once, with the informer's change count read just before it: the list
    /// has every change up to that count (and maybe some after, which a reader of the
    /// changes since that count sees again).
    private struct Snapshot<T: Sendable>: Sendable {
        var list: T?
        var count: Int?
    }

    public init(_ base: any ClusterView) { self.base = base }

    /// The cell's list, read from the informers the first time.
    private func once<T: Sendable>(_ cell: borrowing Mutex<Snapshot<T>?>, _ kind: ResourceKind, _ read: () -> T?) -> Snapshot<T> {
        cell.withLock { cached in
            if let cached { return cached }
            let count = base.changeCount(kind)
            let value = Snapshot(list: read(), count: count)
            cached = value
            return value
        }
    }

    public func resources(_ kind: ResourceKind) -> [CachedResource]? { base.resources(kind) }
    public func namespaceLabels(_ name: String) -> [String: String]? { base.namespaceLabels(name) }
    public func namespaceOwners(label: String) -> Set<String> { base.namespaceOwners(label: label) }
    public func deployment(namespace: String, name: String) -> Deployment? { base.deployment(namespace: namespace, name: name) }
    public var isSynced: Bool { base.isSynced }
    public func node(named name: String) -> Node? { base.node(named: name) }
    public func pod(namespace: String, name: String) -> Pod? { base.pod(namespace: namespace, name: name) }
    public func replicaSet(namespace: String, name: String) -> ReplicaSet? { base.replicaSet(namespace: namespace, name: name) }
    private var podList: Snapshot<[Pod]> { once(pods, .pods) { base.allPods() } }
    private var nodeList: Snapshot<[Node]> { once(nodes, .nodes) { base.allNodes() } }
    private var serviceList: Snapshot<[KubernetesService]> { once(services, .services) { base.allServices() } }
    private var sliceList: Snapshot<[EndpointSlice]> { once(slices, .endpointSlices) { base.allEndpointSlices() } }
    public func allPods() -> [Pod]? { podList.list }
    public func podEntries() -> (entries: [ObjectKey: Informer<Pod>.Entry], count: Int?)? { base.podEntries() }
    public func allNodes() -> [Node]? { nodeList.list }
    public func allServices() -> [KubernetesService]? { serviceList.list }
    public func allEndpointSlices() -> [EndpointSlice]? { sliceList.list }
    public func endpointSlice(namespace: String, name: String) -> EndpointSlice? { base.endpointSlice(namespace: namespace, name: name) }
    public func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])? { base.changes(kind, since: revision) }
    /// The count the view's list of that kind was read at (reading the list if not yet).
    public func changeCount(_ kind: ResourceKind) -> Int? {
        switch kind {
        case .pods: podList.count
        case .nodes: nodeList.count
        case .services: serviceList.count
        case .endpointSlices: sliceList.count
        default: base.changeCount(kind)
        }
    }
}

extension ClusterView {
    public func node(named name: String) -> Node? { nil }
    public func pod(namespace: String, name: String) -> Pod? { nil }
    public func replicaSet(namespace: String, name: String) -> ReplicaSet? { nil }
    public func allPods() -> [Pod]? { nil }
    public func podEntries() -> (entries: [ObjectKey: Informer<Pod>.Entry], count: Int?)? {
        let count = changeCount(.pods)
        guard let pods = allPods() else { return nil }
        var entries = [ObjectKey: Informer<Pod>.Entry](minimumCapacity: pods.count)
        for pod in pods where entries[ObjectKey(pod.metadata)] == nil { entries[ObjectKey(pod.metadata)] = Informer<Pod>.Entry(object: pod, raw: StoredJSON([])) }
        return (entries, count)
    }
    public func allNodes() -> [Node]? { nil }
    public func allServices() -> [KubernetesService]? { nil }
    public func allEndpointSlices() -> [EndpointSlice]? { nil }
    public func endpointSlice(namespace: String, name: String) -> EndpointSlice? { nil }
    public func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])? { nil }
    public func changeCount(_ kind: ResourceKind) -> Int? { nil }

    /// The workload that owns a pod: its controller, and a ReplicaSet's own controller (a
    /// Deployment) when the ReplicaSet is known.
    public func workload(of pod: Pod) -> OwnerReference? { workload(namespace: pod.namespace, controller: pod.metadata.controller) }

    /// The same from the pod's namespace and controller (no copy of the whole pod).
    public func workload(namespace: String, controller: OwnerReference?) -> OwnerReference? {
        guard let owner = controller else { return nil }
        if owner.kind == "ReplicaSet", let set = replicaSet(namespace: namespace, name: owner.name), let parent = set.metadata.controller {
            return parent
        }
        return owner
    }
}

/// The aggregator's one watch of the API server: an informer per kind, shared by every reader.
public final class ClusterInformers: ClusterView, ServiceLifecycle.Service {
    public let pods: Informer<Pod>
    public let nodes: Informer<Node>
    public let services: Informer<KubernetesService>
    public let endpointSlices: Informer<EndpointSlice>
    public let deployments: Informer<Deployment>
    public let replicaSets: Informer<ReplicaSet>
    public let namespaces: Informer<Namespace>
    public let persistentVolumeClaims: Informer<PersistentVolumeClaim>
    public let ingresses: Informer<Ingress>
    private let client: APIClient

    public init(client: APIClient, configuration: InformerConfiguration = .init(), logger: Logger) {
        self.client = client
        pods = Informer(client: client, configuration: configuration, logger: logger)
        nodes = Informer(client: client, configuration: configuration, logger: logger)
        services = Informer(client: client, configuration: configuration, logger: logger)
        endpointSlices = Informer(client: client, configuration: configuration, logger: logger)
        deployments = Informer(client: client, configuration: configuration, logger: logger)
        replicaSets = Informer(client: client, configuration: configuration, logger: logger)
        namespaces = Informer(client: client, configuration: configuration, logger: logger)
        persistentVolumeClaims = Informer(client: client, configuration: configuration, logger: logger)
        ingresses = Informer(client: client, configuration: configuration, logger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.pods.run() }
            group.addTask { try await self.nodes.run() }
            group.addTask { try await self.services.run() }
            group.addTask { try await self.endpointSlices.run() }
            group.addTask { try await self.deployments.run() }
            group.addTask { try await self.replicaSets.run() }
            group.addTask { try await self.namespaces.run() }
            group.addTask { try await self.persistentVolumeClaims.run() }
            group.addTask { try await self.ingresses.run() }
        }
    }

    public var isSynced: Bool {
        pods.synced.value && nodes.synced.value && services.synced.value && endpointSlices.synced.value && deployments.synced.value
            && replicaSets.synced.value && namespaces.synced.value && persistentVolumeClaims.synced.value && ingresses.synced.value
    }

    /// Kinds not yet synced, for `/readyz`.
    public var unsynced: [String] {
        [(pods.kind, pods.synced.value), (nodes.kind, nodes.synced.value), (services.kind, services.synced.value),
         (endpointSlices.kind, endpointSlices.synced.value), (deployments.kind, deployments.synced.value),
         (replicaSets.kind, replicaSets.synced.value), (namespaces.kind, namespaces.synced.value),
         (persistentVolumeClaims.kind, persistentVolumeClaims.synced.value), (ingresses.kind, ingresses.synced.value)]
            .filter { !$0.1 }.map(\.0.plural)
    }

    /// Kinds the API server is failing (errors, or expirations a new list does not cure):
    /// for how long and the last error. Their cached objects are still served.
    public var failing: [(kind: String, duration: Duration, error: String)] {
        let all: [(ResourceKind, (duration: Duration, error: String)?)] = [
            (pods.kind, pods.failure), (nodes.kind, nodes.failure), (services.kind, services.failure),
            (endpointSlices.kind, endpointSlices.failure), (deployments.kind, deployments.failure),
            (replicaSets.kind, replicaSets.failure), (namespaces.kind, namespaces.failure),
            (persistentVolumeClaims.kind, persistentVolumeClaims.failure), (ingresses.kind, ingresses.failure)]
        return all.compactMap { kind, failure in failure.map { (kind.plural, $0.duration, $0.error) } }
    }

    public func resources(_ kind: ResourceKind) -> [CachedResource]? {
        func map<T>(_ informer: Informer<T>, node: (T) -> String = { _ in "" }) -> [CachedResource] {
            informer.entries().map { entry in
                CachedResource(namespace: entry.object.metadata.namespace, name: entry.object.metadata.name,
                               labels: entry.object.metadata.labels, nodeName: node(entry.object), raw: entry.raw)
            }
        }
        switch kind {
        case .pods: return map(pods, node: \.nodeName)
        case .nodes: return map(nodes)
        case .services: return map(services)
        case .endpointSlices: return map(endpointSlices)
        case .deployments: return map(deployments)
        case .replicaSets: return map(replicaSets)
        case .namespaces: return map(namespaces)
        case .persistentVolumeClaims: return map(persistentVolumeClaims)
        case .ingresses: return map(ingresses)
        default: return nil
        }
    }

    public func namespaceLabels(_ name: String) -> [String: String]? {
        namespaces.get(namespace: "", name: name)?.object.metadata.labels
    }

    public func namespaceOwners(label: String) -> Set<String> {
        Set(namespaces.objectsList().compactMap { $0.metadata.labels[label] })
    }

    public func deployment(namespace: String, name: String) -> Deployment? {
        deployments.get(namespace: namespace, name: name)?.object
    }

    public func node(named name: String) -> Node? { nodes.get(namespace: "", name: name)?.object }
    public func pod(namespace: String, name: String) -> Pod? { pods.get(namespace: namespace, name: name)?.object }
    public func replicaSet(namespace: String, name: String) -> ReplicaSet? { replicaSets.get(namespace: namespace, name: name)?.object }
    public func allPods() -> [Pod]? { pods.synced.value ? pods.objectsList() : nil }
    public func podEntries() -> (entries: [ObjectKey: Informer<Pod>.Entry], count: Int?)? {
        guard pods.synced.value else { return nil }
        let count = pods.changeCount
        return (pods.entriesByKey(), count)
    }
    public func allNodes() -> [Node]? { nodes.objectsList() }
    public func allServices() -> [KubernetesService]? { services.objectsList() }
    public func allEndpointSlices() -> [EndpointSlice]? { endpointSlices.objectsList() }
    public func endpointSlice(namespace: String, name: String) -> EndpointSlice? {
        endpointSlices.get(namespace: namespace, name: name)?.object
    }
    /// Nothing before a kind's first list: until then every read is a whole one.
    public func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])? {
        switch kind {
        case .pods: pods.synced.value ? pods.changes(since: revision) : nil
        case .endpointSlices: endpointSlices.synced.value ? endpointSlices.changes(since: revision) : nil
        case .replicaSets: replicaSets.synced.value ? replicaSets.changes(since: revision) : nil
        default: nil
        }
    }
    public func changeCount(_ kind: ResourceKind) -> Int? {
        switch kind {
        case .nodes: nodes.changeCount
        case .services: services.changeCount
        case .endpointSlices: endpointSlices.changeCount
        case .pods: pods.changeCount
        case .replicaSets: replicaSets.changeCount
        default: nil
        }
    }
}
