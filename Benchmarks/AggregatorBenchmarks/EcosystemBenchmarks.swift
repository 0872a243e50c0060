import Aggregator
import API
import Benchmark
import Foundation
import Logging
import Messaging
import NodeAgent

/// The Prometheus faces: `/metrics/resource` for 1,000 nodes of 110 pods (issue 17's
/// target: rendered in at most 50 ms), and remote write's encoding of one agent interval of
/// 5,000 nodes of 30 pods (Kubernetes' largest cluster; target: at most 10% of a core at a
/// 10 s interval, i.e. 1 s of CPU per interval, sending included).
func ecosystemBenchmarks() {
    Benchmark("/metrics/resource, 1,000 nodes x 110 pods, every node new") { benchmark in
        let nodes = cluster.0.snapshot()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            // A fresh cache: every node rendered (the first scrape, or every node reported).
            let metrics = ResourceMetrics(samples: { nodes }, edges: nil)
            blackHole(await metrics.render(now: 1_700_000_011))
        }
    }

    Benchmark("/metrics/resource, 1,000 nodes x 110 pods, no node new") { benchmark in
        let nodes = cluster.0.snapshot()
        let metrics = ResourceMetrics(samples: { nodes }, edges: nil)
        blackHole(await metrics.render(now: 1_700_000_011))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(await metrics.render(now: 1_700_000_011)) }
    }

    Benchmark("Remote write encode, 5,000 nodes x 30 pods (one agent interval)", configuration: .init(maxDuration: .seconds(10))) { benchmark in
        let nodes = largeCluster.snapshot()
        let writer = RemoteWriter(configuration: .init(targets: []), logger: Logger(label: "bench"))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(writer.encode(nodes: nodes, edges: [], time: 1_700_000_011)) }
    }
}

nonisolated(unsafe) let largeCluster = simulatedCluster(nodes: 5000, pods: 30).0

/// A local VictoriaMetrics (Debian's `victoria-metrics`) for the remote write benchmark.
func startVictoriaMetrics() throws -> (process: Process, url: String, directory: URL) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-bench-vm-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let port = 20_000 + Int.random(in: 0..<20_000)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["victoria-metrics", "-storageDataPath=\(directory.path)", "-httpListenAddr=127.0.0.1:\(port)", "-loggerLevel=ERROR"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    Thread.sleep(forTimeInterval: 2)
    return (process, "http://127.0.0.1:\(port)/api/v1/write", directory)
}

func remoteWriteSendBenchmark() {
    // Encoding and sending one agent interval of 5,000 nodes x 30 pods to a local receiver,
    // as the aggregator does (one in-order sender); the CPU is this process's alone (the
    // receiver is another process). Two snapshots of the cluster take turns, so that every
    // node is new at every interval.
    Benchmark("Remote write encode + send to VictoriaMetrics, 5,000 nodes x 30 pods (one agent interval)",
              configuration: .init(metrics: [.wallClock, .cpuTotal], maxDuration: .seconds(30), maxIterations: 10)) { benchmark in
        let receiver = try startVictoriaMetrics()
        defer { receiver.process.terminate(); receiver.process.waitUntilExit(); try? FileManager.default.removeItem(at: receiver.directory) }
        let writer = RemoteWriter(configuration: .init(targets: [RemoteWriteTarget(url: receiver.url)]), logger: Logger(label: "bench"))
        let sending = Task { try await writer.run() }
        let snapshots = [largeCluster.snapshot(), largeClusterLater.snapshot()]
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            writer.enqueue(nodes: snapshots[i % 2], edges: [], time: 1_700_000_011 + Double(i) * 10)
            while writer.queuedSamples.contains(where: { $0 > 0 }) { try await Task.sleep(for: .milliseconds(5)) }
        }
        benchmark.stopMeasurement()
        sending.cancel()
        _ = try? await sending.value
    }
}

/// The same cluster 10 s later (every node's next snapshot).
nonisolated(unsafe) let largeClusterLater: ClusterState = {
    let simulation = SimulatedNodes(configuration: .init(nodes: 5000, podsPerNode: 30, users: 100, connectionsPerPod: 2), bus: InProcessBus(), logger: Logger(label: "bench"))
    let state = ClusterState()
    for node in 0..<5000 {
        state.ingest(simulation.batch(node: node, sequence: 3, time: 1_700_000_020), receivedAt: 1_700_000_020)
    }
    return state
}()
