import Aggregator
import Foundation
import Wire

/// Agent batches made by tests, as the agent would send them.
public enum TestBatches {
    public struct PodSpec: Sendable {
        public var namespace: String
        public var name: String
        public var uid: String
        public var cpuCoreNanoseconds: UInt64
        public var memoryBytes: UInt64
        public var diskBytes: UInt64
        public var restarts: UInt32
        public var oomKilled: Bool

        public init(_ namespace: String, _ name: String, uid: String? = nil, cpuCoreNanoseconds: UInt64 = 0, memoryBytes: UInt64 = 0,
                    diskBytes: UInt64 = 0, restarts: UInt32 = 0, oomKilled: Bool = false) {
            self.namespace = namespace
            self.name = name
            self.uid = uid ?? "uid-\(namespace)-\(name)"
            self.cpuCoreNanoseconds = cpuCoreNanoseconds
            self.memoryBytes = memoryBytes
            self.diskBytes = diskBytes
            self.restarts = restarts
            self.oomKilled = oomKilled
        }
    }

    /// A whole-node snapshot: 4 CPUs, 16 GiB, a 100 GiB nodefs.
    public static func batch(node: String, instance: String = "agent-1", sequence: UInt64, collectedAt: Int64,
                             cpuBusyNanoseconds: UInt64 = 0, cpuTotalNanoseconds: UInt64 = 0, memoryUsedBytes: UInt64 = 4 << 30,
                             diskUsedBytes: UInt64 = 25 << 30, pods: [PodSpec] = [], intervalMs: UInt32 = 10_000) -> Agent_V1_Batch {
        .with { batch in
            batch.nodeName = node
            batch.agentVersion = "test"
            batch.agentInstance = instance
            batch.sequence = sequence
            batch.collectedAt = .with { $0.seconds = collectedAt }
            batch.intervalMs = intervalMs
            batch.partCount = 1
            batch.node = .with { stats in
                stats.cpuCount = 4
                stats.memoryTotalBytes = 16 << 30
                stats.cpuBusyNanoseconds = cpuBusyNanoseconds
                stats.cpuTotalNanoseconds = cpuTotalNanoseconds
                stats.usage = .with { $0.memoryWorkingSetBytes = memoryUsedBytes }
                stats.filesystems = [.with { $0.name = "nodefs"; $0.capacityBytes = 100 << 30; $0.usedBytes = diskUsedBytes }]
            }
            batch.collectors = [.with { $0.name = "kubelet-summary"; $0.ok = true }]
            batch.pods = pods.map { spec in
                .with { pod in
                    pod.uid = spec.uid
                    pod.name = spec.name
                    pod.namespace = spec.namespace
                    pod.phase = "Running"
                    pod.usage = .with { $0.cpuUsageCoreNanoseconds = spec.cpuCoreNanoseconds; $0.memoryWorkingSetBytes = spec.memoryBytes }
                    pod.ephemeralStorageUsedBytes = spec.diskBytes
                    pod.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "\(spec.name)-rs"; $0.controller = true }]
                    pod.containers = [
                        .with { $0.name = "init"; $0.init_p = true; $0.restartCount = 7 },
                        .with {
                            $0.name = "main"
                            // A runtime id of 64 hex digits from the pod's uid.
                            $0.id = String(spec.uid.utf8.map { String($0, radix: 16) }.joined().padding(toLength: 64, withPad: "0", startingAt: 0).prefix(64))
                            $0.usage = .with { $0.cpuUsageCoreNanoseconds = spec.cpuCoreNanoseconds; $0.memoryWorkingSetBytes = spec.memoryBytes }
                            $0.restartCount = spec.restarts
                            $0.state = "running"
                            $0.lastTerminationReason = spec.oomKilled ? "OOMKilled" : ""
                            $0.cpuRequestMillicores = 250
                            $0.memoryLimitBytes = 512 << 20
                        },
                    ]
                }
            }
        }
    }
}

/// One connection as an agent reports it (addresses as text, IPv4 or IPv6).
public func connection(_ transport: Agent_V1_Protocol = .tcp, from local: String, _ localPort: UInt32, to remote: String, _ remotePort: UInt32,
                _ direction: Agent_V1_Direction, pod: String = "", sent: UInt64 = 0, received: UInt64 = 0, retransmits: UInt64 = 0,
                rtt: UInt32? = nil, countersKnown: Bool = true) -> Agent_V1_Connection {
    .with { c in
        let localAddress = NetworkAddress(local)!, remoteAddress = NetworkAddress(remote)!
        c.protocol = transport
        c.family = localAddress.isIPv4 ? .ipv4 : .ipv6
        c.localAddress = Data(localAddress.bytes)
        c.localPort = localPort
        c.remoteAddress = Data(remoteAddress.bytes)
        c.remotePort = remotePort
        c.direction = direction
        c.source = .tracer
        c.countersKnown = countersKnown
        c.sentBytes = sent
        c.recvBytes = received
        c.retransmits = retransmits
        if let rtt { c.rttMicros = rtt }
        c.podUid = pod
    }
}
