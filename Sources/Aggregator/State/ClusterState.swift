import Kubernetes
import Synchronization
import Wire

/// A container as the live views and the pod events need it.
public struct ContainerSample: Sendable, Equatable {
    public var name: String
    public var isInit: Bool
    public var restartCount: Int
    public var oomKilled: Bool
    /// Cumulative CPU time (core-nanoseconds), and the rate from it (nanocores, as the pod's).
    public var cpuCoreNanoseconds: UInt64? = nil
    public var cpuNanocores: UInt64? = nil
    /// Working set bytes.
    public var memoryBytes: UInt64? = nil
    /// When this instance started (Unix seconds), as the kubelet reports it.
    public var startedAt: Double? = nil
}

/// A pod's GPUs: what its containers request and what their processes use.
public struct PodGPU: Sendable, Equatable {
    /// Devices requested (units of `nvidia.com/gpu`, `nvidia.com/mig-*`, `amd.com/gpu`...).
    public var requestedDevices: UInt64
    /// GPU memory its processes hold, bytes.
    public var memoryBytes: UInt64
    /// SM utilization of its processes in percent of one GPU, summed over the devices it
    /// uses (two GPUs busy: 200); nil when the driver gave no per-process figure.
    public var utilizationPercent: UInt32?
}

/// A node's GPUs, summed over its devices.
public struct NodeGPU: Sendable, Equatable {
    public var count: Int
    public var memoryUsedBytes: UInt64
    public var memoryTotalBytes: UInt64
    /// The devices' mean utilization (percent of time a kernel ran); nil when none said.
    public var utilizationPercent: Double?

    init?(_ devices: [Agent_V1_GpuDevice]) {
        guard !devices.isEmpty else { return nil }
        count = devices.count
        memoryUsedBytes = devices.reduce(0) { $0 &+ $1.memoryUsedBytes }
        memoryTotalBytes = devices.reduce(0) { $0 &+ $1.memoryTotalBytes }
        let reported = devices.filter(\.hasGpuUtilizationPercent)
        utilizationPercent = reported.isEmpty ? nil : Double(reported.reduce(0) { $0 + UInt64($1.gpuUtilizationPercent) }) / Double(reported.count)
    }
}

/// A pod's controlling owner: its kind and name, all a view reads of it (the agent's
/// `OwnerReference` message also holds its uid and unknown fields: ~100 bytes a pod, at
/// 150,000 pods held for every snapshot).
public struct PodController: Sendable, Equatable {
    public var kind: String
    public var name: String
    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }
}

/// One pod of one node's latest snapshot, with its CPU rate already computed.
public struct PodSample: Sendable, Equatable {
    public var uid: String
    public var name: String
    public var namespace: String
    /// CPU in nanocores: from the cumulative counter when two snapshots allow it, else the
    /// kubelet's own rate; nil when neither is known.
    public var cpuNanocores: UInt64?
    /// Cumulative CPU time (core-nanoseconds), for exact usage over any span.
    public var cpuCoreNanoseconds: UInt64?
    public var memoryBytes: UInt64?
    public var diskBytes: UInt64?
    public var cpuRequestMillicores: UInt64
    public var cpuLimitMillicores: UInt64
    public var memoryRequestBytes: UInt64
    public var memoryLimitBytes: UInt64
    public var containers: [ContainerSample]
    /// The controlling owner as the agent reported it (the live view's workload when the
    /// API server does not list the pod).
    public var controller: PodController?
    /// The pod's GPUs; nil when it neither requests nor uses any.
    public var gpu: PodGPU? = nil

    public var restarts: Int { containers.reduce(0) { $0 + ($1.isInit ? 0 : $1.restartCount) } }
    public var oomKilled: Bool { containers.contains { !$0.isInit && $0.oomKilled } }
}

/// One node's latest snapshot, reduced to what the views, history and events read.
public struct NodeSample: Sendable {
    public var name: String
    public var agentInstance: String
    public var sequence: UInt64
    /// When the agent collected it and when it arrived here (Unix seconds).
    public var collectedAt: Double
    public var receivedAt: Double
    public var intervalSeconds: Double
    /// The span the rates are over: from the previous snapshot's collection to this one's
    /// (the agent's interval when there is no previous snapshot).
    public var windowSeconds: Double
    public var cpuCount: Int
    /// Cores in use, from /proc/stat counters between two snapshots, else the kubelet's rate.
    public var cpuCores: Double?
    public var cpuBusyNanoseconds: UInt64
    public var cpuTotalNanoseconds: UInt64
    /// The node's cumulative CPU time (core-nanoseconds): the kubelet's, else /proc/stat's
    /// busy time; nil when neither is known.
    public var cpuCoreNanoseconds: UInt64? = nil
    public var memoryUsedBytes: UInt64?
    public var memoryTotalBytes: UInt64
    public var diskUsedBytes: UInt64?
    public var diskCapacityBytes: UInt64?
    public var pods: [PodSample]
    /// Collectors that failed on the agent for this snapshot: "name: error".
    public var collectorErrors: [String]
    public var connectionsDropped: UInt64
    /// The node's GPUs; nil on a node without them.
    public var gpu: NodeGPU? = nil
}

/// Every node's latest snapshot. Snapshots replace each other (never deltas); CPU rates
/// come from the cumulative counters of two consecutive snapshots.
public final class ClusterState: Sendable {
    private let nodes = Mutex<[String: NodeSample]>([:])

    public init() {}

    /// Replaces a node's state with a complete snapshot.
    @discardableResult
    public func ingest(_ batch: Agent_V1_Batch, receivedAt: Double) -> NodeSample {
        let previous = nodes.withLock { $0[batch.nodeName] }
        let sample = Self.sample(batch, previous: previous, receivedAt: receivedAt)
        nodes.withLock { $0[batch.nodeName] = sample }
        return sample
    }

    /// Every node's latest sample. The dictionary is taken by reference under the lock and
    /// copied after it: ingest takes the same lock for every batch.
    public func snapshot() -> [NodeSample] { Array(nodes.withLock { $0 }.values) }

    public var nodeCount: Int { nodes.withLock { $0.count } }

    public func node(_ name: String) -> NodeSample? { nodes.withLock { $0[name] } }

    /// Forgets nodes whose last snapshot arrived before `cutoff`; returns their names.
    public func expire(receivedBefore cutoff: Double) -> [String] {
        // Looked for outside the lock (nearly always none); removed under it if still stale.
        let stale = nodes.withLock { $0 }.values.filter { $0.receivedAt < cutoff }.map(\.name)
        if stale.isEmpty { return [] }
        return nodes.withLock { nodes in
            stale.filter { name in
                guard let node = nodes[name], node.receivedAt < cutoff else { return false }
                nodes[name] = nil
                return true
            }
        }
    }

    static func seconds(_ t: Common_Timestamp) -> Double { Double(t.seconds) + Double(t.nanos) / 1e9 }

    /// Reduces a batch, computing rates against the previous snapshot of the same node.
    static func sample(_ batch: Agent_V1_Batch, previous: NodeSample?, receivedAt: Double) -> NodeSample {
        let node = batch.node
        let collectedAt = seconds(batch.collectedAt)
        let usage = node.usage
        var cores: Double?
        if let previous, node.cpuTotalNanoseconds > previous.cpuTotalNanoseconds, node.cpuBusyNanoseconds >= previous.cpuBusyNanoseconds {
            let busy = Double(node.cpuBusyNanoseconds - previous.cpuBusyNanoseconds)
            let total = Double(node.cpuTotalNanoseconds - previous.cpuTotalNanoseconds)
            cores = busy / total * Double(max(node.cpuCount, 1))
        } else if usage.hasCpuUsageNanocores {
            cores = Double(usage.cpuUsageNanocores) / 1e9
        }
        var memoryUsed: UInt64?
        if usage.hasMemoryWorkingSetBytes { memoryUsed = usage.memoryWorkingSetBytes }
        else if usage.hasMemoryAvailableBytes, node.memoryTotalBytes >= usage.memoryAvailableBytes { memoryUsed = node.memoryTotalBytes - usage.memoryAvailableBytes }
        // The kubelet's nodefs when present, else the first filesystem the agent was told to watch.
        let fs = node.filesystems.first { $0.name == "nodefs" } ?? node.filesystems.first
        let elapsed = previous.map { collectedAt - $0.collectedAt } ?? 0
        // A pod's previous sample is nearly always at the same place in the node's previous
        // snapshot; by uid otherwise (places, not copies: a sample is some twenty
        // reference-counted fields, and copying 150,000 of them into a dictionary per agent
        // interval was a percent of the aggregator).
        let before = previous?.pods ?? []
        var places: [String: Int]?
        var pods: [PodSample] = []
        pods.reserveCapacity(batch.pods.count)
        for (index, pod) in batch.pods.enumerated() {
            var place: Int?
            if index < before.count, before[index].uid == pod.uid {
                place = index
            } else if !before.isEmpty {
                if places == nil {
                    var map = [String: Int](minimumCapacity: before.count)
                    for (at, sample) in before.enumerated() where map[sample.uid] == nil { map[sample.uid] = at }
                    places = map
                }
                place = places?[pod.uid]
            }
            pods.append(podSample(pod, previous: place.map { before[$0] }, elapsedSeconds: elapsed))
        }
        return NodeSample(
            name: batch.nodeName, agentInstance: batch.agentInstance, sequence: batch.sequence,
            collectedAt: collectedAt, receivedAt: receivedAt,
            intervalSeconds: batch.intervalMs > 0 ? Double(batch.intervalMs) / 1000 : 10,
            windowSeconds: elapsed > 0 ? elapsed : (batch.intervalMs > 0 ? Double(batch.intervalMs) / 1000 : 10),
            cpuCount: Int(node.cpuCount), cpuCores: cores,
            cpuBusyNanoseconds: node.cpuBusyNanoseconds, cpuTotalNanoseconds: node.cpuTotalNanoseconds,
            cpuCoreNanoseconds: usage.hasCpuUsageCoreNanoseconds ? usage.cpuUsageCoreNanoseconds
                : node.cpuBusyNanoseconds > 0 ? node.cpuBusyNanoseconds : nil,
            memoryUsedBytes: memoryUsed, memoryTotalBytes: node.memoryTotalBytes,
            diskUsedBytes: fs.flatMap { $0.hasUsedBytes ? $0.usedBytes : nil },
            diskCapacityBytes: fs.flatMap { $0.hasCapacityBytes ? $0.capacityBytes : nil },
            pods: pods,
            collectorErrors: batch.collectors.filter { !$0.ok }.map { "\($0.name): \($0.error)" },
            connectionsDropped: batch.connectionsDropped,
            gpu: NodeGPU(node.gpus)
        )
    }

    /// CPU in nanocores from a cumulative counter against the previous snapshot's, else the
    /// kubelet's own rate.
    static func cpuRate(_ usage: Agent_V1_Usage, previous: UInt64?, elapsedSeconds: Double) -> (counter: UInt64?, rate: UInt64?) {
        let counter: UInt64? = usage.hasCpuUsageCoreNanoseconds ? usage.cpuUsageCoreNanoseconds : nil
        if let counter, let before = previous, counter >= before, elapsedSeconds > 0 {
            return (counter, UInt64((Double(counter - before) / elapsedSeconds).rounded()))
        }
        return (counter, usage.hasCpuUsageNanocores ? usage.cpuUsageNanocores : nil)
    }

    static func podSample(_ pod: Agent_V1_Pod, previous: PodSample?, elapsedSeconds: Double) -> PodSample {
        let usage = pod.usage
        let (counter, rate) = cpuRate(usage, previous: previous?.cpuCoreNanoseconds, elapsedSeconds: elapsedSeconds)
        var sample = PodSample(
            uid: pod.uid, name: pod.name, namespace: pod.namespace, cpuNanocores: rate, cpuCoreNanoseconds: counter,
            memoryBytes: usage.hasMemoryWorkingSetBytes ? usage.memoryWorkingSetBytes : nil,
            diskBytes: pod.hasEphemeralStorageUsedBytes ? pod.ephemeralStorageUsedBytes : nil,
            cpuRequestMillicores: 0, cpuLimitMillicores: 0, memoryRequestBytes: 0, memoryLimitBytes: 0,
            containers: [], controller: pod.owners.first { $0.controller }.map { PodController(kind: $0.kind, name: $0.name) }
        )
        var gpu: PodGPU?
        for container in pod.containers {
            if !container.gpuRequests.isEmpty || !container.gpus.isEmpty {
                var g = gpu ?? PodGPU(requestedDevices: 0, memoryBytes: 0, utilizationPercent: nil)
                if !container.init_p { g.requestedDevices += container.gpuRequests.reduce(0) { $0 &+ $1.count } }
                for use in container.gpus {
                    g.memoryBytes &+= use.memoryUsedBytes
                    if use.hasSmUtilizationPercent { g.utilizationPercent = (g.utilizationPercent ?? 0) + use.smUtilizationPercent }
                }
                gpu = g
            }
            if !container.init_p {
                sample.cpuRequestMillicores += container.cpuRequestMillicores
                sample.cpuLimitMillicores += container.cpuLimitMillicores
                sample.memoryRequestBytes += container.memoryRequestBytes
                sample.memoryLimitBytes += container.memoryLimitBytes
            }
            let before = previous?.containers.first { $0.name == container.name }?.cpuCoreNanoseconds
            let (containerCounter, containerRate) = cpuRate(container.usage, previous: before, elapsedSeconds: elapsedSeconds)
            sample.containers.append(ContainerSample(
                name: container.name, isInit: container.init_p, restartCount: Int(container.restartCount),
                oomKilled: container.stateReason == "OOMKilled" || container.lastTerminationReason == "OOMKilled",
                cpuCoreNanoseconds: containerCounter, cpuNanocores: containerRate,
                memoryBytes: container.usage.hasMemoryWorkingSetBytes ? container.usage.memoryWorkingSetBytes : nil,
                startedAt: container.hasStartedAt ? seconds(container.startedAt) : nil))
        }
        sample.gpu = gpu
        return sample
    }
}
