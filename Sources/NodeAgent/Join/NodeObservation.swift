import Kubernetes

/// Everything one collection cycle saw on a node, before it is joined into a batch. Each
/// source is optional: a collector that failed leaves its part nil and says why in
/// `collectors`, and the rest of the batch is built all the same.
public struct NodeObservation: Sendable {
    public struct Filesystem: Sendable, Equatable {
        public var name: String
        public var path: String
        public var usage: FilesystemUsage.Usage
        public init(name: String, path: String, usage: FilesystemUsage.Usage) {
            self.name = name
            self.path = path
            self.usage = usage
        }
    }

    public enum ConnectionSource: Sendable { case tracer, procfs }

    public struct CollectorResult: Sendable, Equatable {
        public var name: String
        public var error: String?
        public var duration: Duration
        public init(name: String, error: String? = nil, duration: Duration = .zero) {
            self.name = name
            self.error = error
            self.duration = duration
        }
    }

    public var collectedAt: UnixTime
    public var summary: KubeletSummary?
    public var pods: [Pod]?
    public var stat: ProcStat?
    public var meminfo: Meminfo?
    public var interfaces: [NetDevCounters]?
    public var kernelVersion: String?
    public var filesystems: [Filesystem] = []
    public var processes: ProcessScan?
    public var hostNetns: UInt64?
    /// Sockets per network namespace inode.
    public var sockets: [UInt64: NamespaceSockets] = [:]
    /// The tracer's connections, or nil when the procfs fallback is used.
    public var tracerConnections: [TracerConnection]?
    /// The node's GPUs, or nil on a node without them.
    public var gpus: GPUScan?
    /// The GPU devices the kubelet assigned to each container (pod-resources API); nil when
    /// the API was not read.
    public var gpuAssignments: [PodResourcesClient.Key: [String]]?
    public var collectors: [CollectorResult] = []

    public init(collectedAt: UnixTime) {
        self.collectedAt = collectedAt
    }
}
