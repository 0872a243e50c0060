import Aggregator
import Benchmark
import Foundation
import Logging
import TimeSeries
import Wire

/// Usage accounting over a month of a 1,000-node cluster: 30 pods per node in 300
/// namespaces, one container each (30,000 container instances, 61,000 entities in all),
/// a snapshot per node every 30 minutes from 2026-10-01 to 2026-11-02 (the figures read
/// are the same per day whatever the sampling: a day summary per entity). The history is
/// built once with the real `HistoryStore.record` path and kept under the temporary
/// directory (`clustermon-accounting-bench-v1`); building it takes a few minutes.
/// `ACCOUNTING_DAYS` shortens it (a quick look at the generator's speed).
let logger = Logger(label: "bench")
let start: Int64 = 1_790_812_800_000          // 2026-10-01T00:00:00Z
let days = Int(ProcessInfo.processInfo.environment["ACCOUNTING_DAYS"] ?? "") ?? 32
let nodes = 1000, podsPerNode = 30, namespaces = 300
let interval: Int64 = 1_800_000

func batch(node: Int, time: Int64) -> Agent_V1_Batch {
    let elapsed = UInt64(time - start)
    return .with { batch in
        batch.nodeName = "node-\(node)"
        batch.collectedAt = .with { $0.seconds = time / 1000 }
        batch.node = .with { $0.cpuCount = 32; $0.memoryTotalBytes = 128 << 30; $0.cpuBusyNanoseconds = elapsed * 8_000_000; $0.cpuTotalNanoseconds = elapsed * 32_000_000 }
        batch.pods = (0..<podsPerNode).map { p in
            let index = node * podsPerNode + p
            return .with { pod in
                pod.namespace = "team-\(index % namespaces)"
                pod.name = "app-\(index)"
                pod.uid = "uid-\(index)"
                pod.labels = ["app": "app-\(index % 50)"]
                pod.owners = [.with { $0.kind = "ReplicaSet"; $0.name = "app-\(index)-rs"; $0.controller = true }]
                pod.usage = .with { $0.cpuUsageCoreNanoseconds = elapsed * UInt64(100_000 + index % 7 * 50_000); $0.memoryWorkingSetBytes = 300 << 20 }
                pod.interfaces = [.with { $0.name = "eth0"; $0.rxBytes = elapsed * 10; $0.txBytes = elapsed * 5 }]
                pod.containers = [.with {
                    $0.name = "main"
                    $0.id = String(format: "%064x", index + 1)
                    $0.cpuRequestMillicores = 250
                    $0.memoryRequestBytes = 512 << 20
                    $0.usage = .with { $0.cpuUsageCoreNanoseconds = elapsed * UInt64(100_000 + index % 7 * 50_000); $0.memoryWorkingSetBytes = 300 << 20; $0.memoryUsageBytes = 400 << 20 }
                }]
            }
        }
    }
}

func openHistory() throws -> HistoryStore {
    let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("clustermon-accounting-bench-v1")
    let marker = (directory as NSString).appendingPathComponent("complete")
    var configuration = HistoryConfiguration()
    configuration.gapLimit = .seconds(3600)
    // Half-hour samples: 6-hour segments keep a dozen rows per chunk, as 5-minute segments
    // do at a 10 s interval.
    configuration.segment = .seconds(6 * 3600)
    configuration.rawRetention = .seconds(8 * 86400)
    configuration.retention = .seconds(400 * 86400)
    configuration.maxBytes = 64 << 30
    let path = (directory as NSString).appendingPathComponent("history.sqlite")
    if FileManager.default.fileExists(atPath: marker) { return try HistoryStore(path: path, configuration: configuration, logger: logger) }
    try? FileManager.default.removeItem(atPath: directory)
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let history = try HistoryStore(path: path, configuration: configuration, logger: logger)
    let began = Date()
    var time = start
    while time < start + Int64(days) * 86_400_000 {
        for node in 0..<nodes { history.record(batch(node: node, time: time), cluster: nil) }
        time += interval
        if time % (6 * 3_600_000) == 0 { try history.store.maintain(now: time) }
        if time % 86_400_000 == 0 { print("history: day \((time - start) / 86_400_000) of \(days) after \(Int(Date().timeIntervalSince(began))) s") }
    }
    try history.store.maintain(now: time + 2 * 3_600_000)
    history.close()
    FileManager.default.createFile(atPath: marker, contents: Data())
    return try HistoryStore(path: path, configuration: configuration, logger: logger)
}

nonisolated(unsafe) var history: HistoryStore? = nil
let october = [start, start + 30 * 86_400_000]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(10))

    // A month, one step per day, by namespace: 30 day summaries of 30,000 containers and
    // 30,000 pods, grouped into 300 namespaces x 30 days.
    Benchmark("Allocation: 30 days, step=day, aggregate=namespace (1,000 nodes, 30,000 containers)",
              configuration: .init(maxIterations: 20, setup: { if history == nil { history = try! openHistory() } })) { benchmark in
        var query = AllocationQuery(edges: stride(from: october[0], through: october[1], by: 86_400_000).map { $0 })
        query.aggregate = [.namespace]
        for _ in benchmark.scaledIterations {
            let steps = try history!.allocations(query)
            precondition(steps.count == 30 && steps[0].count == namespaces)
            blackHole(steps)
        }
    }

    // Kube-App's all-namespace over 30 days: one sum per namespace of cpu/usage_rate.
    Benchmark("Kube-App all-namespace cpu/usage_rate over 30 days (1,000 nodes)",
              configuration: .init(maxIterations: 20, setup: { if history == nil { history = try! openHistory() } })) { benchmark in
        for _ in benchmark.scaledIterations {
            let sums = try history!.kubeAppSums("cpu/usage_rate", grouping: .allNamespace, namespaces: { $0 != "kube-system" },
                                                begin: october[0], end: october[1])
            precondition(sums.count == namespaces)
            blackHole(sums)
        }
    }

    // The same month as one allocation per container (30,000 allocations).
    Benchmark("Allocation: 30 days accumulated, one per container (1,000 nodes)",
              configuration: .init(maxIterations: 10, setup: { if history == nil { history = try! openHistory() } })) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try history!.allocations(AllocationQuery(edges: october)))
        }
    }
}
