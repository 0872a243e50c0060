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
    /// Every Node, Service and EndpointSlice object (nil when not watched).
    func allNodes() -> [Node]?
    func allServices() -> [KubernetesService]?
    func allEndpointSlices() -> [EndpointSlice]?
}

/// One refresh's look at the cluster: the lists (every pod, node, service, endpoint slice)
/// are copied out of the informers once and shared by the live view and the graph, which
/// both read all of them; single lookups go to the informers.
public final class RefreshClusterView: ClusterView {
    let base: any ClusterView
    private let pods = Mutex<[Pod]??>(nil)
    private let nodes = Mutex<[Node]??>(nil)
    private let services = Mutex<[KubernetesService]??>(nil)
    private let slices = Mutex<[EndpointSlice]??>(nil)

    public init(_ base: any ClusterView) { self.base = base }

    /// The cell's list, read from the informers the first time.
    private static func once<T: Sendable>(_ cell: borrowing Mutex<T??>, _ read: () -> T?) -> T? {
        cell.withLock { cached in
            if let cached { return cached }
            let value = read()
            cached = .some(value)
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
    public func allPods() -> [Pod]? { Self.once(pods) { base.allPods() } }
    public func allNodes() -> [Node]? { Self.once(nodes) { base.allNodes() } }
    public func allServices() -> [KubernetesService]? { Self.once(services) { base.allServices() } }
    public func allEndpointSlices() -> [EndpointSlice]? { Self.once(slices) { base.allEndpointSlices() } }
}

extension ClusterView {
    public func node(named name: String) -> Node? { nil }
    public func pod(namespace: String, name: String) -> Pod? { nil }
    public func replicaSet(namespace: String, name: String) -> ReplicaSet? { nil }
    public func allPods() -> [Pod]? { nil }
    public func allNodes() -> [Node]? { nil }
    public func allServices() -> [KubernetesService]? { nil }
    public func allEndpointSlices() -> [EndpointSlice]? { nil }

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
    public func allNodes() -> [Node]? { nodes.objectsList() }
    public func allServices() -> [KubernetesService]? { services.objectsList() }
    public func allEndpointSlices() -> [EndpointSlice]? { endpointSlices.objectsList() }
}
