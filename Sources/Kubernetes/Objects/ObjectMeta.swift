/// The metadata clustermon reads from every Kubernetes object.
public struct ObjectMeta: Sendable, Equatable {
    public var name = ""
    public var namespace = ""
    public var uid = ""
    public var resourceVersion = ""
    public var generation: Int64 = 0
    public var labels: [String: String] = [:]
    public var ownerReferences: [OwnerReference] = []
    public var creationTimestamp: UnixTime?
    public var deletionTimestamp: UnixTime?
    public init() {}

    /// The controlling owner, if any (`controller: true`).
    /// (Inlinable, as the pod's names below: read from another module through a getter,
    /// the whole object is copied first, twenty-odd reference-counted fields per pod.)
    @inlinable public var controller: OwnerReference? { ownerReferences.first { $0.controller } }
}

public struct OwnerReference: Sendable, Equatable, Hashable {
    public var kind = ""
    public var name = ""
    public var uid = ""
    public var controller = false
    public init(kind: String = "", name: String = "", uid: String = "", controller: Bool = false) {
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
    }
}

public struct Condition: Sendable, Hashable {
    public var type = ""
    public var status = ""
    public var reason = ""
    public var message = ""
    public init(type: String = "", status: String = "", reason: String = "", message: String = "") {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}

extension ObjectMeta {
    public static func decode(_ s: inout JSONScanner) throws -> ObjectMeta {
        var meta = ObjectMeta()
        try s.forEachMember { s, key in
            if key == "name" { meta.name = try s.optionalString() ?? "" }
            else if key == "namespace" { meta.namespace = try s.optionalSharedString() ?? "" }
            else if key == "uid" { meta.uid = try s.optionalString() ?? "" }
            else if key == "resourceVersion" { meta.resourceVersion = try s.optionalString() ?? "" }
            else if key == "generation" { meta.generation = try s.int64() }
            else if key == "labels" { meta.labels = try s.stringMap() }
            else if key == "creationTimestamp" { meta.creationTimestamp = try s.timestamp() }
            else if key == "deletionTimestamp" { meta.deletionTimestamp = try s.timestamp() }
            else if key == "ownerReferences" {
                meta.ownerReferences = s.shared(try s.array { s in
                    var owner = OwnerReference()
                    try s.forEachMember { s, key in
                        if key == "kind" { owner.kind = try s.sharedString() }
                        else if key == "name" { owner.name = try s.sharedString() }
                        else if key == "uid" { owner.uid = try s.sharedString() }
                        else if key == "controller" { owner.controller = try s.readNull() ? false : s.bool() }
                    }
                    return owner
                })
            }
        }
        return meta
    }
}

extension Condition {
    static func decode(_ s: inout JSONScanner) throws -> Condition {
        var condition = Condition()
        try s.forEachMember { s, key in
            if key == "type" { condition.type = try s.optionalSharedString() ?? "" }
            else if key == "status" { condition.status = try s.optionalSharedString() ?? "" }
            else if key == "reason" { condition.reason = try s.optionalSharedString() ?? "" }
            else if key == "message" { condition.message = try s.optionalSharedString() ?? "" }
        }
        return condition
    }
}
