#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Messaging
import ServiceLifecycle
import Wire

/// Simulated nodes for `clustermon dev --simulate N` and for load measurements: each node
/// publishes a whole-node batch per interval to `agent.v1.<node>` with pods spread over
/// tenant namespaces (`compute-u<k>-app`, `kube-system`), monotonic CPU counters, memory
/// that wanders, and connections between pods, exactly as a real agent would send them.
public final class SimulatedNodes: Service {
    public struct Configuration: Sendable {
        public var nodes: Int
        public var podsPerNode: Int
        public var interval: Duration
        /// Namespaces are owned by this many simulated users (`u0`…).
        public var users: Int
        public var connectionsPerPod: Int
        public init(nodes: Int, podsPerNode: Int = 30, interval: Duration = .seconds(10), users: Int = 100, connectionsPerPod: Int = 2) {
            self.nodes = nodes
            self.podsPerNode = podsPerNode
            self.interval = interval
            self.users = users
            self.connectionsPerPod = connectionsPerPod
        }
    }

    let configuration: Configuration
    let bus: any MessageBus
    let logger: Logger
    let instance = "sim-\(UInt32.random(in: 0...UInt32.max))"

    /// `sim-node-0042`: four digits at least, as the fake API server names them.
    static func nodeName(_ index: Int) -> String {
        let digits = String(index)
        return "sim-node-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    public init(configuration: Configuration, bus: any MessageBus, logger: Logger) {
        self.configuration = configuration
        self.bus = bus
        self.logger = logger
    }

    public func run() async throws {
        logger.info("simulating nodes", metadata: ["nodes": "\(configuration.nodes)", "pods_per_node": "\(configuration.podsPerNode)"])
        await cancelWhenGracefulShutdown {
            var sequence: UInt64 = 0
            let clock = ContinuousClock()
            var next = clock.now
            while !Task.isCancelled {
                sequence += 1
                let now = Date().timeIntervalSince1970
                for node in 0..<self.configuration.nodes {
                    let batch = self.batch(node: node, sequence: sequence, time: now)
                    do {
                        for part in try BatchSplitter.split(batch, maxBytes: self.bus.maxPayloadBytes) {
                            try self.bus.publish(subject: "agent.v1.\(batch.nodeName)", payload: part)
                        }
                    } catch {
                        self.logger.warning("simulated batch not sent", metadata: ["node": "\(batch.nodeName)", "error": "\(error)"])
                    }
                }
                next = next.advanced(by: self.configuration.interval)
                try? await Task.sleep(until: max(next, clock.now))
            }
        }
    }

    static func hasGPUs(_ node: Int) -> Bool { node % 10 == 9 }
    static func gpuUUID(node: Int, gpu: Int) -> String {
        func hex(_ value: Int, _ width: Int) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "GPU-\(hex(node, 8))-0000-4000-8000-\(hex(gpu, 12))"
    }
    static func gpuMemory(_ gpu: Int, _ sequence: UInt64) -> UInt64 { UInt64(4 + (gpu * 5 + Int(sequence % 7))) << 30 }
    static func gpuPercent(_ gpu: Int, _ sequence: UInt64) -> UInt32 { UInt32(40 + (gpu * 17 + Int(sequence % 11) * 3) % 60) }

    /// Node `index`'s snapshot number `sequence`, collected at `time`.
    public func batch(node index: Int, sequence: UInt64, time: Double) -> Agent_V1_Batch {
        let c = configuration
        let seconds = UInt64(max(1, c.interval.components.seconds))
        let busyShare = UInt64(10 + (index * 7) % 70)  // percent of the node busy
        return .with { batch in
            batch.nodeName = Self.nodeName(index)
            batch.agentVersion = "simulated"
            batch.agentInstance = instance
            batch.sequence = sequence
            batch.collectedAt = .with { $0.seconds = Int64(time); $0.nanos = Int32((time - time.rounded(.down)) * 1e9) }
            batch.intervalMs = UInt32(c.interval.components.seconds * 1000)
            batch.partCount = 1
            batch.node = .with { node in
                node.cpuCount = 8
                node.memoryTotalBytes = 32 << 30
                node.cpuTotalNanoseconds = sequence * seconds * 8 * 1_000_000_000
                node.cpuBusyNanoseconds = node.cpuTotalNanoseconds / 100 * busyShare
                node.usage = .with { $0.memoryWorkingSetBytes = UInt64(8 + (index + Int(sequence)) % 16) << 30 }
                node.filesystems = [.with { $0.name = "nodefs"; $0.capacityBytes = 200 << 30; $0.usedBytes = UInt64(40 + index % 100) << 30 }]
                // Every tenth node has four GPUs; pods 1 to 4 each hold one (below).
                if Self.hasGPUs(index) {
                    node.gpus = (0..<4).map { g in
                        .with {
                            $0.index = UInt32(g)
                            $0.uuid = Self.gpuUUID(node: index, gpu: g)
                            $0.name = "NVIDIA A100-SXM4-40GB"
                            $0.memoryTotalBytes = 40 << 30
                            $0.memoryUsedBytes = g < c.podsPerNode - 1 ? Self.gpuMemory(g, sequence) : 0
                            $0.gpuUtilizationPercent = g < c.podsPerNode - 1 ? Self.gpuPercent(g, sequence) : 0
                            $0.memoryUtilizationPercent = $0.gpuUtilizationPercent / 2
                            $0.powerMilliwatts = 60_000 + $0.gpuUtilizationPercent * 3_000
                            $0.temperatureCelsius = 35 + $0.gpuUtilizationPercent / 3
                        }
                    }
                }
            }
            batch.collectors = [.with { $0.name = "simulated"; $0.ok = true }]
            batch.pods = (0..<c.podsPerNode).map { p in
                let user = (index * c.podsPerNode + p) % max(c.users, 1)
                let namespace = p % 10 == 0 ? "kube-system" : "compute-u\(user)-app"
                let name = "pod-\(index)-\(p)"
                return .with { pod in
                    pod.uid = "sim-\(index)-\(p)"
                    pod.name = name
                    pod.namespace = namespace
                    pod.ip = "10.\(index / 250 % 250).\(index % 250).\(p + 1)"
                    pod.phase = "Running"
                    pod.startTime = .with { $0.seconds = Int64(time) - Int64(sequence * seconds) }
                    pod.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "app-\(p % 7)-5d8f"; $0.controller = true }]
                    pod.labels = ["app": "app-\(p % 7)", "pod-template-hash": "5d8f"]
                    pod.usage = .with {
                        $0.cpuUsageCoreNanoseconds = sequence * seconds * UInt64(10_000_000 + p * 1_000_000)
                        $0.memoryWorkingSetBytes = UInt64(64 + (p * 13 + Int(sequence)) % 512) << 20
                    }
                    pod.ephemeralStorageUsedBytes = UInt64(p + 1) << 20
                    pod.containers = [.with {
                        $0.name = "main"
                        $0.id = String(repeating: "ab", count: 32)
                        $0.runtime = "containerd"
                        $0.image = "registry.example/app:\(p % 7)"
                        $0.restartCount = UInt32(p % 3)
                        $0.state = "running"
                        $0.startedAt = .with { $0.seconds = Int64(time) - Int64(sequence * seconds) }
                        // The pod's one container uses what the pod uses.
                        $0.usage = .with {
                            $0.cpuUsageCoreNanoseconds = sequence * seconds * UInt64(10_000_000 + p * 1_000_000)
                            $0.memoryWorkingSetBytes = UInt64(64 + (p * 13 + Int(sequence)) % 512) << 20
                        }
                        $0.cpuRequestMillicores = 100
                        $0.memoryLimitBytes = 1 << 30
                        if Self.hasGPUs(index), (1...4).contains(p) {
                            let g = p - 1
                            $0.gpuRequests = [.with { $0.name = "nvidia.com/gpu"; $0.count = 1 }]
                            $0.gpus = [.with {
                                $0.deviceUuid = Self.gpuUUID(node: index, gpu: g)
                                $0.memoryUsedBytes = Self.gpuMemory(g, sequence)
                                $0.smUtilizationPercent = Self.gpuPercent(g, sequence)
                                $0.processes = [.with { $0.pid = UInt32(10_000 + p); $0.memoryUsedBytes = Self.gpuMemory(g, sequence); $0.smUtilizationPercent = Self.gpuPercent(g, sequence) }]
                            }]
                        }
                    }]
                }
            }
            batch.connections = (0..<(c.podsPerNode * c.connectionsPerPod)).map { k in
                let p = k % max(c.podsPerNode, 1)
                return .with { connection in
                    connection.protocol = .tcp
                    connection.localAddress = Data([10, UInt8(index / 250 % 250), UInt8(index % 250), UInt8(p + 1)])
                    connection.localPort = UInt32(32768 + (k / max(c.podsPerNode, 1)) % 28000)  // an ephemeral port, unique per pod
                    // A pod of the next node (the last node's go to the first).
                    let peer = (index + 1) % max(c.nodes, 1)
                    connection.remoteAddress = Data([10, UInt8(peer / 250 % 250), UInt8(peer % 250), UInt8((k * 7 + 3) % max(c.podsPerNode, 1) + 1)])
                    connection.remotePort = 8080
                    connection.family = .ipv4
                    connection.direction = .outgoing
                    connection.source = .tracer
                    connection.countersKnown = true
                    connection.sentBytes = sequence * 1000 * UInt64(k + 1)
                    connection.recvBytes = sequence * 4000 * UInt64(k + 1)
                    connection.podUid = "sim-\(index)-\(p)"
                }
            }
        }
    }
}
