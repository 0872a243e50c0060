import Foundation
import Kubernetes
import Logging
import Messaging
import Synchronization
import Testing
import TestSupport
import Wire
@testable import Aggregator

private func message(_ batch: Agent_V1_Batch, subject: String? = nil) throws -> BusMessage {
    BusMessage(subject: subject ?? "agent.v1.\(batch.nodeName)", payload: try batch.serializedBytes())
}

private func json(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

/// A Pod as the API server lists it: a StatefulSet's when `owner` is given, a container
/// status per restart count.
private func listedPod(_ namespace: String, _ name: String, uid: String, owner: String? = nil, restarts: [Int] = [0]) -> Pod {
    var pod = Pod()
    pod.metadata.namespace = namespace
    pod.metadata.name = name
    pod.metadata.uid = uid
    if let owner { pod.metadata.ownerReferences = [OwnerReference(kind: "StatefulSet", name: owner, uid: "o", controller: true)] }
    pod.containerStatuses = restarts.enumerated().map { index, count in
        var status = ContainerStatus()
        status.name = "c\(index)"
        status.restartCount = count
        return status
    }
    return pod
}

@Suite struct BatchAssemblerTests {
    /// A newer agent's fields (unknown here) are read past and dropped, at the top and inside
    /// a pod: the batch the aggregator keeps (held parts, state) carries none of their bytes.
    @Test func unknownFieldsOfANewerAgentAreDropped() throws {
        var batch = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1_700_000_000,
                                      pods: [.init("compute-u1-web", "web-1", uid: "uid-web-1", cpuCoreNanoseconds: 1, memoryBytes: 2)])
        // Field 900, length-delimited, 200 bytes (past any inline Data), after the pod's own
        // fields and after the batch's: the batch's field 11 (pods) carries the pod's bytes.
        let unknown: [UInt8] = [0xA2, 0x38, 0xC8, 0x01] + [UInt8](repeating: 7, count: 200)
        let pod: [UInt8] = try batch.pods[0].serializedBytes() + unknown
        batch.pods = []
        var length: [UInt8] = []
        var rest = pod.count
        while rest >= 0x80 { length.append(UInt8(rest & 0x7F) | 0x80); rest >>= 7 }
        length.append(UInt8(rest))
        let bytes: [UInt8] = try batch.serializedBytes() + [UInt8(11 << 3 | 2)] + length + pod + unknown
        #expect(BatchDecoding.batch(bytes) == nil, "the fast decoder declines unknown fields: the generic path is the one tested")
        let kept = try Agent_V1_Batch(serializedBytes: bytes)
        #expect(kept.unknownFields.data.count == unknown.count && kept.pods[0].unknownFields.data.count == unknown.count, "swift-protobuf keeps them by default")
        let decoded = try IngestService.decode(bytes)
        #expect(!decoded.fast)
        #expect(decoded.batch.unknownFields.data.isEmpty && decoded.batch.pods[0].unknownFields.data.isEmpty)
        #expect(decoded.batch.pods[0].name == "web-1" && decoded.batch.nodeName == "n1")
    }

    @Test func ordersSnapshotsPerAgentInstance() {
        var assembler = BatchAssembler()
        let first = TestBatches.batch(node: "n1", sequence: 5, collectedAt: 100)
        #expect(assembler.accept(first, subjectNode: "n1") == .complete(first))
        #expect(assembler.accept(first, subjectNode: "n1") == .stale)
        #expect(assembler.accept(TestBatches.batch(node: "n1", sequence: 4, collectedAt: 90), subjectNode: "n1") == .stale)
        let next = TestBatches.batch(node: "n1", sequence: 6, collectedAt: 110)
        #expect(assembler.accept(next, subjectNode: "n1") == .complete(next))
        // A restarted agent starts again at 1 with a new instance: newer by collection time.
        let restarted = TestBatches.batch(node: "n1", instance: "agent-2", sequence: 1, collectedAt: 120)
        #expect(assembler.accept(restarted, subjectNode: "n1") == .complete(restarted))
        // The old instance's late batch is older than what was accepted.
        #expect(assembler.accept(TestBatches.batch(node: "n1", sequence: 7, collectedAt: 115), subjectNode: "n1") == .stale)
        // Other nodes are independent.
        let other = TestBatches.batch(node: "n2", sequence: 1, collectedAt: 1)
        #expect(assembler.accept(other, subjectNode: "n2") == .complete(other))
    }

    @Test func refusesInconsistentBatches() {
        var assembler = BatchAssembler(maxParts: 8)
        #expect(assembler.accept(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1), subjectNode: "n2") == .rejected(#"batch for node "n1" on the subject of node "n2""#))
        #expect(assembler.accept(TestBatches.batch(node: "", sequence: 1, collectedAt: 1), subjectNode: "") == .rejected("batch without node_name"))
        #expect(assembler.accept(TestBatches.batch(node: "n1", sequence: 0, collectedAt: 1), subjectNode: "n1") == .rejected("batch with sequence 0"))
        var tooMany = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1)
        tooMany.partCount = 9
        #expect(assembler.accept(tooMany, subjectNode: "n1") == .rejected("batch split into 9 parts (at most 8)"))
        var outside = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1)
        outside.partCount = 2
        outside.partIndex = 2
        #expect(assembler.accept(outside, subjectNode: "n1") == .rejected("part 2 of 2"))
    }

    /// Parts of one snapshot, in any order, make the whole; a newer snapshot abandons an
    /// incomplete one.
    @Test func reassemblesSplitSnapshots() {
        var assembler = BatchAssembler()
        let pods = (0..<3).map { TestBatches.PodSpec("ns", "p\($0)") }
        let whole = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 10, pods: pods)
        func part(_ index: Int, of count: Int, sequence: UInt64 = 1, pods: ArraySlice<Agent_V1_Pod>) -> Agent_V1_Batch {
            var part = whole
            part.sequence = sequence
            part.partIndex = UInt32(index)
            part.partCount = UInt32(count)
            part.pods = Array(pods)
            if index > 0 { part.clearNode(); part.collectors = [] }
            return part
        }
        #expect(assembler.accept(part(2, of: 3, pods: whole.pods[2...]), subjectNode: "n1") == .pending)
        #expect(assembler.accept(part(0, of: 3, pods: whole.pods[0..<1]), subjectNode: "n1") == .pending)
        #expect(assembler.accept(part(0, of: 3, pods: whole.pods[0..<1]), subjectNode: "n1") == .stale)
        guard case .complete(let merged) = assembler.accept(part(1, of: 3, pods: whole.pods[1..<2]), subjectNode: "n1") else {
            Issue.record("the last part did not complete the snapshot")
            return
        }
        #expect(Set(merged.pods.map(\.name)) == ["p0", "p1", "p2"])
        #expect(merged.hasNode && merged.collectors.count == 1 && merged.partCount == 1)

        #expect(assembler.accept(part(0, of: 2, sequence: 2, pods: []), subjectNode: "n1") == .pending)
        #expect(assembler.accept(part(0, of: 2, sequence: 3, pods: []), subjectNode: "n1") == .pending)
        #expect(assembler.abandoned == 1)
        #expect(assembler.accept(part(1, of: 2, sequence: 2, pods: []), subjectNode: "n1") == .stale)
        if case .complete = assembler.accept(part(1, of: 2, sequence: 3, pods: []), subjectNode: "n1") {} else { Issue.record("sequence 3 did not complete") }
    }
}

@Suite struct ClusterStateTests {
    /// Node CPU from /proc/stat counters, pod CPU from cumulative core-nanoseconds.
    @Test func ratesComeFromCumulativeCounters() throws {
        let state = ClusterState()
        let first = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1000, cpuBusyNanoseconds: 0, cpuTotalNanoseconds: 0,
                                      pods: [.init("team", "web", cpuCoreNanoseconds: 1_000_000_000, memoryBytes: 100)])
        let a = state.ingest(first, receivedAt: 1000)
        #expect(a.cpuCores == nil)
        #expect(a.pods[0].cpuNanocores == nil)
        // 10 s later: 40 CPU-seconds elapsed on 4 CPUs, 10 of them busy: 1 core. The pod used 5 s of CPU: half a core.
        let second = TestBatches.batch(node: "n1", sequence: 2, collectedAt: 1010, cpuBusyNanoseconds: 10_000_000_000, cpuTotalNanoseconds: 40_000_000_000,
                                       pods: [.init("team", "web", cpuCoreNanoseconds: 6_000_000_000, memoryBytes: 200)])
        let b = state.ingest(second, receivedAt: 1010)
        #expect(b.cpuCores == 1.0)
        #expect(b.pods[0].cpuNanocores == 500_000_000)
        #expect(b.pods[0].memoryBytes == 200)
        #expect(b.pods[0].cpuRequestMillicores == 250)
        #expect(b.pods[0].restarts == 0)

        let view = LiveViewBuilder().build(version: 1, now: 1012, nodes: state.snapshot(), cluster: nil)
        let info = try json(view.clusterInfoJSON)
        let node = try #require((info["nodes"] as? [[String: Any]])?.first)
        #expect(node["cpu_usage"] as? String == "1")
        #expect(node["cpu_capacity"] as? String == "4")
        #expect(node["cpu_percent"] as? Double == 25)
        #expect(node["memory_usage"] as? String == "4Gi")
        #expect(node["memory_capacity"] as? String == "16Gi")
        #expect(node["memory_percent"] as? Double == 25)
        #expect(node["disk_usage"] as? Int == 25 << 30)
        #expect(node["disk_capacity"] as? Int == 100 << 30)
        #expect(node["disk_percent"] as? Double == 25)
        #expect(node["stale"] as? Bool == false)
        #expect((node["conditions"] as? [Any])?.isEmpty == true)
        let pods = try json(view.podMetricsJSON(view.pods(visible: { _ in true })))
        let pod = try #require((pods["pods"] as? [[String: Any]])?.first)
        #expect(pod["name"] as? String == "web")
        #expect(pod["namespace"] as? String == "team")
        #expect(pod["node"] as? String == "n1")
        #expect(pod["cpu_usage"] as? Int == 500_000_000)
        #expect(pod["cpu_capacity"] as? Int == 4_000_000_000)
        #expect(pod["memory_usage"] as? Int == 200)
        #expect(pod["memory_capacity"] as? Int == 16 << 30)
        #expect(pod["cpu_request"] as? Int == 250_000_000)
        #expect((pod["workload"] as? [String: String]) == ["kind": "ReplicaSet", "name": "web-rs"])
    }

    /// Each pod's rate comes from its own previous sample whatever the order the agent
    /// lists the pods in, and a pod new in the snapshot has none yet.
    @Test func ratesFollowEachPodAcrossReorderedSnapshots() {
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: [
            .init("a", "p1", cpuCoreNanoseconds: 1_000_000_000), .init("a", "p2", cpuCoreNanoseconds: 2_000_000_000),
            .init("a", "p3", cpuCoreNanoseconds: 3_000_000_000),
        ]), receivedAt: 0)
        // 10 s later, p1 and p3 swapped places, p2 gone and p4 new: 1, 3 and 0.5 s of CPU used.
        let second = state.ingest(TestBatches.batch(node: "n1", sequence: 2, collectedAt: 10, pods: [
            .init("a", "p3", cpuCoreNanoseconds: 6_000_000_000), .init("a", "p4", cpuCoreNanoseconds: 500_000_000),
            .init("a", "p1", cpuCoreNanoseconds: 2_000_000_000),
        ]), receivedAt: 10)
        #expect(second.pods.map(\.name) == ["p3", "p4", "p1"])
        #expect(second.pods.map(\.cpuNanocores) == [300_000_000, nil, 100_000_000])
    }

    /// A counter that went backwards (a restarted container) is not a negative rate.
    @Test func counterResetFallsBackToNothingOrTheKubeletRate() {
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: [.init("a", "p", cpuCoreNanoseconds: 9_000_000_000)]), receivedAt: 0)
        var second = TestBatches.batch(node: "n1", sequence: 2, collectedAt: 10, pods: [.init("a", "p", cpuCoreNanoseconds: 1_000_000_000)])
        #expect(state.ingest(second, receivedAt: 10).pods[0].cpuNanocores == nil)
        second.sequence = 3
        second.pods[0].usage.cpuUsageNanocores = 42
        #expect(state.ingest(second, receivedAt: 10).pods[0].cpuNanocores == 42)
    }

    @Test func silentNodesGoStaleThenLeave() throws {
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "quiet", sequence: 1, collectedAt: 0, intervalMs: 10_000), receivedAt: 0)
        state.ingest(TestBatches.batch(node: "busy", sequence: 1, collectedAt: 0, intervalMs: 10_000), receivedAt: 29)
        let view = LiveViewBuilder().build(version: 1, now: 31, nodes: state.snapshot(), cluster: nil)
        #expect(view.nodes.map(\.name) == ["busy", "quiet"])
        #expect(view.nodes.map(\.stale) == [false, true])
        #expect(state.expire(receivedBefore: 10) == ["quiet"])
        #expect(state.snapshot().map(\.name) == ["busy"])
    }

    /// With the API server's pods: a snapshot's pod is shown only while the API server has
    /// it (the same uid), with its controller from the API object; the statuses come from
    /// every listed pod (also on nodes without an agent), in key order, a pod listed twice
    /// counted once, its containers in their order.
    @Test func theAPIServersPodsDecideWhatIsShownAndTheirStatuses() throws {
        let cluster = GraphCluster()
        cluster.pods = [
            listedPod("b", "elsewhere", uid: "u-e", restarts: [4]),                      // no agent reports it
            listedPod("a", "shown", uid: "uid-a-shown", owner: "db", restarts: [1, 2]),
            listedPod("a", "moved", uid: "another-uid"),                               // the agent's is an older pod
            listedPod("a", "shown", uid: "duplicate", restarts: [9]),                   // a second copy of a key
        ]
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: [
            .init("a", "shown"), .init("a", "moved"), .init("a", "gone"),
        ]), receivedAt: 0)
        let view = LiveViewBuilder().build(version: 1, now: 1, nodes: state.snapshot(), cluster: cluster)
        #expect(view.pods.map(\.name) == ["shown"])
        let pods = try json(view.podMetricsJSON(view.pods(visible: { _ in true })))
        let shown = try #require((pods["pods"] as? [[String: Any]])?.first)
        #expect((shown["workload"] as? [String: String]) == ["kind": "StatefulSet", "name": "db"])
        #expect(view.podStatuses.map { "\($0.namespace)/\($0.name):\($0.restartCount)" } == ["a/moved:0", "a/shown:1", "a/shown:2", "b/elsewhere:4"])
    }

    /// The refresher's builder keeps the API server's pods' order and statuses from one
    /// refresh to the next, following the change log, and the parts of nodes whose snapshot
    /// did not change: after every random change (a status update, a pod added, deleted,
    /// recreated under another uid, the owner changed, a node's new snapshot, time passing
    /// (nodes going stale), a Node's capacity, no change at all, no change log, a change log
    /// again) its view equals a fresh builder's, pod for pod, node for node and status for
    /// status; and nodes' parts were taken from the view before in some rounds, not in others.
    @Test(arguments: [1, 2, 3])
    func aKeptBuilderEqualsAFreshOne(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        let names = (0..<24).map { ("ns\($0 % 3)", "p\($0)") }
        let state = ClusterState()
        // Two agents; each reports some of the names (one of them on both).
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: names[0..<14].map { .init($0.0, $0.1) }), receivedAt: 0)
        state.ingest(TestBatches.batch(node: "n2", sequence: 1, collectedAt: 0, pods: names[13..<20].map { .init($0.0, $0.1) }), receivedAt: 0)
        let cluster = GraphCluster()
        cluster.pods = names[2..<22].map { listedPod($0.0, $0.1, uid: "uid-\($0.0)-\($0.1)", owner: nil, restarts: [0]) }
        cluster.addWorker(name: "n1")
        cluster.addWorker(name: "n2")
        let kept = LiveViewBuilder()
        var now = 1.0, sequence: UInt64 = 1
        var last: LiveView?
        var taken = 0, written = 0
        for round in 0..<90 {
            switch Int.random(in: 0..<11, using: &random) {
            case 0 where !cluster.pods.isEmpty:
                // A restart (its statuses replaced in place), or a container more (collected again).
                let index = Int.random(in: 0..<cluster.pods.count, using: &random)
                if Bool.random(using: &random) {
                    cluster.pods[index].containerStatuses[0].restartCount += 1
                } else {
                    var status = ContainerStatus()
                    status.name = "extra"
                    status.restartCount = round
                    cluster.pods[index].containerStatuses.append(status)
                }
            case 1:
                // An informer holds a key once.
                let (namespace, name) = names.randomElement(using: &random)!
                if !cluster.pods.contains(where: { $0.namespace == namespace && $0.name == name }) {
                    cluster.pods.append(listedPod(namespace, name, uid: "uid-\(namespace)-\(name)", owner: nil, restarts: [round, 1]))
                }
            case 2 where !cluster.pods.isEmpty:
                cluster.pods.remove(at: Int.random(in: 0..<cluster.pods.count, using: &random))
            case 3 where !cluster.pods.isEmpty:
                let index = Int.random(in: 0..<cluster.pods.count, using: &random)
                cluster.pods[index].metadata.uid = "recreated-\(round)"
            case 4 where !cluster.pods.isEmpty:
                let index = Int.random(in: 0..<cluster.pods.count, using: &random)
                cluster.pods[index].metadata.ownerReferences = [OwnerReference(kind: "StatefulSet", name: "set-\(round)", uid: "o", controller: true)]
            case 5:
                cluster.tracksChanges.toggle()
            case 6:
                // A node's next snapshot: other usage, one pod more or less.
                sequence += 1
                let node = Bool.random(using: &random) ? "n1" : "n2"
                let range = node == "n1" ? 0..<(13 + Int.random(in: 0...2, using: &random)) : 13..<(19 + Int.random(in: 0...2, using: &random))
                state.ingest(TestBatches.batch(node: node, sequence: sequence, collectedAt: Int64(now), memoryUsedBytes: UInt64(round + 1) << 30,
                                               pods: names[range].map { .init($0.0, $0.1) }), receivedAt: now)
            case 7:
                // Time passes: nodes silent for three intervals (30 s) go stale.
                now += Double(Int.random(in: 1...20, using: &random))
            case 8:
                let index = Int.random(in: 0..<cluster.nodes.count, using: &random)
                cluster.nodes[index].capacity["cpu"] = Quantity("\(Int.random(in: 1...8, using: &random))")
            default:
                break
            }
            let view = kept.build(version: round, now: now, nodes: state.snapshot(), cluster: cluster)
            let fresh = LiveViewBuilder().build(version: round, now: now, nodes: state.snapshot(), cluster: cluster)
            #expect(view.pods.map { "\($0.node):\(String(decoding: $0.json, as: UTF8.self))" } == fresh.pods.map { "\($0.node):\(String(decoding: $0.json, as: UTF8.self))" }, "round \(round)")
            #expect(view.nodes.map { String(decoding: $0.json, as: UTF8.self) } == fresh.nodes.map { String(decoding: $0.json, as: UTF8.self) }, "round \(round)")
            #expect(view.podStatuses.map { "\($0.namespace)/\($0.name):\($0.restartCount)" } == fresh.podStatuses.map { "\($0.namespace)/\($0.name):\($0.restartCount)" }, "round \(round)")
            // Which nodes' parts were the view before's.
            #expect(fresh.keptParts == 0)
            if last == nil { #expect(view.keptParts == 0) }
            taken += view.keptParts
            written += view.nodes.count - view.keptParts
            last = view
        }
        #expect(taken >= 10 && written >= 10, "taken \(taken), written \(written)")
    }

    /// A pod's object, byte for byte: every field in its order, the GPU's and the
    /// workload's only when known, a name that needs escaping, restarts of main containers
    /// only, an OOM kill of an init container not counted.
    @Test func aPodsObjectIsExactByteForByte() {
        let pod = PodSample(uid: "u", name: #"we"b"#, namespace: "team", cpuNanocores: 500_000_000, cpuCoreNanoseconds: nil, memoryBytes: 200,
                            diskBytes: nil, cpuRequestMillicores: 250, cpuLimitMillicores: 1000, memoryRequestBytes: 64, memoryLimitBytes: 128,
                            containers: [ContainerSample(name: "init", isInit: true, restartCount: 7, oomKilled: true),
                                         ContainerSample(name: "a", isInit: false, restartCount: 2, oomKilled: false),
                                         ContainerSample(name: "b", isInit: false, restartCount: 3, oomKilled: false)],
                            controller: nil, gpu: PodGPU(requestedDevices: 1, memoryBytes: 1 << 30, utilizationPercent: 42))
        var bytes: [UInt8] = []
        LiveViewBuilder.appendPod(pod, node: "n1", cpuCapacityNanocores: 4_000_000_000, memoryCapacity: 16 << 30, diskCapacity: 0,
                                  workload: ("Deployment", "web"), stale: true, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"name":"we\"b","namespace":"team","node":"n1","cpu_usage":500000000,"cpu_capacity":4000000000,"#
            + #""memory_usage":200,"memory_capacity":17179869184,"disk_usage":0,"disk_capacity":0,"cpu_request":250000000,"cpu_limit":1000000000,"#
            + #""memory_request":64,"memory_limit":128,"restarts":5,"oom_killed":false,"gpu_request":1,"gpu_memory_usage":1073741824,"#
            + #""gpu_utilization":42,"workload":{"kind":"Deployment","name":"web"},"stale":true}"#)
        var plain = pod
        plain.gpu = nil
        plain.containers[1].oomKilled = true
        bytes = []
        LiveViewBuilder.appendPod(plain, node: "n1", cpuCapacityNanocores: 0, memoryCapacity: 0, diskCapacity: 0, workload: nil, stale: false, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self).hasSuffix(#""restarts":5,"oom_killed":true,"stale":false}"#))
        #expect(MemoryLayout<PodView>.stride <= 200, "a live pod's figures, not its ~460 bytes of JSON")
        // Written at a cursor: the same bytes, largest values and a workload's name that
        // needs escaping (through `JSONWriter.putString`'s escaping) included.
        var web = pod
        web.name = "web-7d4f9c8b6-aaaaa"
        web.cpuNanocores = .max
        web.memoryLimitBytes = .max
        for (workload, escaped) in [(("Deployment", "web"), false), (("Deployment", "w\\eb"), true)] {
            bytes = [UInt8]("[".utf8)
            LiveViewBuilder.appendPod(web, node: "node-1", cpuCapacityNanocores: 4_000_000_000, memoryCapacity: 16 << 30, diskCapacity: 100,
                                      workload: workload, stale: false, to: &bytes)
            let name = escaped ? #"w\\eb"# : "web"
            #expect(String(decoding: bytes, as: UTF8.self) == #"[{"name":"web-7d4f9c8b6-aaaaa","namespace":"team","node":"node-1","cpu_usage":18446744073709551615,"#
                + #""cpu_capacity":4000000000,"memory_usage":200,"memory_capacity":17179869184,"disk_usage":0,"disk_capacity":100,"#
                + #""cpu_request":250000000,"cpu_limit":1000000000,"memory_request":64,"memory_limit":18446744073709551615,"restarts":5,"#
                + #""oom_killed":false,"gpu_request":1,"gpu_memory_usage":1073741824,"gpu_utilization":42,"#
                + #""workload":{"kind":"Deployment","name":"\#(name)"},"stale":false}"#)
        }
    }

    /// Pods of several nodes are in (namespace, name) order, with and without the API
    /// server's list; a pod two agents report (it moved) is shown twice, in node order.
    @Test func podsAreInKeyOrderAcrossNodes() throws {
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: [.init("b", "x"), .init("a", "z"), .init("a", "moved")]), receivedAt: 0)
        state.ingest(TestBatches.batch(node: "n2", sequence: 1, collectedAt: 0, pods: [.init("a", "y"), .init("a", "moved"), .init("a", "b")]), receivedAt: 0)
        let cluster = GraphCluster()
        cluster.pods = ["b/x", "a/y", "a/moved", "a/z", "a/b", "c/unreported"].map { key in
            var pod = Pod()
            let parts = key.split(separator: "/").map(String.init)
            (pod.metadata.namespace, pod.metadata.name) = (parts[0], parts[1])
            return pod
        }
        for source in [nil, cluster] as [GraphCluster?] {
            let view = LiveViewBuilder().build(version: 1, now: 1, nodes: state.snapshot(), cluster: source)
            #expect(view.pods.map { "\($0.namespace)/\($0.name)@\($0.node)" } == ["a/b@n2", "a/moved@n1", "a/moved@n2", "a/y@n2", "a/z@n1", "b/x@n1"])
            #expect(view.namespaces.map(\.name) == ["a", "b"])
            let objects = try #require(try json(view.podMetricsJSON(view.pods)) ["pods"] as? [[String: Any]])
            #expect(objects.map { $0["name"] as? String } == ["b", "moved", "moved", "y", "z", "x"])
        }
    }

    /// The view's pods are sorted in place: every permutation, cycles of every length,
    /// gives what a sorted copy gives.
    @Test func aPermutationInPlaceIsTheSortedCopy() {
        var random = SplitMix(seed: 11)
        for count in [0, 1, 2, 3, 7, 100, 1000] {
            for _ in 0..<5 {
                let elements = (0..<count).map { "e\($0)" }
                var order = Array(0..<count)
                for index in order.indices.reversed() where index > 0 { order.swapAt(index, Int(random.next() % UInt64(index + 1))) }
                var permuted = elements
                LiveViewBuilder.permute(&permuted, by: order)
                #expect(permuted == order.map { elements[$0] }, "\(count)")
            }
        }
        var identity = ["a", "b", "c"]
        LiveViewBuilder.permute(&identity, by: [0, 1, 2])
        #expect(identity == ["a", "b", "c"])
    }

    @Test func podEventsCountContainersAndOOM() throws {
        let state = ClusterState()
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: [
            .init("a", "ok", restarts: 2), .init("a", "oom", restarts: 5, oomKilled: true),
        ]), receivedAt: 0)
        let view = LiveViewBuilder().build(version: 1, now: 1, nodes: state.snapshot(), cluster: nil)
        let event = ClusterEvents.podStatusSnapshot(view, tick: 1000, source: "cluster-monitor")
        // Init containers are excluded: one status per main container.
        #expect(event.pods.count == 2)
        let oom = try #require(event.pods.first { $0.name == "oom" })
        #expect(oom.oomKilled && oom.restartCount == 5 && oom.namespace == "a")
        #expect(event.pods.first { $0.name == "ok" }?.oomKilled == false)
        #expect(event.metadata.source == "cluster-monitor")
        #expect(event.metadata.timestamp.seconds == 1000)
        #expect(event.metadata.eventID.range(of: #"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"#, options: .regularExpression) != nil)
        // The same tick gives the same ids (replicas deduplicate), another tick another.
        #expect(ClusterEvents.podStatusSnapshot(view, tick: 1000, source: "x").metadata.eventID == event.metadata.eventID)
        #expect(ClusterEvents.podStatusSnapshot(view, tick: 1005, source: "x").metadata.eventID != event.metadata.eventID)
        #expect(ClusterEvents.clusterMetrics(view, tick: 1000, source: "x").metadata.eventID != event.metadata.eventID)
    }
}

@Suite struct IngestServiceTests {
    /// Malformed, oversized and foreign batches are refused and counted; state is untouched.
    @Test func badBatchesNeverDisturbState() throws {
        let state = ClusterState()
        let ingest = IngestService(bus: InProcessBus(), state: state, maxBatchBytes: 4096, logger: Logger(label: "test"))
        let good = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1, pods: [.init("a", "p")])
        #expect(ingest.handle(try message(good)) == .complete)
        #expect(ingest.handle(BusMessage(subject: "agent.v1.n1", payload: [0xFF, 0xFF, 0xFF, 0x01])) == .malformed)
        #expect(ingest.handle(BusMessage(subject: "agent.v1.n1", payload: Array(try message(good).payload.prefix(20)))) == .malformed)
        #expect(ingest.handle(BusMessage(subject: "agent.v1.n1", payload: [UInt8](repeating: 0, count: 5000))) == .oversized)
        #expect(ingest.handle(try message(TestBatches.batch(node: "n2", sequence: 9, collectedAt: 2), subject: "agent.v1.n1")) == .invalid)
        #expect(ingest.handle(try message(good)) == .stale)
        #expect(ingest.count(.malformed) == 2)
        #expect(state.snapshot().map(\.name) == ["n1"])
        #expect(state.node("n1")?.pods.map(\.name) == ["p"])
    }

    /// An agent whose clock is an hour off: its batches are accepted by sequence, placed at
    /// their receive time and counted; a restarted agent an hour behind is not "older".
    @Test func agentClockAnHourOffIsClampedToTheReceiveTime() throws {
        let state = ClusterState()
        let clock = Mutex(1_800_000_000.0)
        let ingest = IngestService(bus: InProcessBus(), state: state, logger: Logger(label: "test"), now: { clock.withLock { $0 } })
        let ahead = TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1_800_003_600)
        #expect(ingest.handle(try message(ahead)) == .complete)
        #expect(state.node("n1")?.collectedAt == 1_800_000_000)
        clock.withLock { $0 += 10 }
        #expect(ingest.handle(try message(TestBatches.batch(node: "n1", sequence: 2, collectedAt: 1_800_003_610))) == .complete)
        #expect(state.node("n1")?.collectedAt == 1_800_000_010)
        // The same agent's earlier sequence is still stale, whatever its time says.
        #expect(ingest.handle(try message(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 1_800_003_700))) == .stale)
        // Restarted with its clock an hour behind: a new instance, accepted at its receive time.
        clock.withLock { $0 += 10 }
        let behind = TestBatches.batch(node: "n1", instance: "agent-2", sequence: 1, collectedAt: 1_799_996_420)
        #expect(ingest.handle(try message(behind)) == .complete)
        #expect(state.node("n1")?.collectedAt == 1_800_000_020)
        // An honest clock a few seconds off is left alone.
        clock.withLock { $0 += 10 }
        #expect(ingest.handle(try message(TestBatches.batch(node: "n2", sequence: 1, collectedAt: 1_800_000_025))) == .complete)
        #expect(state.node("n2")?.collectedAt == 1_800_000_025)
    }

    /// Node names may contain dots: the subject's remainder is the node.
    @Test func dottedNodeNames() throws {
        let state = ClusterState()
        let ingest = IngestService(bus: InProcessBus(), state: state, logger: Logger(label: "test"))
        #expect(ingest.handle(try message(TestBatches.batch(node: "ip-10-0-0-1.ec2.internal", sequence: 1, collectedAt: 1))) == .complete)
        #expect(state.node("ip-10-0-0-1.ec2.internal") != nil)
    }
}

@Suite struct JSONWriterTests {
    @Test func escapesWhatJSONRequires() throws {
        var w = JSONWriter()
        w.beginObject()
        w.field("plain", "web-1")
        w.field("quote\"d", "a\\b\n\t\u{01}é")
        w.field("n", 12.5)
        w.field("whole", 3.0)
        w.field("tiny", 0.004)
        w.key("list"); w.beginArray(); w.value(Int64(-1)); w.value(true); w.null(); w.endArray()
        w.endObject()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text == #"{"plain":"web-1","quote\"d":"a\\b\n\t\u0001é","n":12.5,"whole":3,"tiny":0,"list":[-1,true,null]}"#)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        #expect(parsed["quote\"d"] as? String == "a\\b\n\t\u{01}é")
    }
}

@Suite struct ClusterEventSplitTests {
    /// A `cluster.pods` larger than max_payload goes out in parts that together hold every
    /// status, each within the limit and with its own ids.
    @Test func largePodEventsAreSplitToFit() throws {
        let state = ClusterState()
        let pods = (0..<3000).map { TestBatches.PodSpec("compute-u1-app", "a-pod-with-a-long-name-\($0)", restarts: UInt32($0 % 4)) }
        state.ingest(TestBatches.batch(node: "n1", sequence: 1, collectedAt: 0, pods: pods), receivedAt: 0)
        let view = LiveViewBuilder().build(version: 1, now: 1, nodes: state.snapshot(), cluster: nil)
        let single = try ClusterEvents.podStatusMessages(view, tick: 100, source: "s", maxBytes: 1 << 20)
        #expect(single.count == 1 && single[0].id == "cluster.pods:100")
        let parts = try ClusterEvents.podStatusMessages(view, tick: 100, source: "s", maxBytes: 16 << 10)
        #expect(parts.count > 4)
        #expect(parts.allSatisfy { $0.payload.count <= 16 << 10 })
        #expect(Set(parts.map(\.id)).count == parts.count)
        let decoded = try parts.map { try Cluster_PodStatusSnapshot(serializedBytes: $0.payload) }
        #expect(decoded.reduce(0) { $0 + $1.pods.count } == 3000)
        #expect(Set(decoded.map(\.metadata.eventID)).count == parts.count)
        #expect(decoded.allSatisfy { $0.metadata.timestamp.seconds == 100 && $0.metadata.source == "s" })
    }
}
