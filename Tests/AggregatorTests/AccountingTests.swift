import Foundation
import Logging
import Testing
import TimeSeries
import TestSupport
import Wire
@testable import Aggregator

@Suite struct AccountingTests {
    let logger = Logger(label: "test")
    /// An hour boundary, a day boundary too.
    let t0: Int64 = 1_700_006_400_000 / 86_400_000 * 86_400_000

    func store() throws -> (HistoryStore, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-accounting-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("history.sqlite").path
        return (try HistoryStore(path: path, logger: logger), directory.path)
    }

    /// Half a core and 1 GiB from t0 for `seconds`, sampled every 10 s.
    func steady(_ history: HistoryStore, seconds: Int64, namespace: String = "team-a", pod: String = "web", uid: String = "uid-web",
                id: String = String(repeating: "a", count: 64), from start: Int64? = nil, every: Int64 = 10_000) {
        let start = start ?? t0
        var time = start
        while time < start + seconds * 1000 {
            let elapsed = UInt64(time - start)
            let sample = ContainerSnapshot(id: id, cpu: elapsed * 500_000, memory: 1 << 30, cpuRequest: 1000, memoryRequest: 2 << 30)
            history.record(snapshotBatch(time: time, pods: [PodSnapshot(namespace: namespace, name: pod, uid: uid, containers: [sample],
                                                                        rx: elapsed, tx: elapsed * 2, labels: ["app": pod])]), cluster: nil)
            time += every
        }
    }

    func allocations(_ history: HistoryStore, _ edges: [Int64], aggregate: [AllocationKey] = [], basis: AllocationBasis = .max,
                     accumulate: Bool = false) throws -> [[String: Allocation]] {
        var query = AllocationQuery(edges: edges)
        query.aggregate = aggregate
        query.basis = basis
        query.accumulate = accumulate
        return try history.allocations(query)
    }

    @Test func cpuIsExactAndAdjacentWindowsAddUpToTheirUnion() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        steady(history, seconds: 7200)
        // Samples at t0 ... t0 + 7190 s: 719 differences of 5 core-seconds.
        let whole = try allocations(history, [t0, t0 + 7_200_000])[0]["team-a/web/main"]!
        #expect(whole.cpuCoreNanoseconds == 719 * 5_000_000_000)
        #expect(abs(whole.cpuCoreUsageAverage - 0.5) < 1e-9)
        #expect(whole.minutes == 7190.0 / 60)
        #expect(whole.coverage == 1)
        #expect(whole.containerInstances == 1 && whole.restarts == 0)
        // basis max: the request (1 core) is above the usage; usage: half of it.
        #expect(abs(whole.cpuCoreHours - 7190.0 / 3600) < 1e-9)
        let usage = try allocations(history, [t0, t0 + 7_200_000], basis: .usage)[0]["team-a/web/main"]!
        #expect(abs(usage.cpuCoreHours - 0.5 * 7190 / 3600) < 1e-9)
        #expect(abs(usage.ramByteHours - Double(1 << 30) * 7190 / 3600) < 1e-3)
        #expect(abs(whole.ramByteHours - Double(2 << 30) * 7190 / 3600) < 1e-3)
        #expect(abs(whole.cpuEfficiency - 0.5) < 1e-9 && abs(whole.ramEfficiency - 0.5) < 1e-9)
        // Unaligned edges, inside hours and inside sample pairs: the steps add up exactly.
        let edges: [Int64] = [t0 + 123_456, t0 + 1_000_001, t0 + 3_600_000, t0 + 3_605_000, t0 + 7_000_333]
        let steps = try allocations(history, edges)
        let pieces = steps.map { $0["team-a/web/main"]!.cpuCoreNanoseconds }
        let union = try allocations(history, [edges.first!, edges.last!])[0]["team-a/web/main"]!.cpuCoreNanoseconds
        #expect(pieces.reduce(0, +) == union)
        // 0.5 core over 6876.877 s, to within the nanosecond split rule.
        #expect(union == UInt64(6_876_877) * 500_000)
        let bytes = steps.map { $0["team-a/web/main"]!.networkTransferBytes }
        let unionBytes = try allocations(history, [edges.first!, edges.last!])[0]["team-a/web/main"]!.networkTransferBytes
        #expect(bytes.reduce(0, +) == unionBytes)
        // Accumulated: the union as one step.
        let accumulated = try allocations(history, edges, accumulate: true)
        #expect(accumulated.count == 1 && accumulated[0]["team-a/web/main"]!.cpuCoreNanoseconds == union)
    }

    /// Three pods over two hours, sampled every 10 s: `train` holds a whole GPU and uses it
    /// (80% SM, 6 GiB), `infer` a MIG 1g.5gb slice (a seventh of a GPU) it does not use, `job`
    /// a GPU for the first hour, then has Succeeded (the kubelet gave the device back) but is
    /// still listed.
    @Test func gpuHoursFromRequestsWhileHeldMIGAsItsShareAndStepsAddUp() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var time = t0
        while time < t0 + 7_200_000 {
            let elapsed = UInt64(time - t0)
            var batch = snapshotBatch(time: time, pods: [
                PodSnapshot(namespace: "ml", name: "train", uid: "uid-train", containers: [ContainerSnapshot(id: String(repeating: "a", count: 64), cpu: elapsed * 1_000_000)]),
                PodSnapshot(namespace: "ml", name: "infer", uid: "uid-infer", containers: [ContainerSnapshot(id: String(repeating: "b", count: 64), cpu: elapsed)]),
                PodSnapshot(namespace: "ml", name: "job", uid: "uid-job", containers: [ContainerSnapshot(id: String(repeating: "c", count: 64), cpu: elapsed)]),
            ])
            batch.node.gpus = [.with { $0.uuid = "GPU-a"; $0.name = "NVIDIA A100-SXM4-40GB"; $0.index = 0 }, .with { $0.uuid = "GPU-c"; $0.index = 1 }]
            batch.pods[0].phase = "Running"
            batch.pods[0].containers[0].gpuRequests = [.with { $0.name = "nvidia.com/gpu"; $0.count = 1 }]
            batch.pods[0].containers[0].gpuDeviceIds = ["GPU-a"]
            batch.pods[0].containers[0].gpus = [.with { $0.deviceUuid = "GPU-a"; $0.memoryUsedBytes = 6 << 30; $0.smUtilizationPercent = 80 }]
            batch.pods[1].phase = "Running"
            batch.pods[1].containers[0].gpuRequests = [.with { $0.name = "nvidia.com/mig-1g.5gb"; $0.count = 1 }]
            batch.pods[2].phase = time < t0 + 3_600_000 ? "Running" : "Succeeded"
            batch.pods[2].containers[0].gpuRequests = [.with { $0.name = "nvidia.com/gpu"; $0.count = 1 }]
            history.record(batch, cluster: nil)
            time += 10_000
        }
        let whole = try allocations(history, [t0, t0 + 7_200_000])[0]
        let train = try #require(whole["ml/train/main"]), infer = try #require(whole["ml/infer/main"]), job = try #require(whole["ml/job/main"])
        // Samples from t0 to t0 + 7190 s: held for 7190 s.
        #expect(abs(train.gpuHours - 7190.0 / 3600) < 1e-12)
        #expect(abs(train.gpuCount - 1) < 1e-12)
        #expect(abs(train.gpuUsageAverage - 0.8) < 1e-12)
        #expect(abs(train.gpuMemoryByteHours - Double(6 << 30) * 7190 / 3600) < 1e-3)
        #expect(abs(infer.gpuHours - 7190.0 / 3600 / 7) < 1e-12, "a seventh of a GPU")
        #expect(infer.gpuUsageAverage == 0 && infer.gpuMemoryByteHours == 0)
        #expect(abs(job.gpuHours - 1) < 1e-12, "held for the hour it ran, not after it Succeeded")
        #expect(abs(job.minutes - 7190.0 / 60) < 1e-9, "still listed, so still observed")
        // Priced: the GPU-hours times the price, in the total.
        let prices = PriceTable(cpuCoreHour: 0, ramGiBHour: 0, gpuHour: 2.5, networkGiB: 0, currency: "CHF")
        #expect(abs(train.gpuCost(prices) - 2.5 * 7190 / 3600) < 1e-12 && train.totalCost(prices) == train.gpuCost(prices))
        // By namespace, and over unaligned adjacent steps: they add up to the union.
        let namespace = try allocations(history, [t0, t0 + 7_200_000], aggregate: [.namespace])[0]["ml"]!
        #expect(abs(namespace.gpuHours - (train.gpuHours + infer.gpuHours + job.gpuHours)) < 1e-12)
        let edges: [Int64] = [t0 + 123_456, t0 + 1_000_001, t0 + 3_600_000, t0 + 3_605_000, t0 + 7_000_333]
        let steps = try allocations(history, edges, aggregate: [.namespace]).map { $0["ml"]?.gpuHours ?? 0 }
        let union = try allocations(history, [edges.first!, edges.last!], aggregate: [.namespace])[0]["ml"]!.gpuHours
        #expect(abs(steps.reduce(0, +) - union) < 1e-12)
        #expect(abs(union - (6_876_877.0 / 3_600_000 * (1 + 1.0 / 7) + (3_600_000 - 123_456) / 3_600_000.0)) < 1e-9)
        // Kube-App's gpu/usage rows carry the device the kubelet assigned.
        let rows = try history.kubeAppRows("gpu/usage", namespaces: { $0 == "ml" }, begin: t0, end: t0 + 7_200_000, limit: 10)
        let trainRow = try #require(rows.first { $0.properties.pod == "train" })
        #expect(trainRow.value == 6144)
        #expect(trainRow.properties.gpuUUID == "GPU-a" && trainRow.properties.gpuName == "NVIDIA A100-SXM4-40GB" && trainRow.properties.gpuIndex == "0")
        #expect(rows.first { $0.properties.pod == "infer" }?.properties.gpuUUID == "", "neither assigned (no pod-resources) nor used")
    }

    @Test func restartsResetsGapsAndShortPods() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = String(repeating: "1", count: 64), second = String(repeating: "2", count: 64)
        func record(_ time: Int64, _ containers: [ContainerSnapshot], pod: String = "job", uid: String = "uid-job") {
            history.record(snapshotBatch(time: time, pods: [PodSnapshot(namespace: "team-a", name: pod, uid: uid, containers: containers)]), cluster: nil)
        }
        // Instance 1: 0, 10, 20 core-seconds; a reset to 3; then 8.
        for (i, cpu) in [0, 10, 20, 3, 8].enumerated() { record(t0 + Int64(i) * 10_000, [ContainerSnapshot(id: first, cpu: UInt64(cpu) * 1_000_000_000)]) }
        // The container restarts: instance 2 starts at 4 core-seconds (a new counter from 0).
        for (i, cpu) in [4, 6].enumerated() { record(t0 + 50_000 + Int64(i) * 10_000, [ContainerSnapshot(id: second, cpu: UInt64(cpu) * 1_000_000_000)]) }
        // A gap of 20 minutes, then instance 2 goes on: 6 -> 16 across the gap, then 17.
        record(t0 + 1_260_000, [ContainerSnapshot(id: second, cpu: 16_000_000_000)])
        record(t0 + 1_270_000, [ContainerSnapshot(id: second, cpu: 17_000_000_000)])
        // A pod that lived 25 s, seen once with 2 core-seconds.
        history.record(snapshotBatch(node: "n2", time: t0 + 30_000, pods: [PodSnapshot(namespace: "team-a", name: "blip", uid: "uid-blip",
                                                                                      containers: [ContainerSnapshot(id: String(repeating: "3", count: 64), cpu: 2_000_000_000)])]), cluster: nil)
        let result = try allocations(history, [t0, t0 + 3_600_000])[0]
        let job = try #require(result["team-a/job/main"])
        // 10 + 10 + 3 (reset) + 5, then 4 (from zero) + 2 + 10 (across the gap, at its end) + 1.
        #expect(job.cpuCoreNanoseconds == 45_000_000_000)
        #expect(job.containerInstances == 2 && job.restarts == 1)
        // Covered: instance 1 40 s, instance 2 10 s + 10 s; lived: 40 s + 1,220 s.
        #expect(job.coverage < 0.1 && job.coverage > 0)
        // It ran from its first sample to its last; the gap shows in coverage.
        #expect(job.observed == 1_270_000)
        let blip = try #require(result["team-a/blip/main"])
        #expect(blip.cpuCoreNanoseconds == 2_000_000_000)
        #expect(blip.containerInstances == 1 && blip.coverage == 1)
    }

    @Test func samePodNamesInTwoNamespacesStayApartAndGroupsAddUp() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        steady(history, seconds: 600, namespace: "team-a", pod: "web", uid: "uid-a")
        steady(history, seconds: 600, namespace: "team-b", pod: "web", uid: "uid-b", id: String(repeating: "b", count: 64))
        let window = [t0, t0 + 600_000]
        let pods = try allocations(history, window, aggregate: [.pod])[0]
        #expect(Set(pods.keys) == ["team-a/web", "team-b/web"])
        let namespaces = try allocations(history, window, aggregate: [.namespace])[0]
        let cluster = try allocations(history, window, aggregate: [.cluster])[0]
        #expect(cluster["__unallocated__"]!.cpuCoreNanoseconds == namespaces.values.reduce(0) { $0 + $1.cpuCoreNanoseconds })
        #expect(cluster["__unallocated__"]!.containerInstances == 2)
        // Two members running side by side: the group ran 590 s, using a core.
        #expect(cluster["__unallocated__"]!.minutes == 590.0 / 60)
        #expect(abs(cluster["__unallocated__"]!.cpuCoreUsageAverage - 1) < 1e-9)
        // Properties all members share stay; others go.
        #expect(cluster["__unallocated__"]!.properties["pod"] == "web" && cluster["__unallocated__"]!.properties["namespace"] == nil)
        let labels = try allocations(history, window, aggregate: [.label("app"), .namespace])[0]
        #expect(Set(labels.keys) == ["web/team-a", "web/team-b"])
        // A filter runs before grouping.
        var query = AllocationQuery(edges: window)
        query.aggregate = [.cluster]
        query.filter = { $0.namespace == "team-b" }
        #expect(try history.allocations(query)[0]["__unallocated__"]!.cpuCoreNanoseconds == namespaces["team-b"]!.cpuCoreNanoseconds)
        // The namespaces a caller may see bound everything, totals included.
        query.filter = { _ in true }
        query.namespaces = { $0 == "team-a" }
        #expect(try history.allocations(query)[0]["__unallocated__"]!.cpuCoreNanoseconds == namespaces["team-a"]!.cpuCoreNanoseconds)
    }

    @Test func networkIsSplitEvenlyOverThePodsContainers() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for i in 0..<2 {
            let containers = [ContainerSnapshot(name: "a", id: String(repeating: "a", count: 64), cpu: UInt64(i)),
                              ContainerSnapshot(name: "b", id: String(repeating: "b", count: 64), cpu: UInt64(i))]
            history.record(snapshotBatch(time: t0 + Int64(i) * 10_000, pods: [PodSnapshot(namespace: "ns", name: "p", uid: "u", containers: containers,
                                                                                         rx: UInt64(i) * 1001, tx: UInt64(i) * 7)]), cluster: nil)
        }
        let result = try allocations(history, [t0, t0 + 60_000])[0]
        #expect(result["ns/p/a"]!.networkReceiveBytes == 501 && result["ns/p/b"]!.networkReceiveBytes == 500)
        #expect(result["ns/p/a"]!.networkTransferBytes + result["ns/p/b"]!.networkTransferBytes == 7)
    }

    /// Whole hours of a rolled-up day come from its stored buckets: the same figures as raw.
    @Test func rolledUpDaysAnswerAsRawDid() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        steady(history, seconds: 26 * 3600, every: 60_000)
        let day = [t0, t0 + 86_400_000]
        let before = try allocations(history, day)[0]["team-a/web/main"]!
        let sumsBefore = try history.kubeAppSums("cpu/usage_rate", grouping: .allNamespace, namespaces: { _ in true }, begin: t0, end: t0 + 86_400_000)
        try history.store.maintain(now: t0 + 27 * 3_600_000)
        #expect(history.store.counters.rollups >= 1)
        #expect(history.store.summarizedDays.contains(t0 / 86_400_000))
        let after = try allocations(history, day)[0]["team-a/web/main"]!
        #expect(after.cpuCoreNanoseconds == before.cpuCoreNanoseconds)
        #expect(after.cpuCoreNanoseconds == 1440 * 30_000_000_000)
        #expect(abs(after.ramUsageByteSeconds - before.ramUsageByteSeconds) < 1e-3)
        #expect(after.observed == before.observed)
        let sumsAfter = try history.kubeAppSums("cpu/usage_rate", grouping: .allNamespace, namespaces: { _ in true }, begin: t0, end: t0 + 86_400_000)
        #expect(sumsAfter == sumsBefore)
        // Half a core for a day: 30,000 millicore-minutes an hour.
        #expect(abs(sumsAfter[0].sum - 24 * 30_000) < 1e-6)
        // Edges inside hours of the rolled day (raw) around whole hours (buckets): the steps
        // still add up to their union, and to what raw samples alone say.
        let edges: [Int64] = [t0 + 1_234_567, t0 + 7_200_000, t0 + 40_000_001, t0 + 90_000_000]
        let steps = try allocations(history, edges).map { $0["team-a/web/main"]!.cpuCoreNanoseconds }
        let union = try allocations(history, [edges.first!, edges.last!])[0]["team-a/web/main"]!.cpuCoreNanoseconds
        #expect(steps.reduce(0, +) == union)
        #expect(union == UInt64(90_000_000 - 1_234_567) * 500_000)
    }

    /// Random edges over a history with resets and gaps: the steps always add up exactly.
    @Test func randomStepsAddUpToTheirUnion() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var generator = SplitMix(seed: 42)
        var time = t0, cpu: UInt64 = 0, rx: UInt64 = 0
        for _ in 0..<2000 {
            time += Int64(generator.next() % 30_000) + 1
            if generator.next() % 100 == 0 { time += 900_000 }                          // a gap
            cpu = generator.next() % 200 == 0 ? generator.next() % 1000 : cpu + generator.next() % 3_000_000_000   // sometimes a reset
            rx += generator.next() % 100_000
            history.record(snapshotBatch(time: time, pods: [PodSnapshot(namespace: "ns", name: "p", uid: "u",
                                                                      containers: [ContainerSnapshot(id: String(repeating: "c", count: 64), cpu: cpu, memory: 1000)],
                                                                      rx: rx, tx: rx)]), cluster: nil)
        }
        for _ in 0..<25 {
            var edges = (0..<6).map { _ in t0 + Int64(generator.next() % UInt64(time - t0 + 60_000)) }
            edges = Array(Set(edges)).sorted()
            guard edges.count >= 2 else { continue }
            let steps = try allocations(history, edges)
            let union = try allocations(history, [edges.first!, edges.last!])[0]["ns/p/main"]
            #expect(steps.reduce(0) { $0 + ($1["ns/p/main"]?.cpuCoreNanoseconds ?? 0) } == union?.cpuCoreNanoseconds ?? 0)
            #expect(steps.reduce(0) { $0 + ($1["ns/p/main"]?.networkReceiveBytes ?? 0) } == union?.networkReceiveBytes ?? 0)
            let memory = steps.reduce(0.0) { $0 + ($1["ns/p/main"]?.ramUsageByteSeconds ?? 0) }
            #expect(abs(memory - (union?.ramUsageByteSeconds ?? 0)) < 1e-6 * max(memory, 1))
        }
    }

    @Test func kubeAppSumsAndRows() throws {
        let (history, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        steady(history, seconds: 3610, namespace: "team-a", pod: "web", uid: "uid-a")
        steady(history, seconds: 3610, namespace: "kube-system", pod: "dns", uid: "uid-k", id: String(repeating: "k", count: 64))
        let hour = (t0, t0 + 3_600_000)
        // One core for an hour would be 60,000 millicore-minutes; half a core, 30,000.
        let cpu = try history.kubeAppSums("cpu/usage_rate", grouping: .allNamespace, namespaces: { $0 != "kube-system" }, begin: hour.0, end: hour.1)
        #expect(cpu.count == 1 && cpu[0].namespace == "team-a" && abs(cpu[0].sum - 30_000) < 1e-6)
        // 1 GiB for an hour: 60 GiB-minutes.
        let memory = try history.kubeAppSums("memory/usage", grouping: .podByNamespace, namespaces: { $0 == "team-a" }, begin: hour.0, end: hour.1)
        #expect(memory.count == 1 && memory[0].pod == "web" && abs(memory[0].sum - 60 * Double(1 << 30)) < 1)
        // A counter: its increase, exact.
        let usage = try history.kubeAppSums("cpu/usage", grouping: .allPod, namespaces: { _ in true }, begin: hour.0, end: hour.1)
        #expect(usage.map(\.exact) == [1_800_000_000_000, 1_800_000_000_000])
        // Network is the pod's.
        let rx = try history.kubeAppSums("network/rx", grouping: .allNamespace, namespaces: { $0 == "team-a" }, begin: hour.0, end: hour.1)
        #expect(rx.first?.exact == 3_600_000)
        // Raw rows: newest first, bounds exclusive, at most `limit`.
        let rows = try history.kubeAppRows("memory/usage", namespaces: { $0 == "team-a" }, begin: t0, end: t0 + 60_000, limit: 100)
        #expect(rows.map(\.time) == [50_000, 40_000, 30_000, 20_000, 10_000].map { t0 + $0 })
        #expect(rows.allSatisfy { $0.integer && $0.value == Double(1 << 30) && $0.type == "pod_container" && $0.properties.container == "main" })
        #expect(try history.kubeAppRows("cpu/usage_rate", namespaces: { $0 == "team-a" }, begin: t0, end: t0 + 60_000, limit: 2).map(\.value) == [500, 500])
        #expect(try history.kubeAppRows("network/rx", namespaces: { $0 == "team-a" }, begin: t0, end: t0 + 30_000, limit: 10).map(\.type) == ["pod", "pod"])
        #expect(try history.kubeAppRows("cpu/node_capacity", namespaces: { _ in true }, begin: t0, end: t0 + 30_000, limit: 10).isEmpty)
    }
}
