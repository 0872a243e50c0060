/// What clustermon reads from the kubelet's `GET /stats/summary`. Every number is optional:
/// the kubelet omits what it could not measure, and absent is not zero.
public struct KubeletSummary: Sendable, Equatable {
    public var node: NodeSummary
    public var pods: [PodSummary]

    public init(node: NodeSummary = .init(), pods: [PodSummary] = []) {
        self.node = node
        self.pods = pods
    }
}

public struct CPUStats: Sendable, Equatable {
    public var usageNanoCores: UInt64?
    public var usageCoreNanoSeconds: UInt64?
    public init(usageNanoCores: UInt64? = nil, usageCoreNanoSeconds: UInt64? = nil) {
        self.usageNanoCores = usageNanoCores
        self.usageCoreNanoSeconds = usageCoreNanoSeconds
    }
}

public struct MemoryStats: Sendable, Equatable {
    public var availableBytes: UInt64?
    public var usageBytes: UInt64?
    public var workingSetBytes: UInt64?
    public var rssBytes: UInt64?
    public var pageFaults: UInt64?
    public var majorPageFaults: UInt64?
    public init() {}
}

public struct FsStats: Sendable, Equatable {
    public var availableBytes: UInt64?
    public var capacityBytes: UInt64?
    public var usedBytes: UInt64?
    public var inodesFree: UInt64?
    public var inodes: UInt64?
    public var inodesUsed: UInt64?
    public init() {}
}

public struct InterfaceStats: Sendable, Equatable {
    public var name: String = ""
    public var rxBytes: UInt64?
    public var rxErrors: UInt64?
    public var txBytes: UInt64?
    public var txErrors: UInt64?
    public init(name: String = "") { self.name = name }
}

public struct NodeSummary: Sendable, Equatable {
    public var nodeName = ""
    public var startTime: UnixTime?
    public var cpu = CPUStats()
    public var memory = MemoryStats()
    /// Every interface the kubelet lists (the default one included).
    public var interfaces: [InterfaceStats] = []
    /// The filesystem holding the kubelet's root directory.
    public var fs: FsStats?
    /// The container runtime's image filesystem.
    public var imageFs: FsStats?
    public init() {}
}

public struct VolumeSummary: Sendable, Equatable {
    public var name = ""
    public var pvcName: String?
    public var pvcNamespace: String?
    public var fs = FsStats()
    public init() {}
}

public struct ContainerSummary: Sendable, Equatable {
    public var name = ""
    public var startTime: UnixTime?
    public var cpu = CPUStats()
    public var memory = MemoryStats()
    public var rootfs: FsStats?
    public var logs: FsStats?
    public init() {}
}

public struct PodSummary: Sendable, Equatable {
    public var name = ""
    public var namespace = ""
    public var uid = ""
    public var startTime: UnixTime?
    public var containers: [ContainerSummary] = []
    public var cpu = CPUStats()
    public var memory = MemoryStats()
    public var interfaces: [InterfaceStats] = []
    public var volumes: [VolumeSummary] = []
    public var ephemeralStorage: FsStats?
    public init() {}
}
