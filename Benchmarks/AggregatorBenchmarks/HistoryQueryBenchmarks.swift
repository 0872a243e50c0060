import Aggregator
import API
import Benchmark
import Foundation
import Logging
import Messaging
import NodeAgent
import Wire

/// A user's pod history as `/api/metrics/pods?namespace=` answers it at Kubernetes' limits:
/// one tenant of 100 at 5,000 nodes x 30 pods holds 1,350 pods. Here 50 simulated nodes of
/// 30 pods all belong to one user (1,350 pods in `compute-u0-app`, 150 in `kube-system`),
/// recorded through `HistoryStore.record` every 10 s; the query reads cpu (a rate of the
/// counter), memory and disk, merges them into the Cluster Monitor's shape and writes the
/// JSON. `rounds` snapshots per node: 15 (the head only, as `measure-aggregator.sh` asks
/// after its warm-up) or 360 (an hour, all but the last minutes sealed).
func podHistoryStore(rounds: Int) throws -> (HistoryStore, end: Int64) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-history-bench-\(getpid())-\(rounds)")
    try? FileManager.default.removeItem(at: directory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let history = try HistoryStore(path: directory.appendingPathComponent("history.sqlite").path, logger: logger)
    let simulation = SimulatedNodes(configuration: .init(nodes: 50, podsPerNode: 30, users: 1, connectionsPerPod: 0), bus: InProcessBus(), logger: logger)
    let start = 1_700_000_000.0
    for round in 0..<rounds {
        let time = start + Double(round * 10)
        for node in 0..<50 { history.record(simulation.batch(node: node, sequence: UInt64(round + 1), time: time), cluster: nil) }
        if round % 30 == 29 { try history.store.maintain(now: Int64(time * 1000)) }
    }
    return (history, Int64(start) + Int64(rounds * 10))
}

/// Built once per process (the benchmark closure runs many times).
nonisolated(unsafe) var podHistories: [Int: (HistoryStore, end: Int64)] = [:]

func historyQueryBenchmarks() {
    for rounds in [15, 360] {
        Benchmark("User's pod history, 1,350 pods x \(rounds) points (/api/metrics/pods body)",
                  configuration: .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(10))) { benchmark in
            if podHistories[rounds] == nil { podHistories[rounds] = try podHistoryStore(rounds: rounds) }
            let (history, end) = podHistories[rounds]!
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try await HistoryBodies.podHistory(history, namespace: "compute-u0-app", start: end - 3600, end: end))
            }
        }
    }
}

/// Recording: one snapshot of a 30-pod node (61 entities, about 1,000 samples) into the
/// history, as ingest does 500 times a second at 5,000 nodes; 100 nodes in turn, every
/// round 10 s after the last. The throughput is snapshots per second on one core.
nonisolated(unsafe) var recording: (history: HistoryStore, simulation: SimulatedNodes, next: Int)? = nil

func historyRecordBenchmark() {
    Benchmark("History record, one 30-pod snapshot", configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, maxDuration: .seconds(5))) { benchmark in
        if recording == nil {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-record-bench-\(getpid())")
            try? FileManager.default.removeItem(at: directory)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let history = try HistoryStore(path: directory.appendingPathComponent("history.sqlite").path, logger: logger)
            let simulation = SimulatedNodes(configuration: .init(nodes: 100, podsPerNode: 30, users: 100, connectionsPerPod: 0), bus: InProcessBus(), logger: logger)
            // The first round registers every entity; the rounds measured find them.
            for node in 0..<100 { history.record(simulation.batch(node: node, sequence: 1, time: 1_700_000_000), cluster: nil) }
            recording = (history, simulation, 100)
        }
        let (history, simulation, next) = recording!
        let count = benchmark.scaledIterations.count
        var batches: [Agent_V1_Batch] = []
        for i in next..<(next + count) {
            let round = i / 100
            batches.append(simulation.batch(node: i % 100, sequence: UInt64(round + 1), time: 1_700_000_000 + Double(round) * 10))
        }
        recording!.next += count
        benchmark.startMeasurement()
        for batch in batches { history.record(batch, cluster: nil) }
        benchmark.stopMeasurement()
    }
}
