/// The parts of cluster objects that clustermon uses. Every decoder reads the keys it
/// knows and skips the rest: the API server adds fields with every release.

public struct NodeAddress: Sendable, Equatable {
    public var type = ""
    public var address = ""
    public init() {}
}

public struct Node: KubernetesResource, Equatable {
    public static let resource = ResourceKind.nodes
    public var metadata = ObjectMeta()
    public var podCIDRs: [String] = []
    public var unschedulable = false
    public var capacity: [String: Quantity] = [:]
    public var allocatable: [String: Quantity] = [:]
    public var conditions: [Condition] = []
    public var addresses: [NodeAddress] = []
    public var kubeletVersion = ""
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> Node {
        var node = Node()
        try s.forEachMember { s, key in
            if key == "metadata" { node.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "podCIDRs" { node.podCIDRs = try s.array { try $0.string() } }
                    else if key == "unschedulable" { node.unschedulable = try s.readNull() ? false : s.bool() }
                }
            } else if key == "status" {
                try s.forEachMember { s, key in
                    if key == "capacity" { node.capacity = try s.quantities() }
                    else if key == "allocatable" { node.allocatable = try s.quantities() }
                    else if key == "conditions" { node.conditions = try s.array(Condition.decode) }
                    else if key == "addresses" {
                        node.addresses = try s.array { s in
                            var address = NodeAddress()
                            try s.forEachMember { s, key in
                                if key == "type" { address.type = try s.string() } else if key == "address" { address.address = try s.string() }
                            }
                            return address
                        }
                    } else if key == "nodeInfo" {
                        try s.forEachMember { s, key in if key == "kubeletVersion" { node.kubeletVersion = try s.string() } }
                    }
                }
            }
        }
        return node
    }
}

/// A port that is a number or a name (`targetPort`).
public enum IntOrString: Sendable, Equatable, Hashable {
    case int(Int)
    case string(String)

    static func decode(_ s: inout JSONScanner) throws -> IntOrString {
        if try s.peek() == UInt8(ascii: "\"") { return .string(try s.string()) }
        return .int(Int(try s.int64()))
    }
}

public struct ServicePort: Sendable, Equatable {
    public var name = ""
    public var `protocol` = "TCP"
    public var port = 0
    public var targetPort: IntOrString?
    public var nodePort = 0
    public init() {}
}

/// A Service (named so to stay clear of swift-service-lifecycle's `Service`).
public struct KubernetesService: KubernetesResource, Equatable {
    public static let resource = ResourceKind.services
    public var metadata = ObjectMeta()
    public var type = "ClusterIP"
    public var clusterIP = ""
    public var clusterIPs: [String] = []
    public var ports: [ServicePort] = []
    public var selector: [String: String] = [:]
    public var externalName = ""
    public init() {}

    /// `clusterIP: None`: no virtual IP, DNS returns the pods.
    public var isHeadless: Bool { clusterIP == "None" }

    public static func decode(_ s: inout JSONScanner) throws -> KubernetesService {
        var service = KubernetesService()
        try s.forEachMember { s, key in
            if key == "metadata" { service.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "type" { service.type = try s.optionalString() ?? "ClusterIP" }
                    else if key == "clusterIP" { service.clusterIP = try s.optionalString() ?? "" }
                    else if key == "clusterIPs" { service.clusterIPs = try s.array { try $0.string() } }
                    else if key == "selector" { service.selector = try s.stringMap() }
                    else if key == "externalName" { service.externalName = try s.optionalString() ?? "" }
                    else if key == "ports" {
                        service.ports = try s.array { s in
                            var port = ServicePort()
                            try s.forEachMember { s, key in
                                if key == "name" { port.name = try s.optionalString() ?? "" }
                                else if key == "protocol" { port.protocol = try s.optionalString() ?? "TCP" }
                                else if key == "port" { port.port = Int(try s.int64()) }
                                else if key == "nodePort" { port.nodePort = Int(try s.int64()) }
                                else if key == "targetPort" { port.targetPort = try s.readNull() ? nil : IntOrString.decode(&s) }
                            }
                            return port
                        }
                    }
                }
            }
        }
        if service.clusterIPs.isEmpty && !service.clusterIP.isEmpty && !service.isHeadless { service.clusterIPs = [service.clusterIP] }
        return service
    }
}

public struct EndpointReference: Sendable, Equatable {
    public var kind = ""
    public var namespace = ""
    public var name = ""
    public var uid = ""
    public init() {}
}

public struct Endpoint: Sendable, Equatable {
    public var addresses: [String] = []
    public var ready: Bool?
    public var serving: Bool?
    public var terminating: Bool?
    public var targetRef: EndpointReference?
    public var nodeName = ""
    public init() {}
}

public struct EndpointPort: Sendable, Equatable {
    public var name = ""
    public var `protocol` = "TCP"
    public var port = 0
    public init() {}
}

public struct EndpointSlice: KubernetesResource, Equatable {
    public static let resource = ResourceKind.endpointSlices
    public var metadata = ObjectMeta()
    public var addressType = ""
    public var endpoints: [Endpoint] = []
    public var ports: [EndpointPort] = []
    public init() {}

    /// The Service this slice belongs to (label `kubernetes.io/service-name`).
    public var serviceName: String? { metadata.labels["kubernetes.io/service-name"] }

    public static func decode(_ s: inout JSONScanner) throws -> EndpointSlice {
        var slice = EndpointSlice()
        try s.forEachMember { s, key in
            if key == "metadata" { slice.metadata = try ObjectMeta.decode(&s) }
            else if key == "addressType" { slice.addressType = try s.string() }
            else if key == "ports" {
                slice.ports = try s.array { s in
                    var port = EndpointPort()
                    try s.forEachMember { s, key in
                        if key == "name" { port.name = try s.optionalString() ?? "" }
                        else if key == "protocol" { port.protocol = try s.optionalString() ?? "TCP" }
                        else if key == "port" { port.port = try s.readNull() ? 0 : Int(try s.int64()) }
                    }
                    return port
                }
            } else if key == "endpoints" {
                slice.endpoints = try s.array { s in
                    var endpoint = Endpoint()
                    try s.forEachMember { s, key in
                        if key == "addresses" { endpoint.addresses = try s.array { try $0.string() } }
                        else if key == "nodeName" { endpoint.nodeName = try s.optionalSharedString() ?? "" }
                        else if key == "conditions" {
                            try s.forEachMember { s, key in
                                if key == "ready" { endpoint.ready = try s.readNull() ? nil : s.bool() }
                                else if key == "serving" { endpoint.serving = try s.readNull() ? nil : s.bool() }
                                else if key == "terminating" { endpoint.terminating = try s.readNull() ? nil : s.bool() }
                            }
                        } else if key == "targetRef" {
                            var ref = EndpointReference()
                            try s.forEachMember { s, key in
                                if key == "kind" { ref.kind = try s.sharedString() }
                                else if key == "namespace" { ref.namespace = try s.sharedString() }
                                else if key == "name" { ref.name = try s.string() }
                                else if key == "uid" { ref.uid = try s.string() }
                            }
                            endpoint.targetRef = ref
                        }
                    }
                    return endpoint
                }
            }
        }
        return slice
    }
}

/// Replica counts shared by Deployments and ReplicaSets.
public struct ReplicaStatus: Sendable, Equatable {
    public var desired: Int?
    public var replicas = 0
    public var ready = 0
    public var available = 0
    public var updated = 0
    public var observedGeneration: Int64 = 0
}

public struct Deployment: KubernetesResource, Equatable {
    public static let resource = ResourceKind.deployments
    public var metadata = ObjectMeta()
    public var selector: [String: String] = [:]
    public var status = ReplicaStatus()
    public var conditions: [Condition] = []
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> Deployment {
        var deployment = Deployment()
        try s.forEachMember { s, key in
            if key == "metadata" {
                deployment.metadata = try ObjectMeta.decode(&s)
            } else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "replicas" { deployment.status.desired = try s.readNull() ? nil : Int(try s.int64()) }
                    else if key == "selector" { deployment.selector = try s.matchLabels() }
                }
            } else if key == "status" {
                try s.forEachMember { s, key in
                    if key == "conditions" { deployment.conditions = try s.array(Condition.decode) }
                    else { try s.replicaField(key, &deployment.status) }
                }
            }
        }
        return deployment
    }
}

public struct ReplicaSet: KubernetesResource, Equatable {
    public static let resource = ResourceKind.replicaSets
    public var metadata = ObjectMeta()
    public var status = ReplicaStatus()
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> ReplicaSet {
        var set = ReplicaSet()
        try s.forEachMember { s, key in
            if key == "metadata" { set.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in if key == "replicas" { set.status.desired = try s.readNull() ? nil : Int(try s.int64()) } }
            } else if key == "status" {
                try s.forEachMember { s, key in try s.replicaField(key, &set.status) }
            }
        }
        return set
    }
}

public struct Namespace: KubernetesResource, Equatable {
    public static let resource = ResourceKind.namespaces
    public var metadata = ObjectMeta()
    public var phase = ""
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> Namespace {
        var namespace = Namespace()
        try s.forEachMember { s, key in
            if key == "metadata" { namespace.metadata = try ObjectMeta.decode(&s) }
            else if key == "status" { try s.forEachMember { s, key in if key == "phase" { namespace.phase = try s.optionalString() ?? "" } } }
        }
        return namespace
    }
}

public struct PersistentVolumeClaim: KubernetesResource, Equatable {
    public static let resource = ResourceKind.persistentVolumeClaims
    public var metadata = ObjectMeta()
    public var storageClassName = ""
    public var volumeName = ""
    public var phase = ""
    public var capacity: [String: Quantity] = [:]
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> PersistentVolumeClaim {
        var claim = PersistentVolumeClaim()
        try s.forEachMember { s, key in
            if key == "metadata" { claim.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "storageClassName" { claim.storageClassName = try s.optionalString() ?? "" }
                    else if key == "volumeName" { claim.volumeName = try s.optionalString() ?? "" }
                }
            } else if key == "status" {
                try s.forEachMember { s, key in
                    if key == "phase" { claim.phase = try s.optionalString() ?? "" }
                    else if key == "capacity" { claim.capacity = try s.quantities() }
                }
            }
        }
        return claim
    }
}

public struct IngressBackend: Sendable, Equatable {
    public var host = ""
    public var path = ""
    public var serviceName = ""
    public var servicePort: IntOrString?
}

public struct Ingress: KubernetesResource, Equatable {
    public static let resource = ResourceKind.ingresses
    public var metadata = ObjectMeta()
    public var ingressClassName = ""
    public var backends: [IngressBackend] = []
    public init() {}

    public static func decode(_ s: inout JSONScanner) throws -> Ingress {
        var ingress = Ingress()
        try s.forEachMember { s, key in
            if key == "metadata" { ingress.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "ingressClassName" { ingress.ingressClassName = try s.optionalString() ?? "" }
                    else if key == "rules" {
                        try s.forEachElement { s in
                            var host = ""
                            try s.forEachMember { s, key in
                                if key == "host" { host = try s.optionalString() ?? "" }
                                else if key == "http" {
                                    try s.forEachMember { s, key in
                                        guard key == "paths" else { return }
                                        try s.forEachElement { s in
                                            var backend = IngressBackend(host: host)
                                            try s.forEachMember { s, key in
                                                if key == "path" { backend.path = try s.optionalString() ?? "" }
                                                else if key == "backend" {
                                                    try s.forEachMember { s, key in
                                                        guard key == "service" else { return }
                                                        try s.forEachMember { s, key in
                                                            if key == "name" { backend.serviceName = try s.string() }
                                                            else if key == "port" {
                                                                try s.forEachMember { s, key in
                                                                    if key == "number" { backend.servicePort = .int(Int(try s.int64())) }
                                                                    else if key == "name" { backend.servicePort = .string(try s.string()) }
                                                                }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                            ingress.backends.append(backend)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return ingress
    }
}

extension JSONScanner {
    /// `{"cpu":"4","memory":"8Gi"}`; a value that is not a quantity is skipped, not fatal.
    mutating func quantities() throws -> [String: Quantity] {
        var result: [String: Quantity] = [:]
        try forEachMember { s, key in
            if let text = try s.optionalString(), let quantity = Quantity(text) { result[key.string] = quantity }
        }
        return result
    }

    /// A label selector's `matchLabels`.
    mutating func matchLabels() throws -> [String: String] {
        var labels: [String: String] = [:]
        try forEachMember { s, key in if key == "matchLabels" { labels = try s.stringMap() } }
        return labels
    }

    mutating func replicaField(_ key: JSONKey, _ status: inout ReplicaStatus) throws {
        if key == "replicas" { status.replicas = Int(try int64()) }
        else if key == "readyReplicas" { status.ready = Int(try int64()) }
        else if key == "availableReplicas" { status.available = Int(try int64()) }
        else if key == "updatedReplicas" { status.updated = Int(try int64()) }
        else if key == "observedGeneration" { status.observedGeneration = try int64() }
    }
}
