import Benchmark
import Foundation
import Logging
import Synchronization
import TimeSeries

/// The history store on its own: a pod-like family of 16 metrics (counters at a steady
/// rate with jitter, gauges that wander, constants), 10 s between samples.
let family = Family(id: 1, name: "pod", metrics: [
    MetricDefinition("cpu/usage", .counter, startsAtZero: true),
    MetricDefinition("memory/working_set", .gauge), MetricDefinition("memory/usage", .gauge), MetricDefinition("memory/rss", .gauge),
    MetricDefinition("cpu/request", .gauge), MetricDefinition("cpu/limit", .gauge), MetricDefinition("memory/request", .gauge),
    MetricDefinition("memory/limit", .gauge), MetricDefinition("memory/page_faults", .counter), MetricDefinition("memory/major_page_faults", .counter),
    MetricDefinition("filesystem/usage", .gauge), MetricDefinition("filesystem/limit", .gauge),
    MetricDefinition("network/rx", .counter), MetricDefinition("network/tx", .counter),
    MetricDefinition("network/rx_errors", .counter), MetricDefinition("uptime", .gauge),
])
let logger = Logger(label: "bench")
let day: Int64 = 1_700_006_400_000 / 86_400_000 * 86_400_000

func row(entity e: Int, sample i: Int, time: Int64) -> SampleRow {
    let jitter = UInt64((e &* 2_654_435_761 &+ i &* 40_503) & 0xFFFF)
    return SampleRow(time: time, present: (1 << 16) - 1, values: [
        UInt64(i) * 1_500_000_000 + jitter * 1000,                    // ~150 millicores
        UInt64(200 << 20) + UInt64((e + i / 6) % 64) << 12,           // working set: steps now and then
        UInt64(260 << 20) + UInt64((e + i / 6) % 64) << 12, 120 << 20,
        250, 1000, 256 << 20, 512 << 20,
        UInt64(i) * 40 + jitter % 7, UInt64(i / 100),
        UInt64(e % 50) << 20, 10 << 30,
        UInt64(i) * 120_000 + jitter, UInt64(i) * 80_000 + jitter / 2, 0, UInt64(i) * 10_000,
    ])
}

func temporaryPath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-bench-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("history.sqlite").path
}

/// A store with `entities` entities and `samples` samples each, sealed.
func filledStore(entities: Int, samples: Int, configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> (TimeSeriesStore, [EntityID]) {
    var configuration = StoreConfiguration()
    configure(&configuration)
    let store = try TimeSeriesStore(path: temporaryPath(), families: [family], configuration: configuration, logger: logger)
    let ids = try (0..<entities).map { e in try store.register(family: 1, key: "pod-\(e)", labels: { ["namespace": "ns-\(e % 100)", "pod": "pod-\(e)"] }) }
    for i in 0..<samples {
        let time = day + Int64(i) * 10_000
        try store.append(ids.enumerated().map { e, id in (id, row(entity: e, sample: i, time: time)) })
        if i % 30 == 29 { try store.maintain(now: time) }
    }
    try store.maintain(now: day + Int64(samples) * 10_000 + 3_600_000)
    return (store, ids)
}

nonisolated(unsafe) var hourOf1000: (TimeSeriesStore, [EntityID])? = nil

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxDuration: .seconds(5))

    // Appending one agent interval of 10,000 entities x 16 metrics (160,000 samples): divide
    // by 160,000 for the time per sample. The write-ahead log's write is included.
    Benchmark("Append 10,000 entities x 16 metrics (160,000 samples)", configuration: .init(metrics: [.wallClock, .mallocCountTotal], timeUnits: .milliseconds, maxIterations: 60)) { benchmark in
        let store = try TimeSeriesStore(path: temporaryPath(), families: [family], logger: logger)
        let ids = try (0..<10_000).map { e in try store.register(family: 1, key: "pod-\(e)", labels: { ["pod": "pod-\(e)"] }) }
        var i = 0
        var batches: [[(entity: EntityID, row: SampleRow)]] = []
        for iteration in 0..<benchmark.scaledIterations.count {
            batches.append(ids.enumerated().map { e, id in (id, row(entity: e, sample: iteration, time: day + Int64(iteration) * 10_000)) })
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try store.append(batches[i])
            i += 1
        }
    }

    // Sealing 5 minutes of 10,000 entities (30 rows x 16 metrics each: 4.8 million samples)
    // into chunks, with their SQLite transaction; and the bytes per sample it leaves.
    Benchmark("Seal 5 minutes of 10,000 entities (4.8 million samples)", configuration: .init(metrics: [.custom("seal ms"), .custom("sealed bytes per 1000 samples")], maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations {
            let store = try TimeSeriesStore(path: temporaryPath(), families: [family], logger: logger)
            let ids = try (0..<10_000).map { e in try store.register(family: 1, key: "pod-\(e)", labels: { ["pod": "pod-\(e)"] }) }
            for i in 0..<30 { try store.append(ids.enumerated().map { e, id in (id, row(entity: e, sample: i, time: day + Int64(i) * 10_000)) }) }
            let started = ContinuousClock.now
            try store.maintain(now: day + 600_000)
            benchmark.measurement(.custom("seal ms"), Int((ContinuousClock.now - started) / .milliseconds(1)))
            let counters = store.counters
            benchmark.measurement(.custom("sealed bytes per 1000 samples"), Int(counters.sealedBytes * 1000 / max(counters.sealedSamples, 1)))
        }
    }

    // What writers wait while a seal runs: 100,000 entities' 5 minutes sealed (a third of
    // 5,000 nodes x 30 pods) while another thread appends 30-row snapshots of the next
    // segment, as ingest does. The longest append is the longest the seal held the store.
    Benchmark("Appends during a seal of 100,000 entities' 5 minutes", configuration: .init(metrics: [.custom("seal ms"), .custom("longest append ms"), .custom("appends during the seal")], maxIterations: 3)) { benchmark in
        final class Probe: Sendable {
            let stop = Atomic<Bool>(false)
            let result = Mutex((longest: Duration.zero, count: 0))
        }
        for _ in benchmark.scaledIterations {
            let store = try TimeSeriesStore(path: temporaryPath(), families: [family], logger: logger)
            let ids = try (0..<100_000).map { e in try store.register(family: 1, key: "pod-\(e)", labels: { ["pod": "pod-\(e)"] }) }
            for i in 0..<30 { try store.append(ids.enumerated().map { e, id in (id, row(entity: e, sample: i, time: day + Int64(i) * 10_000)) }) }
            let probe = Probe()
            let finished = DispatchSemaphore(value: 0)
            let writer = Thread {
                var longest = Duration.zero, count = 0
                while !probe.stop.load(ordering: .acquiring) {
                    let first = (count * 30) % ids.count
                    let rows = (first..<first + 30).map { e in (entity: ids[e % ids.count], row: row(entity: e, sample: 30, time: day + 300_000 + Int64(count))) }
                    let started = ContinuousClock.now
                    _ = try? store.append(rows)
                    longest = max(longest, ContinuousClock.now - started)
                    count += 1
                }
                probe.result.withLock { $0 = (longest, count) }
                finished.signal()
            }
            writer.start()
            let started = ContinuousClock.now
            try store.maintain(now: day + 600_000)
            let sealed = ContinuousClock.now - started
            probe.stop.store(true, ordering: .releasing)
            finished.wait()
            let (longest, count) = probe.result.withLock { $0 }
            benchmark.measurement(.custom("seal ms"), Int(sealed / .milliseconds(1)))
            benchmark.measurement(.custom("longest append ms"), Int(longest / .milliseconds(1)))
            benchmark.measurement(.custom("appends during the seal"), count)
        }
    }

    // The head's memory per series with 6 minutes of rows in it (the most it holds: a
    // 5-minute segment, the 30 s grace, up to 30 s until the next maintenance).
    Benchmark("Head of 10,000 entities x 16 metrics, 36 rows each", configuration: .init(metrics: [.custom("head bytes per series")], maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            let store = try TimeSeriesStore(path: temporaryPath(), families: [family], logger: logger)
            let ids = try (0..<10_000).map { e in try store.register(family: 1, key: "pod-\(e)", labels: { ["pod": "pod-\(e)"] }) }
            for i in 0..<36 { try store.append(ids.enumerated().map { e, id in (id, row(entity: e, sample: i, time: day + Int64(i) * 10_000)) }) }
            let head = store.headFootprint()
            benchmark.measurement(.custom("head bytes per series"), head.bytes / max(head.series, 1))
        }
    }

    // Two hours of 1,000 entities: the first hour merged into one chunk per entity.
    Benchmark("Bytes per sample after an hour's merge", configuration: .init(metrics: [.custom("bytes per 1000 samples (merged hour, database pages)")], maxIterations: 1)) { benchmark in
        for _ in benchmark.scaledIterations {
            let (store, _) = try filledStore(entities: 1000, samples: 2 * 360 + 60)
            let samples = 1000 * (2 * 360 + 60) * 16
            benchmark.measurement(.custom("bytes per 1000 samples (merged hour, database pages)"), Int(try store.liveBytes() * 1000 / Int64(samples)))
        }
    }

    // A user's hour of raw points: 1,000 series (entities x one metric), 360 points each.
    Benchmark("1,000 series x 1 h raw", configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, maxIterations: 200)) { benchmark in
        if hourOf1000 == nil { hourOf1000 = try filledStore(entities: 1000, samples: 360) }
        let (store, ids) = hourOf1000!
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try store.samples(ids, metric: 1, from: day, to: day + 3_600_000)) }
    }

    // The same hour sealed in 2-minute segments (30 chunks a series instead of 12): what a
    // shorter head costs the last hour's readers until the hour is merged.
    Benchmark("1,000 series x 1 h raw, 2-minute segments", configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, maxIterations: 200)) { benchmark in
        let (store, ids) = try filledStore(entities: 1000, samples: 360) { $0.segment = 120_000 }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try store.samples(ids, metric: 1, from: day, to: day + 3_600_000)) }
    }

    Benchmark("1,000 series x 1 h in 1-minute buckets (counter rate)", configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, maxIterations: 200)) { benchmark in
        if hourOf1000 == nil { hourOf1000 = try filledStore(entities: 1000, samples: 360) }
        let (store, ids) = hourOf1000!
        let grid = BucketGrid(start: day, step: 60_000, count: 60, gapLimit: 300_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try store.buckets(ids, metric: 0, grid: grid)) }
    }

    // One series over 30 days from the stored hourly buckets (raw kept 1 day only).
    Benchmark("One series x 30 days from hourly buckets", configuration: .init(metrics: [.wallClock], timeUnits: .milliseconds, maxIterations: 200)) { benchmark in
        let (store, ids) = try filledStore(entities: 1, samples: 31 * 8640) { $0.rawRetention = 86_400_000 }
        let grid = BucketGrid(start: day, step: 3_600_000, count: 30 * 24, gapLimit: 300_000)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(try store.buckets(ids, metric: 0, grid: grid)) }
    }
}
