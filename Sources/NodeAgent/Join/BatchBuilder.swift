#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kubernetes
import Wire

/// Joins one cycle's observations into the node's batch: kubelet pods and stats by uid,
/// processes to containers by cgroup, containers to network namespaces, and every
/// connection to its container and pod (pid first, then network namespace); what belongs
/// to no container is the host's.
public struct BatchBuilder: Sendable {
    public var nodeName: String
    public var agentVersion: String
    public var agentInstance: String
    public var interval: Duration
    /// USER_HZ: the unit of /proc/stat (100 on every Linux that matters).
    public var clockTicksPerSecond: UInt64
    /// Connections kept per batch; the rest are counted in `connections_dropped`.
    public var maxConnections: Int

    public init(nodeName: String, agentVersion: String, agentInstance: String, interval: Duration,
                clockTicksPerSecond: UInt64 = 100, maxConnections: Int = 65_536) {
        self.nodeName = nodeName
        self.agentVersion = agentVersion
        self.agentInstance = agentInstance
        self.interval = interval
        self.clockTicksPerSecond = clockTicksPerSecond
        self.maxConnections = maxConnections
    }

    /// The identity of a process's container, once resolved to a pod.
    struct Placement {
        var containerID: String
        var podUID: String
    }

    public func build(_ o: NodeObservation, sequence: UInt64) -> Agent_V1_Batch {
        var batch = Agent_V1_Batch()
        batch.nodeName = nodeName
        batch.agentVersion = agentVersion
        batch.agentInstance = agentInstance
        batch.sequence = sequence
        batch.collectedAt = .with { $0.seconds = o.collectedAt.seconds; $0.nanos = o.collectedAt.nanoseconds }
        batch.intervalMs = UInt32(clamping: interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000)
        batch.partIndex = 0
        batch.partCount = 1
        batch.node = nodeStats(o)
        batch.collectors = o.collectors.map { result in
            .with {
                $0.name = result.name
                $0.ok = result.error == nil
                $0.error = result.error ?? ""
                $0.durationMicros = UInt64(max(0, result.duration.components.seconds * 1_000_000 + result.duration.components.attoseconds / 1_000_000_000_000))
            }
        }

        // Containers by runtime id, from the kubelet's pod statuses.
        var containerOwner: [String: String] = [:]
        for pod in o.pods ?? [] {
            for status in pod.containerStatuses + pod.initContainerStatuses where !status.containerID.isEmpty {
                containerOwner[status.containerID] = pod.uid
            }
        }
        let podsByUID = Dictionary((o.pods ?? []).map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })

        // Processes: pid -> container -> pod; pids and network namespace per container.
        var placementByPID: [UInt32: Placement] = [:]
        var pidsByContainer: [String: [UInt32]] = [:]
        var netnsByContainer: [String: UInt64] = [:]
        var netnsByPod: [String: UInt64] = [:]
        for process in o.processes?.processes ?? [] {
            guard let cgroup = process.container else { continue }
            let podUID = containerOwner[cgroup.containerID] ?? cgroup.podUID
            let pid = UInt32(bitPattern: process.pid)
            placementByPID[pid] = Placement(containerID: cgroup.containerID, podUID: podUID)
            pidsByContainer[cgroup.containerID, default: []].append(pid)
            if let netns = process.netns {
                if netnsByContainer[cgroup.containerID] == nil { netnsByContainer[cgroup.containerID] = netns }
                if !podUID.isEmpty, netnsByPod[podUID] == nil { netnsByPod[podUID] = netns }
            }
        }
        // GPUs: each process's use goes to its container, or stays the node's.
        var gpusByContainer: [String: [Agent_V1_GpuUse]] = [:]
        if let scan = o.gpus {
            batch.node.gpus = scan.devices.map { device in
                var wire = Self.gpuDevice(device)
                var order: [String] = []
                var uses: [String: Agent_V1_GpuUse] = [:]
                for process in device.processes {
                    let p = Self.gpuProcess(process)
                    guard let container = placementByPID[process.pid]?.containerID, !container.isEmpty else {
                        wire.hostProcesses.append(p)
                        continue
                    }
                    if uses[container] == nil {
                        order.append(container)
                        uses[container] = .with { $0.deviceUuid = device.uuid }
                    }
                    uses[container]!.memoryUsedBytes &+= p.memoryUsedBytes
                    if p.hasSmUtilizationPercent {
                        uses[container]!.smUtilizationPercent = min(100, uses[container]!.smUtilizationPercent + p.smUtilizationPercent)
                    }
                    uses[container]!.processes.append(p)
                }
                for container in order { gpusByContainer[container, default: []].append(uses[container]!) }
                return wire
            }
        }

        // A pod's own namespace (not the host's) identifies it; host-network pods do not.
        var podByNetns: [UInt64: String] = [:]
        for (uid, netns) in netnsByPod where netns != o.hostNetns && podsByUID[uid]?.hostNetwork != true {
            podByNetns[netns] = uid
        }

        // Pods: /pods metadata joined with /stats/summary numbers, by uid.
        let summaries = Dictionary((o.summary?.pods ?? []).map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        var uids = (o.pods ?? []).map(\.uid)
        uids += (o.summary?.pods ?? []).map(\.uid).filter { podsByUID[$0] == nil }
        batch.pods = uids.map { uid in
            pod(uid: uid, spec: podsByUID[uid], summary: summaries[uid], netns: netnsByPod[uid], pids: pidsByContainer,
                gpus: gpusByContainer, assigned: o.gpuAssignments ?? [:], containerNetns: netnsByContainer, sockets: o.sockets, hostNetns: o.hostNetns)
        }
        if let host = o.hostNetns, let sockets = o.sockets[host] {
            batch.hostListening = listening(sockets, netns: host)
        }
        // GPU processes of a container no pod of this batch holds (the kubelet does not list
        // it, or is not read) stay the node's rather than being lost.
        if !gpusByContainer.isEmpty {
            var shipped = Set<String>()
            for pod in batch.pods { for container in pod.containers where !container.id.isEmpty { shipped.insert(container.id) } }
            for (container, uses) in gpusByContainer where !shipped.contains(container) {
                for use in uses {
                    guard let device = batch.node.gpus.firstIndex(where: { $0.uuid == use.deviceUuid }) else { continue }
                    batch.node.gpus[device].hostProcesses.append(contentsOf: use.processes)
                }
            }
            for index in batch.node.gpus.indices { batch.node.gpus[index].hostProcesses.sort { $0.pid < $1.pid } }
        }

        // Connections, tied to container and pod.
        var connections: [Agent_V1_Connection]
        if let tracer = o.tracerConnections {
            connections = tracer.compactMap { c in
                guard !(c.local.isLoopback && c.remote.isLoopback) else { return nil }
                var wire = Self.wire(c)
                if let placement = placementByPID[c.pid] {
                    wire.containerID = placement.containerID
                    wire.podUid = placement.podUID
                } else if let uid = podByNetns[c.netns] {
                    wire.podUid = uid
                }
                return wire
            }
        } else {
            connections = procfsConnections(o, podByNetns: podByNetns, podsByUID: podsByUID)
        }
        if connections.count > maxConnections {
            // Keep the heaviest: they carry the traffic the graph shows.
            connections.sort { $0.sentBytes &+ $0.recvBytes > $1.sentBytes &+ $1.recvBytes }
            batch.connectionsDropped = UInt64(connections.count - maxConnections)
            connections.removeLast(connections.count - maxConnections)
        }
        batch.connections = connections
        return batch
    }

    // MARK: Node

    func nodeStats(_ o: NodeObservation) -> Agent_V1_NodeStats {
        var node = Agent_V1_NodeStats()
        var usage = Agent_V1_Usage()
        if let summary = o.summary?.node {
            Self.apply(summary.cpu, summary.memory, to: &usage)
        }
        if let stat = o.stat {
            let nanosPerTick = 1_000_000_000 / max(1, clockTicksPerSecond)
            node.cpuBusyNanoseconds = stat.cpu.busy &* nanosPerTick
            node.cpuTotalNanoseconds = stat.cpu.total &* nanosPerTick
            node.cpuCount = UInt32(stat.cpuCount)
            if !usage.hasCpuUsageCoreNanoseconds { usage.cpuUsageCoreNanoseconds = node.cpuBusyNanoseconds }
            if let boot = stat.bootTime { node.bootTime = .with { $0.seconds = boot } }
        }
        if let memory = o.meminfo {
            node.memoryTotalBytes = memory.totalBytes ?? 0
            if let available = memory.availableBytes {
                if !usage.hasMemoryAvailableBytes { usage.memoryAvailableBytes = available }
                if !usage.hasMemoryWorkingSetBytes, let used = memory.usedBytes { usage.memoryWorkingSetBytes = used }
            }
        }
        node.usage = usage
        if let fs = o.summary?.node.fs { node.filesystems.append(Self.filesystem("nodefs", "", fs)) }
        if let fs = o.summary?.node.imageFs { node.filesystems.append(Self.filesystem("imagefs", "", fs)) }
        for fs in o.filesystems {
            node.filesystems.append(.with {
                $0.name = fs.name
                $0.mountPoint = fs.path
                $0.capacityBytes = fs.usage.capacityBytes
                $0.usedBytes = fs.usage.usedBytes
                $0.availableBytes = fs.usage.availableBytes
                $0.inodes = fs.usage.inodes
                $0.inodesFree = fs.usage.inodesFree
                $0.inodesUsed = fs.usage.inodes - min(fs.usage.inodes, fs.usage.inodesFree)
            })
        }
        if let interfaces = o.interfaces {
            node.interfaces = interfaces.map { c in
                .with {
                    $0.name = c.name
                    $0.rxBytes = c.rxBytes; $0.txBytes = c.txBytes
                    $0.rxErrors = c.rxErrors; $0.txErrors = c.txErrors
                    $0.rxPackets = c.rxPackets; $0.txPackets = c.txPackets
                    $0.rxDropped = c.rxDropped; $0.txDropped = c.txDropped
                }
            }
        } else if let interfaces = o.summary?.node.interfaces {
            node.interfaces = interfaces.map(Self.interface)
        }
        node.kernelVersion = o.kernelVersion ?? ""
        return node
    }

    // MARK: Pods

    func pod(uid: String, spec: Pod?, summary: PodSummary?, netns: UInt64?, pids: [String: [UInt32]], gpus: [String: [Agent_V1_GpuUse]] = [:],
             assigned: [PodResourcesClient.Key: [String]] = [:], containerNetns: [String: UInt64], sockets: [UInt64: NamespaceSockets], hostNetns: UInt64?) -> Agent_V1_Pod {
        var pod = Agent_V1_Pod()
        pod.uid = uid
        pod.name = spec?.name ?? summary?.name ?? ""
        pod.namespace = spec?.namespace ?? summary?.namespace ?? ""
        if let spec {
            pod.ip = spec.podIP
            pod.ips = spec.podIPs
            pod.hostNetwork = spec.hostNetwork
            pod.phase = spec.phase
            pod.qosClass = spec.qosClass
            pod.labels = spec.metadata.labels
            pod.owners = spec.metadata.ownerReferences.map { o in
                .with { $0.kind = o.kind; $0.name = o.name; $0.uid = o.uid; $0.controller = o.controller }
            }
            pod.conditions = spec.conditions.map { c in .with { $0.type = c.type; $0.status = c.status } }
            if let start = spec.startTime { pod.startTime = .with { $0.seconds = start.seconds; $0.nanos = start.nanoseconds } }
        }
        if let netns {
            pod.netnsInode = netns
            if netns != hostNetns, let sockets = sockets[netns] { pod.listening = listening(sockets, netns: netns) }
        }
        if let summary {
            var usage = Agent_V1_Usage()
            Self.apply(summary.cpu, summary.memory, to: &usage)
            pod.usage = usage
            if let storage = summary.ephemeralStorage {
                if let used = storage.usedBytes { pod.ephemeralStorageUsedBytes = used }
                if let capacity = storage.capacityBytes { pod.ephemeralStorageCapacityBytes = capacity }
            }
            pod.interfaces = summary.interfaces.map(Self.interface)
            pod.volumes = summary.volumes.map { v in
                .with {
                    $0.name = v.name
                    $0.pvcName = v.pvcName ?? ""
                    $0.pvcNamespace = v.pvcNamespace ?? ""
                    if let x = v.fs.capacityBytes { $0.capacityBytes = x }
                    if let x = v.fs.usedBytes { $0.usedBytes = x }
                    if let x = v.fs.availableBytes { $0.availableBytes = x }
                    if let x = v.fs.inodes { $0.inodes = x }
                    if let x = v.fs.inodesUsed { $0.inodesUsed = x }
                }
            }
        }
        // Containers: spec and status by name, stats by name, processes by runtime id.
        let statuses = Dictionary(((spec?.containerStatuses ?? []) + (spec?.initContainerStatuses ?? [])).map { ($0.name, $0) },
                                  uniquingKeysWith: { first, _ in first })
        let stats = Dictionary((summary?.containers ?? []).map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var specs = (spec?.initContainers ?? []).map { ($0, true) } + (spec?.containers ?? []).map { ($0, false) }
        if spec == nil { specs = (summary?.containers ?? []).map { (ContainerSpec.named($0.name), false) } }
        pod.containers = specs.map { containerSpec, isInit in
            var c = container(containerSpec, isInit: isInit, status: statuses[containerSpec.name], stats: stats[containerSpec.name],
                              pids: pids, netns: containerNetns, gpus: gpus)
            if !assigned.isEmpty, let ids = assigned[PodResourcesClient.Key(namespace: pod.namespace, pod: pod.name, container: containerSpec.name)] {
                c.gpuDeviceIds = ids
            }
            return c
        }
        return pod
    }

    func container(_ spec: ContainerSpec, isInit: Bool, status: ContainerStatus?, stats: ContainerSummary?,
                   pids: [String: [UInt32]], netns: [String: UInt64], gpus: [String: [Agent_V1_GpuUse]] = [:]) -> Agent_V1_Container {
        var c = Agent_V1_Container()
        c.name = spec.name
        c.image = spec.image
        c.init_p = isInit
        c.ports = spec.ports.map { p in .with { $0.name = p.name; $0.port = UInt32(clamping: p.containerPort); $0.protocol = p.protocol } }
        if let q = spec.requests["cpu"] { c.cpuRequestMillicores = UInt64(max(0, q.milliValue)) }
        if let q = spec.limits["cpu"] { c.cpuLimitMillicores = UInt64(max(0, q.milliValue)) }
        if let q = spec.requests["memory"] { c.memoryRequestBytes = UInt64(max(0, q.value)) }
        if let q = spec.limits["memory"] { c.memoryLimitBytes = UInt64(max(0, q.value)) }
        // An extended resource's request defaults to its limit (and may not differ from it).
        for name in Set(spec.requests.keys).union(spec.limits.keys).sorted() where GPUResource.isGPU(name) {
            guard let q = spec.requests[name] ?? spec.limits[name], q.value > 0 else { continue }
            c.gpuRequests.append(.with { $0.name = name; $0.count = UInt64(q.value) })
        }
        if let status {
            c.id = status.containerID
            c.runtime = status.runtime
            if !status.image.isEmpty { c.image = status.image }
            c.imageID = status.imageID
            c.ready = status.ready
            c.restartCount = UInt32(clamping: status.restartCount)
            c.state = status.state
            c.stateReason = status.stateReason
            if let started = status.startedAt { c.startedAt = .with { $0.seconds = started.seconds; $0.nanos = started.nanoseconds } }
            c.lastTerminationReason = status.lastTerminationReason
            c.lastExitCode = Int32(clamping: status.lastExitCode)
            c.pids = pids[status.containerID] ?? []
            c.netnsInode = netns[status.containerID] ?? 0
            c.gpus = gpus[status.containerID] ?? []
        }
        if let stats {
            var usage = Agent_V1_Usage()
            Self.apply(stats.cpu, stats.memory, to: &usage)
            c.usage = usage
            if let used = stats.rootfs?.usedBytes { c.rootfsUsedBytes = used }
            if let used = stats.logs?.usedBytes { c.logsUsedBytes = used }
        }
        return c
    }

    func listening(_ sockets: NamespaceSockets, netns: UInt64) -> [Agent_V1_ListeningPort] {
        var seen = Set<[UInt8]>()
        var result: [Agent_V1_ListeningPort] = []
        func add(_ s: TCPSocket, _ proto: Agent_V1_Protocol) {
            guard seen.insert(s.localAddress.bytes + [UInt8(s.localPort >> 8), UInt8(s.localPort & 0xFF), proto == .tcp ? 6 : 17]).inserted else { return }
            result.append(.with { $0.protocol = proto; $0.address = Data(s.localAddress.bytes); $0.port = UInt32(s.localPort); $0.netnsInode = netns })
        }
        for s in sockets.tcp where s.state == .listen { add(s, .tcp) }
        for s in sockets.udp where s.remotePort == 0 && s.remoteAddress.isUnspecified && s.localPort != 0 { add(s, .udp) }
        return result
    }

    // MARK: GPUs

    static func gpuDevice(_ d: GPUScan.Device) -> Agent_V1_GpuDevice {
        var w = Agent_V1_GpuDevice()
        w.index = d.index
        w.uuid = d.uuid
        w.name = d.name
        w.memoryTotalBytes = d.memoryTotalBytes
        w.memoryUsedBytes = d.memoryUsedBytes
        if let x = d.gpuPercent { w.gpuUtilizationPercent = x }
        if let x = d.memoryPercent { w.memoryUtilizationPercent = x }
        if let x = d.powerMilliwatts { w.powerMilliwatts = x }
        if let x = d.temperatureCelsius { w.temperatureCelsius = x }
        return w
    }

    static func gpuProcess(_ p: GPUScan.Process) -> Agent_V1_GpuProcess {
        var w = Agent_V1_GpuProcess()
        w.pid = p.pid
        w.memoryUsedBytes = p.memoryUsedBytes
        if let x = p.smPercent { w.smUtilizationPercent = x }
        return w
    }

    // MARK: Connections

    static func wire(_ c: TracerConnection) -> Agent_V1_Connection {
        var w = Agent_V1_Connection()
        w.protocol = c.kind == .udp ? .udp : .tcp
        w.family = c.local.isIPv4 ? .ipv4 : .ipv6
        w.localAddress = Data(c.local.bytes)
        w.localPort = UInt32(c.localPort)
        w.remoteAddress = Data(c.remote.bytes)
        w.remotePort = UInt32(c.remotePort)
        w.direction = switch c.direction {
        case .incoming: .incoming
        case .outgoing: .outgoing
        case .local: .local
        case .unknown: .unspecified
        }
        w.pid = c.pid
        w.netnsInode = c.netns
        w.source = .tracer
        w.countersKnown = true
        w.sentBytes = c.sentBytes
        w.recvBytes = c.recvBytes
        w.retransmits = c.retransmits
        if let rtt = c.rttMicros { w.rttMicros = rtt }
        if let rtt = c.rttVarMicros { w.rttVarMicros = rtt }
        w.lastUpdateMonotonicNanos = c.lastUpdateMonotonicNanos
        return w
    }

    /// Established TCP per network namespace: no byte counters, direction from whether the
    /// local port listens in that namespace.
    func procfsConnections(_ o: NodeObservation, podByNetns: [UInt64: String], podsByUID: [String: Pod]) -> [Agent_V1_Connection] {
        var result: [Agent_V1_Connection] = []
        for (netns, sockets) in o.sockets.sorted(by: { $0.key < $1.key }) {
            let listeningPorts = Set(sockets.tcp.filter { $0.state == .listen }.map(\.localPort))
            let podUID = podByNetns[netns] ?? ""
            let soleContainer = podsByUID[podUID].flatMap { $0.containerStatuses.count == 1 ? $0.containerStatuses[0].containerID : nil } ?? ""
            for s in sockets.tcp where s.state == .established && !(s.localAddress.isLoopback && s.remoteAddress.isLoopback) {
                var w = Agent_V1_Connection()
                w.protocol = .tcp
                let local = s.localAddress.ipv4Mapped ?? s.localAddress
                let remote = s.remoteAddress.ipv4Mapped ?? s.remoteAddress
                w.family = local.isIPv4 ? .ipv4 : .ipv6
                w.localAddress = Data(local.bytes)
                w.localPort = UInt32(s.localPort)
                w.remoteAddress = Data(remote.bytes)
                w.remotePort = UInt32(s.remotePort)
                w.direction = listeningPorts.contains(s.localPort) ? .incoming : .outgoing
                w.netnsInode = netns
                w.source = .procfs
                w.countersKnown = false
                w.podUid = podUID
                w.containerID = soleContainer
                result.append(w)
            }
        }
        return result
    }

    // MARK: Conversions

    static func apply(_ cpu: CPUStats, _ memory: MemoryStats, to usage: inout Agent_V1_Usage) {
        if let x = cpu.usageNanoCores { usage.cpuUsageNanocores = x }
        if let x = cpu.usageCoreNanoSeconds { usage.cpuUsageCoreNanoseconds = x }
        if let x = memory.workingSetBytes { usage.memoryWorkingSetBytes = x }
        if let x = memory.usageBytes { usage.memoryUsageBytes = x }
        if let x = memory.rssBytes { usage.memoryRssBytes = x }
        if let x = memory.availableBytes { usage.memoryAvailableBytes = x }
        if let x = memory.pageFaults { usage.memoryPageFaults = x }
        if let x = memory.majorPageFaults { usage.memoryMajorPageFaults = x }
    }

    static func filesystem(_ name: String, _ mount: String, _ fs: FsStats) -> Agent_V1_FilesystemStats {
        .with {
            $0.name = name
            $0.mountPoint = mount
            if let x = fs.capacityBytes { $0.capacityBytes = x }
            if let x = fs.usedBytes { $0.usedBytes = x }
            if let x = fs.availableBytes { $0.availableBytes = x }
            if let x = fs.inodes { $0.inodes = x }
            if let x = fs.inodesFree { $0.inodesFree = x }
            if let x = fs.inodesUsed { $0.inodesUsed = x }
        }
    }

    static func interface(_ i: InterfaceStats) -> Agent_V1_InterfaceStats {
        .with {
            $0.name = i.name
            $0.rxBytes = i.rxBytes ?? 0
            $0.txBytes = i.txBytes ?? 0
            $0.rxErrors = i.rxErrors ?? 0
            $0.txErrors = i.txErrors ?? 0
        }
    }
}

extension ContainerSpec {
    static func named(_ name: String) -> ContainerSpec {
        var spec = ContainerSpec()
        spec.name = name
        return spec
    }
}
