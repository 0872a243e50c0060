import Aggregator
import Kubernetes
import Wire

/// A cluster whose API server lists the agents' pods (each with its ReplicaSet, an address
/// and one container status), as a refresh's copy of the informers' list; with the pod
/// informer's change log (`changePods` modifies some, as watch events would).
public final class ListedPods: ClusterView, @unchecked Sendable {
    public private(set) var pods: [Pod]
    private var changed: [ObjectKey] = []
    private var versions = 1
    public init(_ pods: [(namespace: String, name: String, uid: String, node: String, ip: String)]) {
        self.pods = pods.map { listed in
            var pod = Pod()
            pod.metadata.name = listed.name
            pod.metadata.namespace = listed.namespace
            pod.metadata.uid = listed.uid
            pod.metadata.resourceVersion = "1"
            pod.metadata.labels = ["app": listed.name, "pod-template-hash": "5d8f"]
            pod.metadata.ownerReferences = [OwnerReference(kind: "ReplicaSet", name: "app-5d8f", uid: "rs", controller: true)]
            pod.nodeName = listed.node
            pod.phase = "Running"
            pod.podIP = listed.ip
            var status = ContainerStatus()
            status.name = "main"
            status.containerID = String(repeating: "ab", count: 32)
            status.restartCount = 1
            pod.containerStatuses = [status]
            return pod
        }
    }
    public convenience init(_ nodes: [NodeSample]) {
        self.init(nodes.enumerated().flatMap { n, node in
            node.pods.enumerated().map { p, pod in (pod.namespace, pod.name, pod.uid, node.name, "10.\(n / 250).\(n % 250).\(p + 1)") }
        })
    }
    public convenience init(_ batches: [Agent_V1_Batch]) {
        self.init(batches.flatMap { batch in batch.pods.map { ($0.namespace, $0.name, $0.uid, batch.nodeName, $0.ip) } })
    }
    public func resources(_ kind: ResourceKind) -> [CachedResource]? { nil }
    public func namespaceLabels(_ name: String) -> [String: String]? { nil }
    public func namespaceOwners(label: String) -> Set<String> { [] }
    public func deployment(namespace: String, name: String) -> Deployment? { nil }
    public var isSynced: Bool { true }
    public func allPods() -> [Pod]? { pods }
    /// As the informers keep them: an entry per key, taken by reference (made at the first
    /// call; `changePods` keeps them once made).
    public func podEntries() -> (entries: [ObjectKey: Informer<Pod>.Entry], count: Int?)? {
        if entries == nil {
            entries = Dictionary(pods.map { (ObjectKey($0.metadata), Informer<Pod>.Entry(object: $0, raw: StoredJSON([]))) }, uniquingKeysWith: { first, _ in first })
        }
        return (entries!, changed.count)
    }
    private var entries: [ObjectKey: Informer<Pod>.Entry]?
    public func pod(namespace: String, name: String) -> Pod? {
        guard let index = places[ObjectKey(namespace, name)] else { return nil }
        return pods[index]
    }
    private lazy var places: [ObjectKey: Int] = Dictionary(pods.indices.map { (ObjectKey(pods[$0].namespace, pods[$0].name), $0) }, uniquingKeysWith: { $1 })
    public func changes(_ kind: ResourceKind, since revision: Int) -> (revision: Int, keys: [ObjectKey])? {
        guard kind == .pods, revision <= changed.count else { return nil }
        return (changed.count, Array(changed[revision...]))
    }
    /// Pods' changes counted; no ReplicaSet or Node ever changes (there are none).
    public func changeCount(_ kind: ResourceKind) -> Int? { kind == .pods ? changed.count : kind == .replicaSets || kind == .nodes ? 0 : nil }

    /// A new resourceVersion for `count` pods, spread over the list (a status update each).
    public func changePods(_ count: Int) {
        versions += 1
        for n in 0..<count {
            let index = (n * pods.count / max(count, 1) + versions) % pods.count
            pods[index].metadata.resourceVersion = "\(versions)"
            changed.append(ObjectKey(pods[index].namespace, pods[index].name))
            entries?[ObjectKey(pods[index].metadata)] = Informer<Pod>.Entry(object: pods[index], raw: StoredJSON([]))
        }
    }
}
