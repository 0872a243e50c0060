import Foundation
import Kubernetes
import Testing
import TestSupport
import Wire
@testable import NodeAgent

/// A cycle on the 1.34 containerd fixtures: two containers' processes in their own network
/// namespaces, a host process, and tracer connections from all three.
enum JoinScenario {
    static let webUID = "16db8d0d-9838-46bc-a4d1-8abc88c3850d"
    static let webContainer = "e00e869a331dc32bc42557490ed99de1ebd5aa998ea693f110a6ecee91a26e20"
    static let dnsUID = "d765336d-6173-4caa-997f-8c63f9ae32aa"
    static let dnsContainer = "ff7f3417e620238051fc79fbc772b6262f7c416ac7f86ea82344e236af66be34"
    static let hostNetns: UInt64 = 4_026_531_840
    static let webNetns: UInt64 = 4_026_532_100
    static let dnsNetns: UInt64 = 4_026_532_200

    static func socket(_ local: String, _ port: UInt16, _ remote: String = "0.0.0.0", _ remotePort: UInt16 = 0, state: TCPSocket.State?) -> TCPSocket {
        TCPSocket(localAddress: IPAddress(local)!, localPort: port, remoteAddress: IPAddress(remote)!, remotePort: remotePort, state: state, uid: 0, inode: 1)
    }

    static func observation() throws -> NodeObservation {
        var o = NodeObservation(collectedAt: UnixTime(seconds: 1_768_329_614))
        o.summary = try SummaryDecoder.decode(Fixtures.bytes("kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json"))
        o.pods = try Pod.decodeList(Fixtures.bytes("kubelet-pods/nri_k8s-1.34_containerd_pods.json")).items
        o.stat = try ProcStat.parse(Fixtures.bytes("procfs/stat/node_exporter_proc_stat"))
        o.meminfo = try Meminfo.parse(Fixtures.bytes("procfs/meminfo/go-sysinfo_ubuntu1710_proc_meminfo"))
        o.hostNetns = hostNetns
        o.processes = ProcessScan(processes: [
            ProcessEntry(pid: 1, container: nil, netns: hostNetns),
            ProcessEntry(pid: 4242, container: ContainerCgroup(containerID: webContainer, runtime: "containerd", podUID: webUID), netns: webNetns),
            ProcessEntry(pid: 4243, container: ContainerCgroup(containerID: webContainer, runtime: "containerd", podUID: webUID), netns: webNetns),
            ProcessEntry(pid: 5000, container: ContainerCgroup(containerID: dnsContainer, runtime: "containerd", podUID: dnsUID), netns: dnsNetns),
        ])
        o.sockets = [
            hostNetns: NamespaceSockets(tcp: [socket("0.0.0.0", 22, state: .listen)]),
            webNetns: NamespaceSockets(tcp: [socket("0.0.0.0", 8080, state: .listen),
                                             socket("10.244.0.7", 8080, "10.244.0.9", 51000, state: .established),
                                             socket("10.244.0.7", 40000, "10.96.0.10", 53, state: .established)]),
            dnsNetns: NamespaceSockets(tcp: [socket("0.0.0.0", 53, state: .listen)], udp: [socket("0.0.0.0", 53, state: .close)]),
        ]
        var web = TracerConnection()
        web.pid = 4243; web.netns = webNetns; web.local = IPAddress("10.244.0.7")!; web.localPort = 40000
        web.remote = IPAddress("10.96.0.10")!; web.remotePort = 53; web.kind = .udp; web.direction = .outgoing
        web.sentBytes = 1200; web.recvBytes = 3400; web.retransmits = 0
        var dnsByNetns = TracerConnection()
        dnsByNetns.pid = 99_999; dnsByNetns.netns = dnsNetns; dnsByNetns.local = IPAddress("10.244.0.2")!; dnsByNetns.localPort = 53
        dnsByNetns.remote = IPAddress("10.244.0.7")!; dnsByNetns.remotePort = 40000; dnsByNetns.kind = .udp; dnsByNetns.direction = .incoming
        var host = TracerConnection()
        host.pid = 1; host.netns = hostNetns; host.local = IPAddress("172.18.0.2")!; host.localPort = 22
        host.remote = IPAddress("172.18.0.1")!; host.remotePort = 60000; host.direction = .incoming; host.rttMicros = 180
        var loopback = TracerConnection()
        loopback.pid = 1; loopback.local = IPAddress("127.0.0.1")!; loopback.remote = IPAddress("127.0.0.1")!
        o.tracerConnections = [web, dnsByNetns, host, loopback]
        return o
    }

    static let builder = BatchBuilder(nodeName: "datagen-1-34", agentVersion: "test", agentInstance: "abcd", interval: .seconds(10))
}

@Suite("Joining a cycle into the batch")
struct BatchBuilderTests {
    @Test func headerAndNodeStats() throws {
        let batch = JoinScenario.builder.build(try JoinScenario.observation(), sequence: 7)
        #expect(batch.nodeName == "datagen-1-34")
        #expect(batch.sequence == 7)
        #expect(batch.agentInstance == "abcd")
        #expect(batch.intervalMs == 10_000)
        #expect(batch.partCount == 1)
        #expect(batch.collectedAt.seconds == 1_768_329_614)
        // CPU and memory from the kubelet's node stats; capacity from /proc.
        #expect(batch.node.usage.cpuUsageNanocores == 644_367_996)
        #expect(batch.node.usage.cpuUsageCoreNanoseconds == 63_349_226_000)
        #expect(batch.node.usage.memoryWorkingSetBytes == 898_445_312)
        #expect(batch.node.memoryTotalBytes == 4_042_048 * 1024)
        #expect(batch.node.cpuCount == 8)
        #expect(batch.node.cpuBusyNanoseconds == (301_854 + 612 + 111_922 + 2 + 3944) * 10_000_000)
        #expect(batch.node.filesystems.map(\.name) == ["nodefs", "imagefs"])
        #expect(batch.node.filesystems[0].capacityBytes == 485_473_984_512)
        #expect(batch.node.interfaces.count == 10)  // the kubelet's, when procfs gave none
    }

    @Test func podsJoinMetadataStatsAndProcesses() throws {
        let batch = JoinScenario.builder.build(try JoinScenario.observation(), sequence: 1)
        #expect(batch.pods.count == 24)
        let web = try #require(batch.pods.first { $0.uid == JoinScenario.webUID })
        #expect(web.name == "e2e-deployment-6fb786454b-7fsxc")
        #expect(web.namespace == "scraper")
        #expect(web.ip == "10.244.0.7")
        #expect(web.owners.first?.kind == "ReplicaSet")
        #expect(web.owners.first?.name == "e2e-deployment-6fb786454b")
        #expect(web.usage.cpuUsageNanocores == 79_902_760)
        #expect(web.usage.memoryWorkingSetBytes == 10_661_888)
        #expect(web.ephemeralStorageUsedBytes == 36_864)
        #expect(web.netnsInode == JoinScenario.webNetns)
        #expect(web.listening.map(\.port) == [8080])
        let container = try #require(web.containers.first)
        #expect(container.name == "compute-pi-digits")
        #expect(container.id == JoinScenario.webContainer)
        #expect(container.runtime == "containerd")
        #expect(container.pids == [4242, 4243])
        #expect(container.cpuRequestMillicores == 40)
        #expect(container.cpuLimitMillicores == 80)
        #expect(container.memoryLimitBytes == 30 << 20)
        #expect(container.usage.cpuUsageCoreNanoseconds == 2_756_273_000)
        let dns = try #require(batch.pods.first { $0.uid == JoinScenario.dnsUID })
        #expect(Set(dns.listening.map { "\($0.protocol == .udp ? "udp" : "tcp")/\($0.port)" }) == ["tcp/53", "udp/53"])
        // Pods the summary does not list still carry their metadata.
        #expect(batch.pods.filter { !$0.hasUsage }.count == 24 - 18)
        #expect(batch.hostListening.map(\.port) == [22])
    }

    @Test func connectionsTiedToContainerPodOrHost() throws {
        let batch = JoinScenario.builder.build(try JoinScenario.observation(), sequence: 1)
        #expect(batch.connections.count == 3, "loopback is not shipped")
        let byPort = Dictionary(uniqueKeysWithValues: batch.connections.map { ($0.localPort, $0) })
        let web = try #require(byPort[40000])
        #expect(web.containerID == JoinScenario.webContainer)
        #expect(web.podUid == JoinScenario.webUID)
        #expect(web.protocol == .udp)
        #expect(web.source == .tracer)
        #expect(web.countersKnown)
        #expect(web.sentBytes == 1200 && web.recvBytes == 3400)
        #expect(web.remoteAddress == Data([10, 96, 0, 10]))
        // The pid is unknown to the scan, the network namespace is the pod's.
        let dns = try #require(byPort[53])
        #expect(dns.podUid == JoinScenario.dnsUID)
        #expect(dns.containerID.isEmpty)
        #expect(dns.direction == .incoming)
        let host = try #require(byPort[22])
        #expect(host.podUid.isEmpty && host.containerID.isEmpty)
        #expect(host.rttMicros == 180)
    }

    @Test func procfsFallbackWithoutTracer() throws {
        var o = try JoinScenario.observation()
        o.tracerConnections = nil
        let batch = JoinScenario.builder.build(o, sequence: 1)
        #expect(batch.connections.count == 2)
        #expect(batch.connections.allSatisfy { $0.source == .procfs && !$0.countersKnown && $0.podUid == JoinScenario.webUID })
        let incoming = try #require(batch.connections.first { $0.localPort == 8080 })
        #expect(incoming.direction == .incoming)
        #expect(incoming.containerID == JoinScenario.webContainer, "a one-container pod's connection is that container's")
        #expect(batch.connections.first { $0.localPort == 40000 }?.direction == .outgoing)
    }

    @Test func connectionCapKeepsTheHeaviestAndCountsTheRest() throws {
        var o = try JoinScenario.observation()
        o.tracerConnections = (0..<100).map { i in
            var c = TracerConnection()
            c.local = IPAddress("10.0.0.1")!; c.localPort = UInt16(10_000 + i); c.remote = IPAddress("10.0.0.2")!; c.remotePort = 80
            c.sentBytes = UInt64(i)
            return c
        }
        var builder = JoinScenario.builder
        builder.maxConnections = 10
        let batch = builder.build(o, sequence: 1)
        #expect(batch.connections.count == 10)
        #expect(batch.connectionsDropped == 90)
        #expect(batch.connections.map(\.sentBytes).min() == 90)
    }

    @Test func failedCollectorsLeaveTheirPartEmptyAndSaySo() throws {
        var o = NodeObservation(collectedAt: UnixTime(seconds: 1))
        o.meminfo = try Meminfo.parse(Fixtures.bytes("procfs/meminfo/procfs_proc_meminfo"))
        o.collectors = [.init(name: "kubelet-summary", error: "kubelet https://x: HTTP 401"), .init(name: "procfs-node")]
        let batch = JoinScenario.builder.build(o, sequence: 1)
        #expect(batch.pods.isEmpty)
        #expect(batch.node.memoryTotalBytes == 15_666_184 * 1024)
        #expect(batch.collectors.map(\.ok) == [false, true])
        #expect(batch.collectors[0].error.contains("401"))
    }
}

@Suite("Splitting a batch to fit max_payload")
struct BatchSplitterTests {
    @Test func smallBatchIsOnePart() throws {
        let batch = JoinScenario.builder.build(try JoinScenario.observation(), sequence: 1)
        #expect(try BatchSplitter.split(batch, maxBytes: 1 << 20).count == 1)
    }

    @Test func largeBatchSplitsIntoPartsThatReassemble() throws {
        var batch = JoinScenario.builder.build(try JoinScenario.observation(), sequence: 3)
        let pods = batch.pods
        batch.pods = (0..<20).flatMap { copy in pods.map { pod in var p = pod; p.uid += "-\(copy)"; return p } }
        batch.connections = (0..<5000).map { i in
            .with { $0.localPort = UInt32(i); $0.sentBytes = UInt64(i); $0.localAddress = Data([10, 0, 0, 1]); $0.remoteAddress = Data([10, 0, 0, 2]) }
        }
        let limit = 64 * 1024
        let parts = try BatchSplitter.split(batch, maxBytes: limit)
        #expect(parts.count > 1)
        #expect(parts.allSatisfy { $0.count <= limit })
        let decoded = try parts.map { try Agent_V1_Batch(serializedBytes: $0) }
        #expect(decoded.map(\.partIndex) == Array(0..<UInt32(parts.count)))
        #expect(decoded.allSatisfy { $0.partCount == UInt32(parts.count) && $0.sequence == 3 && $0.nodeName == "datagen-1-34" })
        #expect(decoded[0].hasNode && decoded.dropFirst().allSatisfy { !$0.hasNode })
        #expect(decoded.flatMap(\.pods).map(\.uid) == batch.pods.map(\.uid))
        #expect(decoded.flatMap(\.connections) == batch.connections)
    }

    @Test func aPodLargerThanAMessageIsAClearError() throws {
        var batch = Agent_V1_Batch()
        batch.nodeName = "n"
        batch.pods = [.with { $0.name = "huge"; $0.namespace = "ns"; $0.labels = ["k": String(repeating: "x", count: 10_000)] }]
        #expect(throws: BatchTooLarge.self) { try BatchSplitter.split(batch, maxBytes: 4096) }
    }
}
