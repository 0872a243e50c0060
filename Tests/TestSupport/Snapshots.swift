import Wire

/// A container as one snapshot reports it.
public struct ContainerSnapshot: Sendable {
    public var name = "main"
    public var id: String
    public var cpu: UInt64
    public var memory: UInt64 = 0
    public var cpuRequest: UInt64? = nil
    public var memoryRequest: UInt64? = nil

    public init(name: String = "main", id: String, cpu: UInt64, memory: UInt64 = 0, cpuRequest: UInt64? = nil, memoryRequest: UInt64? = nil) {
        self.name = name
        self.id = id
        self.cpu = cpu
        self.memory = memory
        self.cpuRequest = cpuRequest
        self.memoryRequest = memoryRequest
    }
}

/// A pod as one snapshot reports it.
public struct PodSnapshot: Sendable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var containers: [ContainerSnapshot]
    public var rx: UInt64? = nil
    public var tx: UInt64? = nil
    public var labels: [String: String] = [:]

    public init(namespace: String, name: String, uid: String, containers: [ContainerSnapshot], rx: UInt64? = nil, tx: UInt64? = nil,
                labels: [String: String] = [:]) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.containers = containers
        self.rx = rx
        self.tx = tx
        self.labels = labels
    }
}

/// One node's snapshot at `time` (Unix milliseconds).
public func snapshotBatch(node: String = "n1", time: Int64, pods: [PodSnapshot]) -> Agent_V1_Batch {
    .with { batch in
        batch.nodeName = node
        batch.collectedAt = .with { $0.seconds = time / 1000; $0.nanos = Int32(time % 1000) * 1_000_000 }
        batch.node = .with { $0.cpuCount = 4; $0.memoryTotalBytes = 16 << 30 }
        batch.pods = pods.map { spec in
            .with { pod in
                pod.namespace = spec.namespace
                pod.name = spec.name
                pod.uid = spec.uid
                pod.labels = spec.labels
                pod.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "\(spec.name)-rs"; $0.controller = true }]
                if let rx = spec.rx, let tx = spec.tx { pod.interfaces = [.with { $0.name = "eth0"; $0.rxBytes = rx; $0.txBytes = tx }] }
                pod.containers = spec.containers.map { c in
                    .with {
                        $0.name = c.name
                        $0.id = c.id
                        $0.image = "registry/\(c.name):1"
                        $0.usage = .with { $0.cpuUsageCoreNanoseconds = c.cpu; $0.memoryWorkingSetBytes = c.memory; $0.memoryUsageBytes = c.memory }
                        if let r = c.cpuRequest { $0.cpuRequestMillicores = r }
                        if let r = c.memoryRequest { $0.memoryRequestBytes = r }
                    }
                }
            }
        }
    }
}

