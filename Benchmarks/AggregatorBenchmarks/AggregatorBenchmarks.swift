import Aggregator
import Benchmark
import BenchmarkCluster
import Foundation
import Kubernetes
import Logging
import MallocInfo
import Messaging
import NodeAgent
import Wire

/// 1,000 simulated nodes of 110 pods (the kubelet's default pod limit), two refreshes
/// apart, as the aggregator's state holds them.
func simulatedCluster(nodes: Int, pods: Int) -> (ClusterState, [[UInt8]]) {
    let simulation = SimulatedNodes(configuration: .init(nodes: nodes, podsPerNode: pods, users: 100, connectionsPerPod: 2), bus: InProcessBus(), logger: Logger(label: "bench"))
    let state = ClusterState()
    var second: [[UInt8]] = []
    for node in 0..<nodes {
        state.ingest(simulation.batch(node: node, sequence: 1, time: 1_700_000_000), receivedAt: 1_700_000_000)
        let batch = simulation.batch(node: node, sequence: 2, time: 1_700_000_010)
        second.append(try! batch.serializedBytes())
    }
    return (state, second)
}

// Built on first use: the benchmark tool runs each benchmark in its own process.
nonisolated(unsafe) let cluster = simulatedCluster(nodes: 1000, pods: 110)
nonisolated(unsafe) let liveView = LiveViewBuilder().build(version: 1, now: 1_700_000_011, nodes: cluster.0.snapshot(), cluster: nil)
let logger = Logger(label: "bench")

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(5))
    graphBenchmarks()
    ecosystemBenchmarks()
    remoteWriteSendBenchmark()
    historyQueryBenchmarks()
    historyRecordBenchmark()

    // Ingest: decode a 110-pod batch (220 connections), order it, replace the node's state.
    // The throughput is batches per second on one core.
    Benchmark("Ingest one 110-pod batch", configuration: .init(metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds)) { benchmark in
        // 1,000 nodes' batches in turn; a fresh ingest every 1,000 so that none is a duplicate.
        let messages = cluster.1.enumerated().map { BusMessage(subject: String(format: "agent.v1.sim-node-%04d", $0.offset), payload: $0.element) }
        var ingest = IngestService(bus: InProcessBus(), state: ClusterState(), logger: logger)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            if i % messages.count == 0 { ingest = IngestService(bus: InProcessBus(), state: ClusterState(), logger: logger) }
            blackHole(ingest.handle(messages[i % messages.count]))
        }
    }

    Benchmark("Decode one 110-pod batch (swift-protobuf)", configuration: .init(timeUnits: .microseconds)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Agent_V1_Batch(serializedBytes: cluster.1[0])) }
    }

    Benchmark("Decode one 110-pod batch (BatchDecoding)", configuration: .init(timeUnits: .microseconds)) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(BatchDecoding.batch(cluster.1[0])!) }
    }

    // A refresh: every node and pod joined and serialized once (1,000 nodes, 110,000 pods).
    Benchmark("Live view build, 1,000 nodes x 110 pods") { benchmark in
        let nodes = cluster.0.snapshot()
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { blackHole(LiveViewBuilder().build(version: i, now: 1_700_000_011, nodes: nodes, cluster: nil)) }
    }

    // The same with the API server's pods (as the informers list them): every pod is looked
    // up by key, its workload found, and the listed pods' container statuses taken in order.
    Benchmark("Live view build, 1,000 nodes x 110 pods, with the API server's pods") { benchmark in
        let nodes = cluster.0.snapshot()
        let listed = ListedPods(nodes)
        blackHole(listed.podEntries())  // the informer's entries exist before a refresh
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { blackHole(LiveViewBuilder().build(version: i, now: 1_700_000_011, nodes: nodes, cluster: listed)) }
    }

    // The refresher's builder, kept from refresh to refresh: the API server's pods' order
    // and statuses are kept while no pod changed, and follow the pods that changed (a status
    // update of 1,500 pods between refreshes, as 300 a second every 5 s). Half the nodes have
    // a new snapshot at each refresh (a 10 s agent interval, a 5 s refresh): while no pod
    // changed, the other half keep their parts of the last view.
    for changed in [0, 1_500] {
        Benchmark("Live view build, 1,000 nodes x 110 pods, with the API server's pods, kept builder, half the nodes new, \(changed) pods changed") { benchmark in
            let nodes = cluster.0.snapshot()
            let listed = ListedPods(nodes)
            let builder = LiveViewBuilder()
            blackHole(builder.build(version: 0, now: 1_700_000_011, nodes: nodes, cluster: listed))
            var samples = nodes
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                // (The changes are made inside the measurement: a few milliseconds.)
                if changed > 0 { listed.changePods(changed) }
                for index in stride(from: i % 2, to: samples.count, by: 2) { samples[index].sequence += 1 }
                blackHole(builder.build(version: i, now: 1_700_000_011, nodes: samples, cluster: listed))
            }
        }
    }

    // A user's /pod-metrics body at 1,000 nodes (one user of 100: ~1,000 pods): slicing the refresh's view.
    let access = { (namespace: String) in namespace == "compute-u3-app" }
    Benchmark("User /pod-metrics body at 1,000 nodes (1 of 100 users)", configuration: .init(timeUnits: .microseconds)) { benchmark in
        let view = liveView
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(view.podMetricsJSON(view.pods(visible: access))) }
    }
    Benchmark("Admin /pod-metrics body at 1,000 nodes (110,000 pods)") { benchmark in
        let view = liveView
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(view.podMetricsJSON(view.pods(visible: { _ in true }))) }
    }

    // State memory per node: 1,000 nodes x 110 pods held, allocated bytes per node.
    Benchmark("State of 1,000 nodes x 110 pods", configuration: .init(
        metrics: [.wallClock, .custom("allocated bytes per node", useScalingFactor: false)], maxIterations: 1
    )) { benchmark in
        let simulation = SimulatedNodes(configuration: .init(nodes: 1000, podsPerNode: 110, users: 100), bus: InProcessBus(), logger: logger)
        let before = allocatedBytes()
        let held = ClusterState()
        for sequence in 1...2 {
            for node in 0..<1000 {
                held.ingest(simulation.batch(node: node, sequence: UInt64(sequence), time: 1_700_000_000 + Double(sequence) * 10), receivedAt: 1_700_000_000)
            }
        }
        let view = LiveViewBuilder().build(version: 1, now: 1_700_000_021, nodes: held.snapshot(), cluster: nil)
        benchmark.measurement(.custom("allocated bytes per node", useScalingFactor: false), (allocatedBytes() - before) / 1000)
        blackHole(view)
        blackHole(held)
    }
    // (The history's own figures: TimeSeriesBenchmarks and scripts/measure-aggregator.sh.)
}

/// The allocator's bytes held (glibc's mallinfo2): what a structure takes, whatever the
/// warm-up run before it freed (the resident set, read before, did not grow where the
/// allocator reused that run's pages: a graph of a million connections measured 2 bytes each).
func allocatedBytes() -> Int { Int(malloc_info_allocated_bytes()) }
