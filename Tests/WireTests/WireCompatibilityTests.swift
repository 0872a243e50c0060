import Foundation
import SwiftProtobuf
import Testing
import TestSupport
@testable import Wire

/// Decodes bytes with Debian's `protoc`: an independent decoder of the same .proto files,
/// which is what the existing alerting consumer relies on.
private func protocDecode(_ type: String, _ file: String, _ bytes: [UInt8]) throws -> String {
    let result = try runCommand("protoc", ["--decode=\(type)", "-I", "proto", file], input: Data(bytes), directory: Fixtures.packageRoot)
    #expect(result.status == 0, "protoc failed: \(result.stderr)")
    return result.stdoutText
}

private func protocEncode(_ type: String, _ file: String, _ text: String) throws -> [UInt8] {
    let result = try runCommand("protoc", ["--encode=\(type)", "-I", "proto", file], input: Data(text.utf8), directory: Fixtures.packageRoot)
    #expect(result.status == 0, "protoc failed: \(result.stderr)")
    return [UInt8](result.stdout)
}

@Suite("Cluster Monitor events are wire-compatible with protoc")
struct ClusterEventsWireTests {
    @Test func clusterMetricsDecodesWithProtoc() throws {
        let message = Cluster_ClusterMetrics.with {
            $0.metadata = .with {
                $0.eventID = "0f8fad5b-d9cb-469f-a165-70867728950e"
                $0.entityID = "cluster"
                $0.timestamp = .with { $0.seconds = 1_700_000_000; $0.nanos = 5 }
                $0.source = "cluster-monitor"
                $0.version = 3
            }
            $0.nodes = [.with {
                $0.name = "node-a"
                $0.cpuPercent = 12.5
                $0.memoryPercent = 50
                $0.diskPercent = 75.25
                $0.conditions = [.with { $0.type = "MemoryPressure"; $0.status = "False" }]
            }]
        }
        let text = try protocDecode("cluster.ClusterMetrics", "cluster/events.proto", try bytes(message))
        #expect(text.contains(#"event_id: "0f8fad5b-d9cb-469f-a165-70867728950e""#))
        #expect(text.contains(#"entity_id: "cluster""#))
        #expect(text.contains("seconds: 1700000000"))
        #expect(text.contains("nanos: 5"))
        #expect(text.contains(#"source: "cluster-monitor""#))
        #expect(text.contains("version: 3"))
        #expect(text.contains(#"name: "node-a""#))
        #expect(text.contains("cpu_percent: 12.5"))
        #expect(text.contains("memory_percent: 50"))
        #expect(text.contains("disk_percent: 75.25"))
        #expect(text.contains(#"type: "MemoryPressure""#))
        #expect(text.contains(#"status: "False""#))
    }

    @Test func podStatusSnapshotDecodesWithProtoc() throws {
        let message = Cluster_PodStatusSnapshot.with {
            $0.metadata = .with { $0.source = "cluster-monitor"; $0.timestamp = .with { $0.seconds = 42 } }
            $0.pods = [
                .with { $0.name = "api-0"; $0.namespace = "compute-u1-web"; $0.restartCount = 4; $0.oomKilled = true },
                .with { $0.name = "db-0"; $0.namespace = "core" },
            ]
        }
        let text = try protocDecode("cluster.PodStatusSnapshot", "cluster/events.proto", try bytes(message))
        #expect(text.contains(#"name: "api-0""#))
        #expect(text.contains(#"namespace: "compute-u1-web""#))
        #expect(text.contains("restart_count: 4"))
        #expect(text.contains("oom_killed: true"))
        #expect(text.contains(#"name: "db-0""#))
        #expect(text.contains("seconds: 42"))
    }

    @Test func protocEncodedEventsDecodeInSwift() throws {
        let bytes = try protocEncode("cluster.ClusterMetrics", "cluster/events.proto", """
            metadata { event_id: "e" source: "cluster-monitor" timestamp { seconds: 7 } version: 1 }
            nodes { name: "n1" cpu_percent: 1.5 conditions { type: "DiskPressure" status: "True" } }
            """)
        let decoded = try Cluster_ClusterMetrics(serializedBytes: bytes)
        #expect(decoded.metadata.eventID == "e")
        #expect(decoded.metadata.timestamp.seconds == 7)
        #expect(decoded.nodes.first?.name == "n1")
        #expect(decoded.nodes.first?.cpuPercent == 1.5)
        #expect(decoded.nodes.first?.conditions.first?.status == "True")
    }

    @Test func fieldNumbersAreTheReferenceOnes() throws {
        // Hand-encoded: field 2 (nodes) of ClusterMetrics, holding field 1 (name) = "x" and
        // field 4 (disk_percent, fixed64 double) = 1.0. Any renumbering breaks this.
        let bytes: [UInt8] = [0x12, 0x0C, 0x0A, 0x01, 0x78, 0x21, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F]
        let decoded = try Cluster_ClusterMetrics(serializedBytes: bytes)
        #expect(decoded.nodes.first?.name == "x")
        #expect(decoded.nodes.first?.diskPercent == 1.0)
        let pod: [UInt8] = [0x12, 0x06, 0x18, 0x02, 0x20, 0x01, 0x0A, 0x00]
        let snapshot = try Cluster_PodStatusSnapshot(serializedBytes: pod)
        #expect(snapshot.pods.first?.restartCount == 2)
        #expect(snapshot.pods.first?.oomKilled == true)
    }
}

@Suite("Agent batch contract")
struct AgentBatchWireTests {
    static let sample = Agent_V1_Batch.with {
        $0.nodeName = "node-a"
        $0.agentVersion = "0.1.0"
        $0.agentInstance = "7c9e6679"
        $0.sequence = 42
        $0.collectedAt = .with { $0.seconds = 1_700_000_000 }
        $0.intervalMs = 10_000
        $0.partIndex = 0
        $0.partCount = 1
        $0.node = .with {
            $0.usage = .with { $0.cpuUsageNanocores = 500_000_000; $0.cpuUsageCoreNanoseconds = 1_000_000_000_000; $0.memoryWorkingSetBytes = 2 << 30 }
            $0.cpuCount = 4
            $0.memoryTotalBytes = 8 << 30
            $0.filesystems = [.with { $0.name = "nodefs"; $0.capacityBytes = 100 << 30; $0.usedBytes = 40 << 30 }]
            $0.interfaces = [.with { $0.name = "eth0"; $0.rxBytes = 123; $0.txBytes = 456; $0.rxErrors = 1 }]
        }
        $0.pods = [.with {
            $0.uid = "uid-1"; $0.name = "web-0"; $0.namespace = "compute-u1-web"; $0.ip = "10.0.0.5"
            $0.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "web-5d4"; $0.controller = true }]
            $0.usage = .with { $0.cpuUsageNanocores = 0 }
            $0.containers = [.with {
                $0.name = "web"; $0.id = String(repeating: "a", count: 64); $0.runtime = "containerd"
                $0.restartCount = 3; $0.lastTerminationReason = "OOMKilled"; $0.pids = [100, 101]; $0.netnsInode = 4_026_532_000
            }]
            $0.listening = [.with { $0.protocol = .tcp; $0.address = Data([0, 0, 0, 0]); $0.port = 8080 }]
        }]
        $0.connections = [.with {
            $0.protocol = .tcp; $0.family = .ipv4; $0.direction = .outgoing; $0.source = .tracer
            $0.localAddress = Data([10, 0, 0, 5]); $0.localPort = 40000
            $0.remoteAddress = Data([10, 0, 0, 9]); $0.remotePort = 5432
            $0.countersKnown = true; $0.sentBytes = 1000; $0.recvBytes = 2000; $0.retransmits = 1; $0.rttMicros = 250
            $0.containerID = String(repeating: "a", count: 64); $0.podUid = "uid-1"
        }]
    }

    @Test func batchRoundTripsAndKeepsOptionalPresence() throws {
        let bytes = try bytes(Self.sample)
        let decoded = try Agent_V1_Batch(serializedBytes: bytes)
        #expect(decoded == Self.sample)
        // An explicit zero is not the same as "not reported".
        #expect(decoded.pods[0].usage.hasCpuUsageNanocores)
        #expect(!decoded.pods[0].usage.hasMemoryWorkingSetBytes)
    }

    @Test func batchDecodesWithProtoc() throws {
        let text = try protocDecode("agent.v1.Batch", "agent/v1/batch.proto", try bytes(Self.sample))
        #expect(text.contains(#"node_name: "node-a""#))
        #expect(text.contains("sequence: 42"))
        #expect(text.contains("cpu_usage_nanocores: 500000000"))
        #expect(text.contains(#"last_termination_reason: "OOMKilled""#))
        #expect(text.contains("protocol: PROTOCOL_TCP"))
        #expect(text.contains("source: CONNECTION_SOURCE_TRACER"))
        #expect(text.contains("rtt_micros: 250"))
    }

    @Test func truncatedBatchIsAnErrorNotACrash() throws {
        let bytes = try bytes(Self.sample)
        #expect(throws: (any Error).self) { try Agent_V1_Batch(serializedBytes: Array(bytes.prefix(bytes.count / 2))) }
    }
}

@Suite("Generated code")
struct GeneratedCodeTests {
    @Test func generatedSwiftMatchesTheProtos() throws {
        let result = try runCommand("bash", ["scripts/generate-protos.sh", "--check"], directory: Fixtures.packageRoot)
        #expect(result.status == 0, "Sources/Wire or Sources/PodResources is stale; run scripts/generate-protos.sh\n\(result.stderr)")
    }
}

private func bytes(_ message: some SwiftProtobuf.Message) throws -> [UInt8] {
    try message.serializedBytes()
}
