import Benchmark
import Foundation
import Kubernetes
import Logging
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

    // The GPU collector's own work per cycle on a large GPU node (8 devices, 32 processes
    // each, utilization samples), against the tests' fake NVML (Tests/fake-nvml, compiled
    // here with cc): the calls, the structures read at their C offsets, the per-process
    // means. The fake re-reads its script on every device count, so this is an upper bound
    // of clustermon's part; a real driver's calls take longer than either.
    if let library = FakeLibrary.compile(devices: 8, processesPerDevice: 32) {
        Benchmark("GPU scan through NVML, 8 devices x 32 processes (fake library)") { benchmark in
            let collector = GPUCollector(libraryPath: library, logger: Logger(label: "benchmark"))
            _ = try? collector.scan()
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try? collector.scan()) }
        }
    }

    // A node without the library: after the first cycle's dlopen, a clock read until the
    // next retry (every 5 minutes).
    Benchmark("GPU scan on a node without NVML (after the first cycle)") { benchmark in
        let collector = GPUCollector(libraryPath: "/nonexistent/libnvidia-ml.so.1", logger: Logger(label: "benchmark"))
        _ = try? collector.scan()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try? collector.scan()) }
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

/// The tests' fake NVML compiled into a temporary directory with a script of `devices` GPUs.
enum FakeLibrary {
    static func compile(devices: Int, processesPerDevice: Int) -> String? {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/fake-nvml/fake_nvml.c").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-bench-nvml-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let library = directory.appendingPathComponent("libnvidia-ml.so.1").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"]
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        var script = ""
        for d in 0..<devices {
            script += "device GPU-\(d)-0000-1111-2222-333344445555 85899345920 42949672960 90 45 400000 70 NVIDIA H100 80GB HBM3\n"
            for p in 0..<processesPerDevice {
                script += "process \(d) \(10_000 + d * 100 + p) 1073741824\nsample \(d) \(10_000 + d * 100 + p) now 50\n"
            }
        }
        guard (try? script.write(toFile: library + ".script", atomically: true, encoding: .utf8)) != nil else { return nil }
        return library
    }
}
