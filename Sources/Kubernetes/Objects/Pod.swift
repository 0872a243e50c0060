/// The parts of a Pod that clustermon uses, from the kubelet's `/pods` or the API server.
public struct Pod: Sendable, Equatable {
    public var metadata = ObjectMeta()
    public var nodeName = ""
    public var hostNetwork = false
    public var containers: [ContainerSpec] = []
    public var initContainers: [ContainerSpec] = []
    public var phase = ""
    public var podIP = ""
    public var podIPs: [String] = []
    public var hostIP = ""
    public var qosClass = ""
    public var startTime: UnixTime?
    public var conditions: [Condition] = []
    public var containerStatuses: [ContainerStatus] = []
    public var initContainerStatuses: [ContainerStatus] = []
    public init() {}

    @inlinable public var name: String { metadata.name }
    @inlinable public var namespace: String { metadata.namespace }
    @inlinable public var uid: String { metadata.uid }
}

public struct ContainerPort: Sendable, Equatable, Hashable {
    public var name = ""
    public var containerPort: Int = 0
    public var hostPort: Int = 0
    public var `protocol` = "TCP"
    public init() {}
}

public struct ContainerSpec: Sendable, Hashable {
    public var name = ""
    public var image = ""
    public var ports: [ContainerPort] = []
    public var requests: [String: Quantity] = [:]
    public var limits: [String: Quantity] = [:]
    public init() {}
}

public struct ContainerStatus: Sendable, Equatable {
    /// The runtime's id without its scheme: 64 hex characters.
    public var containerID = ""
    /// `docker`, `containerd`, `cri-o` (the scheme of the id as the kubelet wrote it).
    public var runtime = ""
    public var name = ""
    public var image = ""
    public var imageID = ""
    public var ready = false
    public var restartCount = 0
    /// `running`, `waiting` or `terminated`.
    public var state = ""
    public var stateReason = ""
    /// When the current instance started (`state.running.startedAt`, or a terminated one's).
    public var startedAt: UnixTime?
    public var lastTerminationReason = ""
    public var lastExitCode = 0
    public init() {}

    /// OOM-killed now or the last time it ended (the Cluster Monitor's alerting rule).
    public var oomKilled: Bool {
        (state == "terminated" && stateReason == "OOMKilled") || lastTerminationReason == "OOMKilled"
    }

    /// Splits `containerd://<id>` into runtime and id.
    public static func splitContainerID(_ raw: String) -> (runtime: String, id: String) {
        let parts = raw.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return ("", raw) }
        return (String(parts[0]), String(parts[1]))
    }
}

/// A list as the API server and the kubelet send it: items and the list's resourceVersion.
public struct ObjectList<Item: Sendable>: Sendable {
    public var resourceVersion = ""
    public var continueToken = ""
    public var items: [Item] = []
    public init(resourceVersion: String = "", continueToken: String = "", items: [Item] = []) {
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
        self.items = items
    }
}

extension Pod {
    public static func decode(_ s: inout JSONScanner) throws -> Pod {
        var pod = Pod()
        try s.forEachMember { s, key in
            if key == "metadata" { pod.metadata = try ObjectMeta.decode(&s) }
            else if key == "spec" {
                try s.forEachMember { s, key in
                    if key == "nodeName" { pod.nodeName = try s.optionalSharedString() ?? "" }
                    else if key == "hostNetwork" { pod.hostNetwork = try s.readNull() ? false : s.bool() }
                    else if key == "containers" { pod.containers = s.shared(try s.array(ContainerSpec.decode)) }
                    else if key == "initContainers" { pod.initContainers = s.shared(try s.array(ContainerSpec.decode)) }
                }
            }
            else if key == "status" {
                try s.forEachMember { s, key in
                    if key == "phase" { pod.phase = try s.optionalString() ?? "" }
                    else if key == "podIP" { pod.podIP = try s.optionalString() ?? "" }
                    else if key == "hostIP" { pod.hostIP = try s.optionalSharedString() ?? "" }
                    else if key == "qosClass" { pod.qosClass = try s.optionalString() ?? "" }
                    else if key == "startTime" { pod.startTime = try s.timestamp() }
                    else if key == "conditions" { pod.conditions = s.shared(try s.array(Condition.decode)) }
                    else if key == "containerStatuses" { pod.containerStatuses = try s.array(ContainerStatus.decode) }
                    else if key == "initContainerStatuses" { pod.initContainerStatuses = try s.array(ContainerStatus.decode) }
                    else if key == "podIPs" {
                        pod.podIPs = try s.array { s in
                            var ip = ""
                            try s.forEachMember { s, key in if key == "ip" { ip = try s.string() } }
                            return ip
                        }
                    }
                }
            }
        }
        if pod.podIPs.isEmpty && !pod.podIP.isEmpty { pod.podIPs = [pod.podIP] }
        return pod
    }

    /// Decodes a PodList (`/pods` of the kubelet, or a list page of the API server).
    public static func decodeList(_ bytes: some JSONBytes) throws -> ObjectList<Pod> {
        try ObjectList.decode(bytes, item: Pod.decode)
    }
}

extension ObjectList {
    /// Decodes `{"metadata":{"resourceVersion","continue"},"items":[...]}` with `item` for
    /// each element.
    public static func decode(_ bytes: some JSONBytes, item: (inout JSONScanner) throws -> Item) throws -> ObjectList<Item> {
        try JSONScanner.decode(bytes) { s in
            var list = ObjectList<Item>()
            try s.forEachMember { s, key in
                if key == "items" { list.items = try s.array(item) }
                else if key == "metadata" {
                    try s.forEachMember { s, key in
                        if key == "resourceVersion" { list.resourceVersion = try s.optionalString() ?? "" }
                        else if key == "continue" { list.continueToken = try s.optionalString() ?? "" }
                    }
                }
            }
            return list
        }
    }
}

extension ContainerSpec {
    static func decode(_ s: inout JSONScanner) throws -> ContainerSpec {
        var spec = ContainerSpec()
        try s.forEachMember { s, key in
            if key == "name" { spec.name = try s.sharedString() }
            else if key == "image" { spec.image = try s.optionalSharedString() ?? "" }
            else if key == "ports" {
                spec.ports = try s.array { s in
                    var port = ContainerPort()
                    try s.forEachMember { s, key in
                        if key == "name" { port.name = try s.optionalString() ?? "" }
                        else if key == "containerPort" { port.containerPort = Int(try s.int64()) }
                        else if key == "hostPort" { port.hostPort = Int(try s.int64()) }
                        else if key == "protocol" { port.protocol = try s.optionalString() ?? "TCP" }
                    }
                    return port
                }
            }
            else if key == "resources" {
                try s.forEachMember { s, key in
                    if key == "requests" { spec.requests = try quantities(&s) }
                    else if key == "limits" { spec.limits = try quantities(&s) }
                }
            }
        }
        return spec
    }

    private static func quantities(_ s: inout JSONScanner) throws -> [String: Quantity] {
        var result: [String: Quantity] = [:]
        try s.forEachMember { s, key in
            let at = s.offset
            let text = try s.string()
            guard let quantity = Quantity(text) else { throw JSONError(offset: at, "expected a quantity, found \"\(text)\"") }
            result[key.string] = quantity
        }
        return result
    }
}

extension ContainerStatus {
    static func decode(_ s: inout JSONScanner) throws -> ContainerStatus {
        var status = ContainerStatus()
        try s.forEachMember { s, key in
            if key == "name" { status.name = try s.sharedString() }
            else if key == "containerID" { (status.runtime, status.containerID) = splitContainerID(try s.optionalString() ?? "") }
            else if key == "image" { status.image = try s.optionalSharedString() ?? "" }
            else if key == "imageID" { status.imageID = try s.optionalSharedString() ?? "" }
            else if key == "ready" { status.ready = try s.bool() }
            else if key == "restartCount" { status.restartCount = Int(try s.int64()) }
            else if key == "state" { (status.state, status.stateReason, _, status.startedAt) = try state(&s) }
            else if key == "lastState" {
                let (kind, reason, exitCode, _) = try state(&s)
                if kind == "terminated" {
                    status.lastTerminationReason = reason
                    status.lastExitCode = exitCode
                }
            }
        }
        return status
    }

    /// `{"running":{"startedAt"}}` / `{"waiting":{"reason"}}` / `{"terminated":{"reason","exitCode","startedAt"}}`.
    private static func state(_ s: inout JSONScanner) throws -> (String, String, Int, UnixTime?) {
        var kind = "", reason = "", exitCode = 0
        var started: UnixTime?
        try s.forEachMember { s, key in
            guard key == "running" || key == "waiting" || key == "terminated" else { return }
            if try s.readNull() { return }
            kind = key.string
            try s.forEachMember { s, key in
                if key == "reason" { reason = try s.optionalSharedString() ?? "" }
                else if key == "exitCode" { exitCode = Int(try s.int64()) }
                else if key == "startedAt" { started = try s.timestamp() }
            }
        }
        return (kind, reason, exitCode, started)
    }
}
