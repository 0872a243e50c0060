/// A Kubernetes resource type: where it is listed and watched.
public struct ResourceKind: Sendable, Hashable, CustomStringConvertible {
    /// `pods`, `endpointslices`, ...
    public var plural: String
    /// `Pod`, `EndpointSlice`, ...
    public var kind: String
    /// `""` (core), `apps`, `discovery.k8s.io`, `networking.k8s.io`.
    public var group: String
    public var version: String
    public var namespaced: Bool

    public init(plural: String, kind: String, group: String = "", version: String = "v1", namespaced: Bool = true) {
        self.plural = plural
        self.kind = kind
        self.group = group
        self.version = version
        self.namespaced = namespaced
    }

    /// The cluster-wide collection path: `/api/v1/pods`, `/apis/apps/v1/deployments`.
    public var path: String { group.isEmpty ? "/api/\(version)/\(plural)" : "/apis/\(group)/\(version)/\(plural)" }
    public var description: String { plural }

    public static let pods = ResourceKind(plural: "pods", kind: "Pod")
    public static let nodes = ResourceKind(plural: "nodes", kind: "Node", namespaced: false)
    public static let services = ResourceKind(plural: "services", kind: "Service")
    public static let endpointSlices = ResourceKind(plural: "endpointslices", kind: "EndpointSlice", group: "discovery.k8s.io")
    public static let deployments = ResourceKind(plural: "deployments", kind: "Deployment", group: "apps")
    public static let replicaSets = ResourceKind(plural: "replicasets", kind: "ReplicaSet", group: "apps")
    public static let namespaces = ResourceKind(plural: "namespaces", kind: "Namespace", namespaced: false)
    public static let persistentVolumeClaims = ResourceKind(plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim")
    public static let ingresses = ResourceKind(plural: "ingresses", kind: "Ingress", group: "networking.k8s.io")
}

/// An object type an informer can cache.
public protocol KubernetesResource: Sendable {
    static var resource: ResourceKind { get }
    static func decode(_ scanner: inout JSONScanner) throws -> Self
    var metadata: ObjectMeta { get }
}

extension Pod: KubernetesResource {
    public static let resource = ResourceKind.pods
}
