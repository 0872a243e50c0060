/// The kubelet's resource metrics (`/metrics/resource`) as series of the agents' snapshots:
/// what the aggregator exposes for Prometheus to scrape and what it remote-writes. One
/// walk of a node's snapshot decides which series exist, for both.
public enum ResourceFamily: Int, CaseIterable, Sendable {
    // GPUs (clustermon's names: the kubelet has none), then the kubelet's, by name.
    case nodeGPUMemoryTotal, nodeGPUMemoryUsed, nodeGPUUtilization, nodeGPUs, podGPUMemoryUsed, podGPUUtilization, podGPUsRequested
    case containerCPU, containerMemory, containerStart, nodeCPU, nodeMemory, podCPU, podMemory

    public var name: String {
        switch self {
        case .nodeGPUMemoryTotal: "clustermon_node_gpu_memory_total_bytes"
        case .nodeGPUMemoryUsed: "clustermon_node_gpu_memory_used_bytes"
        case .nodeGPUUtilization: "clustermon_node_gpu_utilization_ratio"
        case .nodeGPUs: "clustermon_node_gpus"
        case .podGPUMemoryUsed: "clustermon_pod_gpu_memory_used_bytes"
        case .podGPUUtilization: "clustermon_pod_gpu_sm_utilization_ratio"
        case .podGPUsRequested: "clustermon_pod_gpus_requested"
        case .containerCPU: "container_cpu_usage_seconds_total"
        case .containerMemory: "container_memory_working_set_bytes"
        case .containerStart: "container_start_time_seconds"
        case .nodeCPU: "node_cpu_usage_seconds_total"
        case .nodeMemory: "node_memory_working_set_bytes"
        case .podCPU: "pod_cpu_usage_seconds_total"
        case .podMemory: "pod_memory_working_set_bytes"
        }
    }

    /// The kubelet's help text and type.
    public var help: String {
        switch self {
        case .nodeGPUMemoryTotal: "Memory of the node's GPUs in bytes (NVML)"
        case .nodeGPUMemoryUsed: "Memory in use on the node's GPUs in bytes (NVML)"
        case .nodeGPUUtilization: "Mean utilization of the node's GPUs: the share of time a kernel ran (NVML)"
        case .nodeGPUs: "GPUs on the node (NVML)"
        case .podGPUMemoryUsed: "GPU memory the pod's processes hold in bytes (NVML)"
        case .podGPUUtilization: "SM utilization of the pod's processes, in GPUs (two GPUs fully busy: 2)"
        case .podGPUsRequested: "GPU devices the pod's containers request (nvidia.com/gpu, nvidia.com/mig-*, amd.com/gpu, ...)"
        case .containerCPU: "[STABLE] Cumulative cpu time consumed by the container in core-seconds"
        case .containerMemory: "[STABLE] Current working set of the container in bytes"
        case .containerStart: "[STABLE] Start time of the container since unix epoch in seconds"
        case .nodeCPU: "[STABLE] Cumulative cpu time consumed by the node in core-seconds"
        case .nodeMemory: "[STABLE] Current working set of the node in bytes"
        case .podCPU: "[STABLE] Cumulative cpu time consumed by the pod in core-seconds"
        case .podMemory: "[STABLE] Current working set of the pod in bytes"
        }
    }

    public var isGPU: Bool { rawValue <= ResourceFamily.podGPUsRequested.rawValue }

    public var type: String {
        switch self {
        case .containerCPU, .nodeCPU, .podCPU: "counter"
        default: "gauge"
        }
    }
}

/// A value as the agent measured it: nanoseconds (written as seconds), a plain count, or a
/// ratio.
public enum ResourceValue: Sendable, Equatable {
    case nanoseconds(UInt64)
    case count(UInt64)
    case ratio(Double)

    public var double: Double {
        switch self {
        case .nanoseconds(let n): Double(n / 1_000_000_000) + Double(n % 1_000_000_000) / 1e9
        case .count(let n): Double(n)
        case .ratio(let r): r
        }
    }
}

public enum ResourceSeries {
    /// Calls `sample` for every series of a node's snapshot, in the kubelet's label terms:
    /// node series without namespace/pod/container, pod series without container. Init
    /// containers are left out, as the kubelet leaves out containers that are not running.
    @inlinable public static func visit(_ node: NodeSample,
                                        _ sample: (ResourceFamily, _ namespace: String?, _ pod: String?, _ container: String?, ResourceValue) -> Void) {
        nodeSeries(node) { sample($0, nil, nil, nil, $1) }
        for pod in node.pods {
            podSeries(pod) { sample($0, pod.namespace, pod.name, nil, $1) }
            for container in pod.containers where isReported(container) {
                containerSeries(container) { sample($0, pod.namespace, pod.name, container.name, $1) }
            }
        }
    }

    /// A node's own series (the pieces of `visit`, for writers that walk a node themselves).
    @inlinable public static func nodeSeries(_ node: NodeSample, _ sample: (ResourceFamily, ResourceValue) -> Void) {
        if let cpu = node.cpuCoreNanoseconds { sample(.nodeCPU, .nanoseconds(cpu)) }
        if let memory = node.memoryUsedBytes { sample(.nodeMemory, .count(memory)) }
        if let gpu = node.gpu {
            sample(.nodeGPUs, .count(UInt64(gpu.count)))
            sample(.nodeGPUMemoryTotal, .count(gpu.memoryTotalBytes))
            sample(.nodeGPUMemoryUsed, .count(gpu.memoryUsedBytes))
            if let percent = gpu.utilizationPercent { sample(.nodeGPUUtilization, .ratio(percent / 100)) }
        }
    }

    /// A pod's series, without its containers'.
    @inlinable public static func podSeries(_ pod: PodSample, _ sample: (ResourceFamily, ResourceValue) -> Void) {
        if let gpu = pod.gpu {
            sample(.podGPUsRequested, .count(gpu.requestedDevices))
            sample(.podGPUMemoryUsed, .count(gpu.memoryBytes))
            if let percent = gpu.utilizationPercent { sample(.podGPUUtilization, .ratio(Double(percent) / 100)) }
        }
        if let cpu = pod.cpuCoreNanoseconds { sample(.podCPU, .nanoseconds(cpu)) }
        if let memory = pod.memoryBytes { sample(.podMemory, .count(memory)) }
    }

    /// Whether a container has series: init containers have none.
    @inlinable public static func isReported(_ container: ContainerSample) -> Bool { !container.isInit }

    /// A container's series.
    @inlinable public static func containerSeries(_ container: ContainerSample, _ sample: (ResourceFamily, ResourceValue) -> Void) {
        if let cpu = container.cpuCoreNanoseconds { sample(.containerCPU, .nanoseconds(cpu)) }
        if let memory = container.memoryBytes { sample(.containerMemory, .count(memory)) }
        if let start = container.startedAt, start > 0 {
            // Millisecond precision: the kubelet's start times are whole seconds.
            sample(.containerStart, .nanoseconds(UInt64((start * 1000).rounded()) * 1_000_000))
        }
    }
}

/// The dependency graph's edges as Prometheus series: cumulative counters since the
/// aggregator first saw each edge, and the connections open now.
public enum EdgeSeries {
    public static let families: [(name: String, help: String, type: String, value: @Sendable (EdgeHistory) -> UInt64)] = [
        ("clustermon_edge_sent_bytes_total", "Bytes the client sent to the server over this edge since the aggregator first saw it", "counter", { $0.totals.toServer }),
        ("clustermon_edge_received_bytes_total", "Bytes the client received from the server over this edge since the aggregator first saw it", "counter", { $0.totals.toClient }),
        ("clustermon_edge_connections_opened_total", "Connections the client opened to the server since the aggregator first saw this edge", "counter", { $0.totals.opened }),
        ("clustermon_edge_retransmits_total", "TCP retransmits on this edge since the aggregator first saw it", "counter", { $0.totals.retransmits }),
        ("clustermon_edge_open_connections", "Connections open on this edge at the latest refresh", "gauge", { UInt64(max($0.active, 0)) }),
    ]

    /// An edge's labels, sorted by name. `client_kind`/`server_kind` keep a service and a
    /// workload of the same name apart (one series each).
    public static func labels(_ key: EdgeKey) -> [(String, String)] {
        [("client", key.source.name), ("client_kind", key.source.kind.rawValue), ("client_namespace", key.source.namespace),
         ("port", String(key.port)), ("protocol", key.transport == 2 ? "UDP" : key.transport == 3 ? "SCTP" : "TCP"),
         ("server", key.target.name), ("server_kind", key.target.kind.rawValue), ("server_namespace", key.target.namespace)]
    }
}
