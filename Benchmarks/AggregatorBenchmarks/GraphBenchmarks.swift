import Aggregator
import Benchmark
import BenchmarkCluster
import Foundation
import Logging
import Messaging
import NodeAgent
import Wire

/// Simulated nodes' batches for the graph, `rounds` snapshots each (sequence 1 first).
func graphBatches(nodes: Int, pods: Int, connectionsPerPod: Int, rounds: Int) -> [[Agent_V1_Batch]] {
    let simulation = SimulatedNodes(configuration: .init(nodes: nodes, podsPerNode: pods, users: 100, connectionsPerPod: connectionsPerPod),
                                    bus: InProcessBus(), logger: Logger(label: "bench"))
    return (1...rounds).map { round in
        (0..<nodes).map { simulation.batch(node: $0, sequence: UInt64(round), time: 1_700_000_000 + Double(round) * 10) }
    }
}

/// A graph of 10,000 services in 100 namespaces, each calling five others: 50,000 edges.
func largeGraph() -> GraphView {
    var totals: [EdgeKey: EdgeTotal] = [:]
    var seed: UInt64 = 42
    func next() -> Int {
        seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(seed >> 33)
    }
    func service(_ i: Int) -> GraphEntity { GraphEntity(.service, namespace: "ns-\(i / 100)", name: "svc-\(i)") }
    while totals.count < 50_000 {
        let from = next() % 10_000, to = next() % 10_000
        let counters = EdgeCounters(toServer: UInt64(next() % 10_000_000), toClient: UInt64(next() % 50_000_000), opened: UInt64(next() % 100))
        totals[EdgeKey(source: service(from), target: service(to), transport: 1, port: UInt16(8000 + to % 100))] = EdgeTotal(counters: counters, active: 1 + next() % 20)
    }
    return GraphView.build(timestamp: 1_700_000_000, window: 60, span: 60, totals: totals, label: \.name)
}

nonisolated(unsafe) let bigGraph = largeGraph()

func graphBenchmarks() {
    // Resolution: 110-pod nodes with 2 connections per pod (220 per batch), each batch a new
    // snapshot of its node; the throughput is batches per second on one core. (Measurement
    // stops before the inputs are freed: their deallocation is not the graph's time.)
    Benchmark("Graph ingest, one 110-pod batch (220 connections)", configuration: .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, scalingFactor: .kilo, maxDuration: .seconds(10)
    )) { benchmark in
        let rounds = graphBatches(nodes: 100, pods: 110, connectionsPerPod: 2, rounds: 3)
        let graph = ConnectionGraph()
        for batch in rounds[0] { graph.ingest(batch, receivedAt: 1_700_000_000) }
        graph.refresh(now: 1_700_000_001, version: 1, cluster: nil)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            var batch = rounds[1 + (i / 100) % 2][i % 100]
            batch.sequence = UInt64(2 + i / 100)
            graph.ingest(batch, receivedAt: 1_700_000_002)
        }
        benchmark.stopMeasurement()
    }
    // The per-node cap: one node's 65,536 connections, every snapshot.
    Benchmark("Graph ingest, one node with 65,536 connections", configuration: .init(
        metrics: [.wallClock, .mallocCountTotal, .custom("connections tracked", useScalingFactor: false)], timeUnits: .milliseconds, maxDuration: .seconds(5)
    )) { benchmark in
        let rounds = graphBatches(nodes: 2, pods: 110, connectionsPerPod: 596, rounds: 3).map { $0[0] }
        let graph = ConnectionGraph()
        graph.ingest(rounds[0], receivedAt: 1_700_000_000)
        graph.refresh(now: 1_700_000_001, version: 1, cluster: nil)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            var batch = rounds[1 + i % 2]
            batch.sequence = UInt64(2 + i)
            graph.ingest(batch, receivedAt: 1_700_000_002)
        }
        benchmark.stopMeasurement()
        benchmark.measurement(.custom("connections tracked", useScalingFactor: false), graph.trackedConnections)
    }
    // Memory per tracked connection: 16 nodes x 65,536 connections held.
    Benchmark("Graph memory, 16 nodes x 65,536 connections", configuration: .init(
        metrics: [.wallClock, .custom("allocated bytes per connection", useScalingFactor: false)], maxIterations: 1
    )) { benchmark in
        let simulation = SimulatedNodes(configuration: .init(nodes: 16, podsPerNode: 110, users: 100, connectionsPerPod: 596), bus: InProcessBus(), logger: Logger(label: "bench"))
        let graph = ConnectionGraph()
        let before = allocatedBytes()
        for sequence in 1...2 {
            for node in 0..<16 {
                graph.ingest(simulation.batch(node: node, sequence: UInt64(sequence), time: 1_700_000_000 + Double(sequence * 10)), receivedAt: 1_700_000_000 + Double(sequence * 10))
            }
            graph.refresh(now: 1_700_000_001 + Double(sequence * 10), version: sequence, cluster: nil)
        }
        benchmark.measurement(.custom("allocated bytes per connection", useScalingFactor: false), (allocatedBytes() - before) / max(graph.trackedConnections, 1))
        blackHole(graph)
    }
    // A refresh of the graph at 1,000 nodes x 110 pods: index rebuilt from 110,000 pods,
    // buckets closed, the default window's view built.
    // The same with the API server's pods (their identities rebuilt or reused by resource
    // version, the addresses indexed).
    for listed in [false, true] {
        let name = "Graph refresh, 1,000 nodes x 110 pods (220,000 connections)" + (listed ? ", with the API server's pods" : "")
        Benchmark(name, configuration: .init(maxDuration: .seconds(10))) { benchmark in
            let rounds = graphBatches(nodes: 1000, pods: 110, connectionsPerPod: 2, rounds: 2)
            let cluster: (any ClusterView)? = listed ? ListedPods(rounds[0]) : nil
            let graph = ConnectionGraph()
            // The first snapshots set baselines and the first refresh builds the index that
            // resolves the second ones (all 110,000 pods would be externals without it).
            for batch in rounds[0] { graph.ingest(batch, receivedAt: 1_700_000_000) }
            graph.refresh(now: 1_700_000_005, version: 1, cluster: cluster)
            for batch in rounds[1] { graph.ingest(batch, receivedAt: 1_700_000_010) }
            var now = 1_700_000_010.0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                now += 5
                blackHole(graph.refresh(now: now, version: Int(now), cluster: cluster))
            }
            benchmark.stopMeasurement()
        }
    }
    // The resolution index alone: 5,000 nodes x 30 pods the API server lists and their
    // agents report, no connections (the view is empty); the cluster as it stands, and with
    // 1% of the pods changed (a status update each) between refreshes.
    for churn in [0, 1_500] {
        // Made on the first run (not when another benchmark is asked for), kept across runs.
        nonisolated(unsafe) var made: (cluster: ListedPods, graph: ConnectionGraph, now: Double)?
        Benchmark("Graph refresh, no connections, 150,000 pods listed and reported (the resolution index)" + (churn > 0 ? ", \(churn) changed" : ""),
                  configuration: .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .one, maxDuration: .seconds(10))) { benchmark in
            if made == nil {
                let batches = graphBatches(nodes: 5000, pods: 30, connectionsPerPod: 0, rounds: 1)[0]
                let cluster = ListedPods(batches)
                let graph = ConnectionGraph()
                for batch in batches { graph.ingest(batch, receivedAt: 1_700_000_000) }
                graph.refresh(now: 1_700_000_005, version: 1, cluster: cluster)
                made = (cluster, graph, 1_700_000_005)
            }
            guard var (cluster, graph, now) = made else { return }
            // The changes are made outside the measured part: one measured refresh a run.
            cluster.changePods(churn)
            now += 5
            made?.now = now
            benchmark.startMeasurement()
            blackHole(graph.refresh(now: now, version: Int(now), cluster: cluster))
            benchmark.stopMeasurement()
        }
    }
    Benchmark("Graph view build, 10,000 services / 50,000 edges") { benchmark in
        let graph = bigGraph
        var totals: [EdgeKey: EdgeTotal] = [:]
        for edge in graph.edges {
            totals[EdgeKey(source: graph.nodes[Int(edge.source)].entity, target: graph.nodes[Int(edge.target)].entity, transport: edge.transport, port: edge.port)] =
                EdgeTotal(counters: EdgeCounters(toServer: UInt64(edge.bytes)), active: edge.active)
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(GraphView.build(timestamp: 1, window: 60, span: 60, totals: totals, label: \.name)) }
        benchmark.stopMeasurement()
    }
    // Filtered queries on the 50,000-edge graph (p99 is the figure that matters).
    let queries: [(String, GraphQuery, ((String) -> Bool)?)] = [
        ("namespace", GraphQuery(namespace: "ns-42"), nil),
        ("service, depth 2", GraphQuery(service: "ns-42/svc-4217", depth: 2), nil),
        ("top 100", GraphQuery(top: 100), nil),
        ("min_bytes 50 MB", GraphQuery(minBytes: 50_000_000), nil),
        ("user with one namespace", GraphQuery(), { $0 == "ns-42" }),
    ]
    for (name, query, visible) in queries {
        Benchmark("Graph query on 10,000 services / 50,000 edges: \(name)", configuration: .init(
            metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, maxDuration: .seconds(3)
        )) { benchmark in
            let graph = bigGraph
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try graph.render(query, visible: visible)) }
        }
    }
}
