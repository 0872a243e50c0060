/// How the agent collects. The clients (kubelet, tracer) are built by the caller.
public struct AgentConfiguration: Sendable {
    public var nodeName: String
    public var agentVersion: String
    public var interval: Duration
    /// The proc root: `/proc`, or the host's /proc mounted in the pod (`/host/proc`).
    public var procRoot: String
    /// Filesystems to report with statvfs, as `name=path` or a bare path (named by it).
    public var filesystemPaths: [String]
    /// Connections shipped per batch at most; the rest are counted as dropped.
    public var maxConnections: Int
    /// How often each network namespace's sockets are re-read (listening ports, and the
    /// connections of the procfs fallback); see `SocketCache` for why not every interval.
    public var socketRefresh: Duration
    /// After this many cycles the agent gives back the code pages only starting up used
    /// (`StartupPages`); nil never does. The agent commands set 3.
    public var releaseStartupPagesAfter: Int?
    /// NVIDIA's management library, loaded at run time (`libnvidia-ml.so.1`, found by the
    /// dynamic loader, or a path); nil reads no GPUs.
    public var nvmlLibrary: String?
    /// The kubelet's pod-resources socket; nil (or a path with no socket) reads no device
    /// assignments.
    public var podResourcesSocket: String?
    /// How long one pod-resources call may take (the kubelet's `--kubelet-timeout`).
    public var podResourcesTimeout: Duration = .seconds(5)

    public init(nodeName: String, agentVersion: String, interval: Duration = .seconds(10), procRoot: String = "/proc",
                filesystemPaths: [String] = [], maxConnections: Int = 65_536, socketRefresh: Duration = .seconds(30),
                releaseStartupPagesAfter: Int? = nil, nvmlLibrary: String? = nil,
                podResourcesSocket: String? = nil) {
        self.nodeName = nodeName
        self.agentVersion = agentVersion
        self.interval = interval
        self.procRoot = procRoot
        self.filesystemPaths = filesystemPaths
        self.maxConnections = maxConnections
        self.socketRefresh = socketRefresh
        self.releaseStartupPagesAfter = releaseStartupPagesAfter
        self.nvmlLibrary = nvmlLibrary
        self.podResourcesSocket = podResourcesSocket
    }
}
