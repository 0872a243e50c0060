#if canImport(Glibc)
import Glibc
#endif
import Kubernetes
import Logging
import Messaging
import Metrics
import ServiceLifecycle
import Synchronization
import Wire

/// The DaemonSet's work: every interval, collect the node (kubelet, procfs, tracer), join
/// it into one batch and ship it. A collector that fails is reported in the batch and on
/// `/metrics`; the others go on.
public final class AgentService: Service {
    public let configuration: AgentConfiguration
    private let kubelet: KubeletClient?
    private let tracer: TracerClient?
    private let procfs: ProcfsReader
    private let shipper: Shipper
    private let bus: any MessageBus
    private let logger: Logger
    private let health: CollectorHealth
    private let builder: BatchBuilder
    private let socketCache: SocketCache
    private let processCache: ProcessCache
    private let gpu: GPUCollector?
    private let podResources: PodResourcesClient?
    private let sequence = Atomic<UInt64>(0)
    private let connectionsTracked = Gauge(label: "clustermon_agent_connections_tracked")
    private let connectionsDropped = Counter(label: "clustermon_agent_connections_dropped_total")
    private let batchBytes = Recorder(label: "clustermon_agent_batch_bytes")
    private let batchParts = Gauge(label: "clustermon_agent_batch_parts")
    private let vanished = Counter(label: "clustermon_agent_processes_vanished_total")
    private let splitFailures = Counter(label: "clustermon_agent_batch_too_large_total")

    public init(configuration: AgentConfiguration, bus: any MessageBus, kubelet: KubeletClient?, tracer: TracerClient?, logger: Logger) {
        self.configuration = configuration
        self.kubelet = kubelet
        self.tracer = tracer
        self.bus = bus
        self.logger = logger
        procfs = ProcfsReader(root: configuration.procRoot)
        shipper = Shipper(nodeName: configuration.nodeName, bus: bus, logger: logger)
        health = CollectorHealth(logger: logger)
        socketCache = SocketCache(refresh: configuration.socketRefresh)
        processCache = ProcessCache(refresh: configuration.socketRefresh)
        gpu = configuration.nvmlLibrary.map { GPUCollector(libraryPath: $0, logger: logger) }
        podResources = configuration.podResourcesSocket.map { PodResourcesClient(socketPath: $0, timeout: configuration.podResourcesTimeout) }
        builder = BatchBuilder(
            nodeName: configuration.nodeName, agentVersion: configuration.agentVersion, agentInstance: Self.randomInstanceID(),
            interval: configuration.interval, clockTicksPerSecond: UInt64(max(1, sysconf(Int32(_SC_CLK_TCK)))),
            maxConnections: configuration.maxConnections)
    }

    public var shipped: Shipper.ShipperStats { shipper.counts }

    public func run() async throws {
        logger.info("agent collecting", metadata: [
            "node": "\(configuration.nodeName)", "interval": "\(configuration.interval)", "proc_root": "\(configuration.procRoot)",
            "kubelet": "\(kubelet?.baseURL ?? "off")", "tracer": "\(tracer?.socketPath ?? "off (procfs connections)")",
        ])
        // The resender lives as long as the collection loop.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.shipper.resendOnReconnect() }
            group.addTask { await self.collectEveryInterval() }
            await group.next()
            group.cancelAll()
        }
    }

    private func collectEveryInterval() async {
        let clock = ContinuousClock()
        var next = clock.now
        var cycles = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await collectAndShip()
            cycles += 1
            if cycles == configuration.releaseStartupPagesAfter { releaseStartupPages() }
            next = max(next.advanced(by: configuration.interval), clock.now)
            let deadline = next
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(until: deadline) }
            } catch {
                return
            }
        }
    }

    private func releaseStartupPages() {
        let before = (ProcessMetrics.current()?.residentBytes ?? 0) >> 10
        guard let advised = StartupPages.release() else {
            logger.debug("the kernel cannot reclaim startup pages (MADV_PAGEOUT needs Linux 5.4)")
            return
        }
        let after = (ProcessMetrics.current()?.residentBytes ?? 0) >> 10
        let metadata: Logger.Metadata = [
            "advised_mib": "\(advised >> 20)", "resident_kib_before": "\(before)", "resident_kib_after": "\(after)",
        ]
        logger.info("startup code pages given back", metadata: metadata)
    }

    /// One cycle: collect, build, split, ship.
    public func collectAndShip() async {
        let batch = await snapshot()
        do {
            let parts = try BatchSplitter.split(batch, maxBytes: bus.maxPayloadBytes)
            let bytes = parts.reduce(0) { $0 + $1.count }
            batchParts.record(parts.count)
            batchBytes.record(bytes)
            shipper.ship(parts)
            if batch.sequence == 1 {
                logger.info("first batch collected", metadata: [
                    "subject": "\(shipper.subject)", "pods": "\(batch.pods.count)", "connections": "\(batch.connections.count)",
                    "bytes": "\(bytes)", "parts": "\(parts.count)",
                    "failing": "\(batch.collectors.filter { !$0.ok }.map(\.name).joined(separator: ","))",
                ])
            }
        } catch {
            splitFailures.increment()
            logger.error("batch cannot be split to fit max_payload; not sent", metadata: ["error": "\(error)"])
        }
    }

    /// Collects the node once and builds its batch (also `clustermon agent --once`).
    public func snapshot() async -> Agent_V1_Batch {
        let observation = await collect()
        let batch = builder.build(observation, sequence: sequence.add(1, ordering: .relaxed).newValue)
        connectionsTracked.record(batch.connections.count)
        if batch.connectionsDropped > 0 { connectionsDropped.increment(by: Int(batch.connectionsDropped)) }
        return batch
    }

    /// Runs every collector; each is timed, and a failure leaves only its own part empty.
    public func collect() async -> NodeObservation {
        var observation = NodeObservation(collectedAt: UnixTime.wallClock())
        async let summary = timed("kubelet-summary") { [kubelet] in try await kubelet?.summary() }
        async let pods = timed("kubelet-pods") { [kubelet] in try await kubelet?.pods() }
        async let connections = timed("tracer") { [tracer] in try await tracer?.connections() }
        // Only where the kubelet's socket is mounted (a kubelet of 1.28 or later).
        let readAssignments = podResources?.isPresent == true
        async let assignments = timed("pod-resources") { [podResources] in readAssignments ? try await podResources?.gpuAssignments() : nil }
        collectProcfs(into: &observation)
        collectGPUs(into: &observation)
        let (summaryResult, podsResult, connectionsResult, assignmentsResult) = await (summary, pods, connections, assignments)
        observation.gpuAssignments = assignmentsResult.value
        if readAssignments { observation.collectors.append(assignmentsResult.result) }
        observation.summary = summaryResult.value
        observation.pods = podsResult.value
        observation.tracerConnections = connectionsResult.value
        if kubelet != nil { observation.collectors += [summaryResult.result, podsResult.result] }
        if tracer != nil { observation.collectors.append(connectionsResult.result) }
        for result in observation.collectors { health.record(result.name, error: result.error, duration: result.duration) }
        return observation
    }

    private struct Timed<T: Sendable>: Sendable {
        var value: T?
        var result: NodeObservation.CollectorResult
    }

    private func timed<T: Sendable>(_ name: String, _ body: @Sendable () async throws -> T?) async -> Timed<T> {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let value = try await body()
            return Timed(value: value, result: .init(name: name, duration: clock.now - start))
        } catch {
            return Timed(value: nil, result: .init(name: name, error: "\(error)", duration: clock.now - start))
        }
    }

    private func collectProcfs(into o: inout NodeObservation) {
        let clock = ContinuousClock()
        func run(_ name: String, _ body: () throws -> Void) {
            let start = clock.now
            var failure: String?
            do { try body() } catch { failure = "\(error)" }
            o.collectors.append(.init(name: name, error: failure, duration: clock.now - start))
        }
        run("procfs-node") {
            var errors: [String] = []
            do { o.stat = try procfs.stat() } catch { errors.append("\(error)") }
            do { o.meminfo = try procfs.meminfo() } catch { errors.append("\(error)") }
            do { o.interfaces = try procfs.hostInterfaces() } catch { errors.append("\(error)") }
            o.kernelVersion = (try? procfs.read("sys/kernel/osrelease")).map { String(decoding: $0, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? "" }
            for entry in configuration.filesystemPaths {
                let (name, path) = Self.filesystemEntry(entry)
                do { o.filesystems.append(.init(name: name, path: path, usage: try FilesystemUsage.of(path))) } catch { errors.append("\(error)") }
            }
            if !errors.isEmpty { throw CollectorErrors(errors) }
        }
        run("procfs-processes") {
            let scan = processCache.scan(using: procfs)
            o.processes = scan
            o.hostNetns = procfs.hostNetns()
            if scan.vanished > 0 { vanished.increment(by: scan.vanished) }
            // One process per network namespace is enough to read that namespace's sockets.
            var representative: [UInt64: Int32] = [:]
            for process in scan.processes { if let netns = process.netns, representative[netns] == nil { representative[netns] = process.pid } }
            if let host = o.hostNetns { representative[host] = 1 }
            let (sockets, malformed) = socketCache.sockets(for: representative, using: procfs)
            o.sockets = sockets
            if scan.processes.isEmpty { throw CollectorErrors(["no readable process under \(configuration.procRoot)"]) }
            if malformed > 0 { throw CollectorErrors(["\(malformed) malformed socket rows skipped"]) }
            if let first = scan.firstError { throw CollectorErrors(["\(scan.unreadable) processes unreadable, e.g. \(first)"]) }
        }
    }

    /// The GPUs, and the container of each GPU process the process scan (refreshed every
    /// `socketRefresh`) has not seen yet: a job that just started is placed at once.
    private func collectGPUs(into o: inout NodeObservation) {
        guard let gpu else { return }
        let clock = ContinuousClock()
        let start = clock.now
        var failure: String?
        do {
            o.gpus = try gpu.scan()
            if let errors = o.gpus?.errors, !errors.isEmpty { failure = errors.joined(separator: "; ") }
        } catch {
            failure = error.description
        }
        if let scan = o.gpus {
            var known = Set((o.processes?.processes ?? []).map(\.pid))
            var extra = ProcessScan()
            for device in scan.devices {
                for process in device.processes where known.insert(Int32(bitPattern: process.pid)).inserted {
                    if let entry = procfs.process(Int32(bitPattern: process.pid), into: &extra) { o.processes?.processes.append(entry) }
                }
            }
        }
        // Reported only on a node with GPUs, or when the library is there but unusable.
        guard o.gpus != nil || failure != nil else { return }
        o.collectors.append(.init(name: "gpu", error: failure, duration: clock.now - start))
    }

    static func filesystemEntry(_ entry: String) -> (name: String, path: String) {
        let parts = entry.split(separator: "=", maxSplits: 1)
        return parts.count == 2 ? (String(parts[0]), String(parts[1])) : (entry, entry)
    }

    static func randomInstanceID() -> String {
        (0..<8).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }
}

/// A collector's failures, said together.
public struct CollectorErrors: Error, CustomStringConvertible {
    public var messages: [String]
    init(_ messages: [String]) { self.messages = messages }
    public var description: String { messages.joined(separator: "; ") }
}
