import Benchmark
import Foundation
import Kubernetes
import NodeAgent
import Wire

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident],
        timeUnits: .microseconds,
        warmupIterations: 5,
        maxDuration: .seconds(3),
        maxIterations: 2000
    )

    let summary110 = Inputs.bytes("summary-110.json")
    let summary250 = Inputs.bytes("summary-250.json")
    let pods110 = Inputs.bytes("pods-110.json")
    let tracer10k = Inputs.bytes("tracer-10k.json")
    let tracer1k = Inputs.bytes("tracer-1k.json")

    Benchmark("Summary decode, 110 pods (\(summary110.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SummaryDecoder.decode(summary110)) }
    }

    Benchmark("Summary decode, 250 pods (\(summary250.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try SummaryDecoder.decode(summary250)) }
    }

    Benchmark("PodList decode, 110 pods (\(pods110.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Pod.decodeList(pods110)) }
    }

    Benchmark("Tracer feed decode, 10k connections") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try TracerConnection.decodeList(tracer10k)) }
    }

    Benchmark("procfs process scan of this machine (cgroup, netns of every process)") { benchmark in
        let procfs = ProcfsReader(root: "/proc")
        for _ in benchmark.scaledIterations { blackHole(procfs.scanProcesses()) }
    }

    // What the agent does every cycle: list the processes, read only the new ones (and those
    // due again after --socket-refresh).
    Benchmark("procfs process scan of this machine, cached (steady state)") { benchmark in
        let procfs = ProcfsReader(root: "/proc")
        let processes = ProcessCache(refresh: .seconds(3600))
        _ = processes.scan(using: procfs)
        _ = processes.scan(using: procfs)
        benchmark.startMeasurement()  // the harness runs this closure per sample: the first two scans read everything
        for _ in benchmark.scaledIterations { blackHole(processes.scan(using: procfs)) }
    }

    Benchmark("procfs sockets of one network namespace (tcp, tcp6, udp, udp6), uncached") { benchmark in
        let procfs = ProcfsReader(root: "/proc")
        for _ in benchmark.scaledIterations { blackHole(procfs.sockets(pid: 1)) }
    }

    // One agent cycle for a 110-pod node without the network: decode the kubelet's two
    // documents and 1,000 tracer connections, read this machine's /proc, join, serialize,
    // split. (Each process is placed in one of the fixture's containers so the join works.)
    Benchmark("Tracer feed decode, 1k connections") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try TracerConnection.decodeList(tracer1k)) }
    }

    /// One cycle's observation: the kubelet documents and tracer feed decoded, /proc read
    /// (every process, or through the agent's cache).
    @Sendable func observe(_ procfs: ProcfsReader, processes: ProcessCache? = nil) throws -> NodeObservation {
        var o = NodeObservation(collectedAt: UnixTime(seconds: 1_700_000_000))
        o.summary = try SummaryDecoder.decode(summary110)
        o.pods = try Pod.decodeList(pods110).items
        o.tracerConnections = try TracerConnection.decodeList(tracer1k)
        o.stat = try procfs.stat()
        o.meminfo = try procfs.meminfo()
        o.interfaces = try? procfs.hostInterfaces()
        o.processes = processes?.scan(using: procfs) ?? procfs.scanProcesses()
        o.hostNetns = procfs.hostNetns()
        return o
    }

    // The join and serialization alone, on an observation collected once.
    Benchmark("Join + serialize + split, 110 pods + 1k connections") { benchmark in
        let builder = BatchBuilder(nodeName: "bench", agentVersion: "bench", agentInstance: "bench", interval: .seconds(10))
        let o = try observe(ProcfsReader(root: "/proc"))
        var sequence: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            sequence += 1
            let batch = builder.build(o, sequence: sequence)
            blackHole(try BatchSplitter.split(batch, maxBytes: 1 << 20))
        }
    }

    // The batch's encoding alone: swift-protobuf sizes each nested message again at every
    // level above it; ProtobufEncoding sizes each once.
    Benchmark("Serialize one 110-pod + 1k-connection batch: swift-protobuf serializedBytes") { benchmark in
        let builder = BatchBuilder(nodeName: "bench", agentVersion: "bench", agentInstance: "bench", interval: .seconds(10))
        let batch = builder.build(try observe(ProcfsReader(root: "/proc")), sequence: 1)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try batch.serializedBytes() as [UInt8]) }
    }
    Benchmark("Serialize one 110-pod + 1k-connection batch: ProtobufEncoding") { benchmark in
        let builder = BatchBuilder(nodeName: "bench", agentVersion: "bench", agentInstance: "bench", interval: .seconds(10))
        let batch = builder.build(try observe(ProcfsReader(root: "/proc")), sequence: 1)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try ProtobufEncoding.serializedBytes(batch)) }
    }

    // Steady state: sockets come from the per-namespace cache (re-read every 30 s), which
    // lives across cycles as in the agent (the benchmark closure runs once per sample).
    let cache = SocketCache(refresh: .seconds(30))
    // As the agent runs it: both kubelet documents decoded (the agent skips an unchanged
    // /pods, which this does not), processes through the cache.
    Benchmark("Full collection cycle, 110 pods + 1k connections", configuration: .init(metrics: [.cpuTotal, .wallClock, .mallocCountTotal, .peakMemoryResident])) { benchmark in
        let procfs = ProcfsReader(root: "/proc")
        let builder = BatchBuilder(nodeName: "bench", agentVersion: "bench", agentInstance: "bench", interval: .seconds(10))
        let processes = ProcessCache(refresh: .seconds(30))
        _ = processes.scan(using: procfs)
        _ = processes.scan(using: procfs)
        var sequence: UInt64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var o = try observe(procfs, processes: processes)
            var representatives: [UInt64: Int32] = [:]
            for process in o.processes?.processes ?? [] { if let n = process.netns, representatives[n] == nil { representatives[n] = process.pid } }
            o.sockets = cache.sockets(for: representatives, using: procfs).sockets
            sequence += 1
            let batch = builder.build(o, sequence: sequence)
            blackHole(try BatchSplitter.split(batch, maxBytes: 1 << 20))
        }
    }
}
