import Foundation
import GRDB
import Kubernetes
import Logging
import Testing
import TestSupport
import TimeSeries
import Wire
@testable import Aggregator

private func temporaryDatabase() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-history-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("history.sqlite").path
}

private func removeDatabase(_ path: String) { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }

/// A node's snapshots every 10 s: CPU counters at a known rate, a container per pod with its
/// runtime id (so that it is its own series).
private func snapshot(_ i: Int, base: Int64, pods: [TestBatches.PodSpec]) -> Agent_V1_Batch {
    var batch = TestBatches.batch(node: "n1", sequence: UInt64(i + 1), collectedAt: base + Int64(i) * 10,
                                  cpuBusyNanoseconds: UInt64(i) * 20_000_000_000, cpuTotalNanoseconds: UInt64(i + 1) * 40_000_000_000, pods: pods)
    for p in batch.pods.indices {
        batch.pods[p].containers[1].id = String(repeating: String(p % 10), count: 64)
        batch.pods[p].containers[1].startedAt = .with { $0.seconds = base - 60 }
        batch.pods[p].containers[1].usage = .with {
            $0.cpuUsageCoreNanoseconds = UInt64(i + 1) * 5_000_000_000
            $0.memoryWorkingSetBytes = 100 << 20
        }
    }
    return batch
}

@Suite struct HistoryStoreTests {
    let logger = Logger(label: "test")
    let base: Int64 = 1_700_000_000 / 3600 * 3600

    func pods(_ i: Int) -> [TestBatches.PodSpec] {
        [.init("compute-u1-web", "web", cpuCoreNanoseconds: UInt64(i + 1) * 5_000_000_000, memoryBytes: 1000, diskBytes: 5),
         .init("compute-u2-db", "db", cpuCoreNanoseconds: UInt64(i + 1) * 1_000_000_000, memoryBytes: 2000, diskBytes: 6)]
    }

    /// A history sealing 1-minute segments.
    func minuteSegments(_ path: String) throws -> HistoryStore {
        var configuration = HistoryConfiguration()
        configuration.segment = .seconds(60)
        return try HistoryStore(path: path, configuration: configuration, logger: logger)
    }

    func filled(_ path: String, count: Int = 60) throws -> HistoryStore {
        let history = try HistoryStore(path: path, logger: logger)
        for i in 0..<count { history.record(snapshot(i, base: base, pods: pods(i)), cluster: nil) }
        return history
    }

    @Test func snapshotsBecomeTheCatalogsMetrics() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try filled(path)
        // The pod's CPU: 5 cores' worth of core-seconds every 10 s = 500 millicores.
        let rate = try await history.series(.pod, HistoryCatalog.formula("cpu/usage_rate", in: .pod)!, .keys(["compute-u1-web/web"]),
                                            start: base, end: base + 600, step: nil, aggregation: nil)
        #expect(rate["compute-u1-web/web"]?.count == 59)
        #expect(rate["compute-u1-web/web"]?.allSatisfy { abs($0.value - 500) < 1e-9 } == true)
        // Requests and limits from the containers; the container is its own series.
        let request = try await history.series(.pod, HistoryCatalog.formula("cpu/request", in: .pod)!, .all, start: base, end: base + 600, step: 300, aggregation: .max)
        #expect(request["compute-u2-db/db"]?.first?.value == 250)
        let container = try await history.series(.container, HistoryCatalog.formula("cpu/usage", in: .container)!, .prefix("compute-u1-web/"),
                                                  start: base, end: base + 600, step: 600, aggregation: .increase)
        // From zero at its first sample: 60 snapshots x 5 core-seconds.
        #expect(container["compute-u1-web/web/main"]?.first?.value == 300_000_000_000)
        // A container's uptime from its start time.
        let uptime = try await history.series(.container, HistoryCatalog.formula("uptime", in: .container)!, .all, start: base, end: base + 600, step: nil, aggregation: nil)
        #expect(uptime["compute-u2-db/db/main"]?.first?.value == 60_000)
        // Every point, as the head holds them (the uptime predicted by each interval) and,
        // the same, once sealed.
        let expected = (0..<60).map { 60_000 + Double($0) * 10_000 }
        #expect(uptime["compute-u2-db/db/main"]?.map(\.value) == expected)
        try await history.maintain(now: base + 3600)
        #expect(history.store.counters.chunksSealed > 0)
        let sealed = try await history.series(.container, HistoryCatalog.formula("uptime", in: .container)!, .all, start: base, end: base + 600, step: nil, aggregation: nil)
        #expect(sealed["compute-u2-db/db/main"]?.map(\.value) == expected)
        // Node: busy 20 of 40 core-seconds per 10 s on 4 CPUs = 2 cores = 50% of capacity.
        let utilization = try await history.series(.node, HistoryCatalog.formula("cpu/node_utilization", in: .node)!, .all,
                                                   start: base, end: base + 600, step: 60, aggregation: nil)
        #expect(utilization["n1"]?.allSatisfy { abs($0.value - 0.5) < 1e-9 } == true)
    }

    @Test func theClusterMonitorShapesStay() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try filled(path)
        let nodes = try await history.nodePoints(.all, start: base, end: base + 600, resolution: .raw)
        #expect(nodes["n1"]?.count == 60)
        #expect(nodes["n1"]?.last?.cpu == 50)
        #expect(nodes["n1"]?.last?.memory == 25)   // 4 of 16 GiB
        #expect(nodes["n1"]?.last?.disk == 25)     // 25 of 100 GiB
        let minutes = try await history.podPoints(.prefix("compute-u2-db/"), start: base, end: base + 600, resolution: .oneMinute)
        #expect(minutes["compute-u2-db/db"]?.count == 10)
        #expect(minutes["compute-u2-db/db"]?.dropFirst().allSatisfy { $0.cpu == 100_000_000 && $0.memory == 2000 && $0.disk == 6 } == true)
    }

    /// The maintenance loop wakes when the head's oldest segment may be sealed: its end and
    /// the grace after it, and not sooner (a seal at that time seals it, one a second before
    /// does not).
    @Test func maintenanceWakesWhenASegmentIsDue() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try minuteSegments(path)
        #expect(history.nextSealDue == nil)
        #expect(Refresher.untilNextMaintenance(interval: .seconds(30), now: Double(base), sealDue: nil) == .seconds(30))
        for i in 0..<3 { history.record(snapshot(i, base: base + 5, pods: pods(i)), cluster: nil) }
        // Rows at base+5..base+25 are in the segment [base, base+60): due at its end + 30 s.
        let due = try #require(history.nextSealDue)
        #expect(due == base + 60 + 30)
        #expect(Refresher.untilNextMaintenance(interval: .seconds(30), now: Double(base + 80), sealDue: due) == .seconds(10))
        #expect(Refresher.untilNextMaintenance(interval: .seconds(30), now: Double(base + 30), sealDue: due) == .seconds(30))
        #expect(Refresher.untilNextMaintenance(interval: .seconds(30), now: Double(base + 95), sealDue: due) == .seconds(1))
        try await history.maintain(now: due - 1)
        #expect(history.store.counters.chunksSealed == 0)
        try await history.maintain(now: due)
        #expect(history.store.counters.chunksSealed > 0)
        #expect(history.nextSealDue == nil)
    }

    /// The legacy pod answer read as columns (`podPointsRaw`, what `/api/metrics/pods` uses
    /// for raw windows) has the same points as the general path: across sealed chunks and the
    /// head, a counter reset, a gap longer than the gap limit, a window starting between
    /// samples, and a pod recreated under its name while the old one still reports (two
    /// entities of one key: their rates add up).
    @Test func rawPodPointsAsColumnsEqualTheGeneralPath() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try minuteSegments(path)
        for i in 0..<90 where !(40..<75).contains(i) {
            var specs = pods(i)
            if i == 20 { specs[0].cpuCoreNanoseconds = 1 }
            if i >= 30 { specs.append(.init("compute-u2-db", "db", uid: "db-again", cpuCoreNanoseconds: UInt64(i) * 3_000_000, memoryBytes: 7000, diskBytes: 9)) }
            history.record(snapshot(i, base: base, pods: specs), cluster: nil)
            if i == 35 { try await history.maintain(now: base + 350) }
        }
        #expect(history.store.counters.chunksSealed > 0)
        #expect(history.entities(.pod, .all)["compute-u2-db/db"]?.count == 2)
        for start in [base, base + 205, base + 755] {
            let general = try await history.podPoints(.all, start: start, end: base + 900, resolution: .raw)
            var columns: [String: [HistoryPoint]] = [:], keys: [String] = [], expected = -1
            try history.podPointsRaw(.all, start: start, end: base + 900) { expected = $0 } _: { key, points in
                keys.append(key)
                columns[key] = points
            }
            #expect(columns == general, "start \(start - base)")
            #expect(keys == general.keys.sorted())
            #expect(expected >= general.values.map(\.count).max() ?? 0)
        }
        // Both entities of the recreated pod at one time: 100 and 0.3 millicores' worth of nanocores.
        let both = try await history.podPoints(.keys(["compute-u2-db/db"]), start: base + 760, end: base + 770, resolution: .raw)
        #expect(both["compute-u2-db/db"]?.first?.cpu == 100_300_000)
    }

    /// A display key's ids: the first inline, further ones after it, in the order added.
    @Test func entityIDsKeepTheirOrderWithTheFirstInline() {
        var ids = EntityIDs()
        #expect(ids.isEmpty && ids.count == 0)
        ids.append(EntityID(7))
        #expect(Array(ids) == [EntityID(7)])
        ids.append(contentsOf: [EntityID(3), EntityID(9)])
        #expect(Array(ids) == [EntityID(7), EntityID(3), EntityID(9)])
        #expect(ids == [EntityID(7), EntityID(3), EntityID(9)])
        #expect(ids != [EntityID(3), EntityID(7), EntityID(9)])
        #expect(MemoryLayout<EntityIDs>.stride == 16)
    }

    @Test func tenantsSelectOnlyTheirNamespaces() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try filled(path, count: 3)
        let mine = history.entities(.pod, .namespaces { $0.hasPrefix("compute-u1-") })
        #expect(Array(mine.keys) == ["compute-u1-web/web"])
        let containers = history.entities(.container, .namespaces { $0 == "compute-u2-db" })
        #expect(Array(containers.keys) == ["compute-u2-db/db/main"])
        #expect(history.entities(.pod, .namespaces { _ in false }).isEmpty)
    }

    @Test func aRestartedContainerIsANewSeriesAndItsUsageAddsUp() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try HistoryStore(path: path, logger: logger)
        for i in 0..<20 {
            var batch = snapshot(i, base: base, pods: [pods(i)[0]])
            // At i = 10 the container restarts: a new id, its counter from 0 again.
            batch.pods[0].containers[1].id = String(repeating: i < 10 ? "a" : "b", count: 64)
            batch.pods[0].containers[1].usage.cpuUsageCoreNanoseconds = UInt64((i % 10) + 1) * 1_000_000_000
            history.record(batch, cluster: nil)
        }
        let total = try await history.series(.container, HistoryCatalog.formula("cpu/usage", in: .container)!, .all,
                                             start: base, end: base + 3600, step: 3600, aggregation: .increase)
        #expect(total["compute-u1-web/web/main"]?.first?.value == 20_000_000_000)
        #expect(history.entities(.container, .all)["compute-u1-web/web/main"]?.count == 2)
    }

    /// A node's entities are taken from its previous snapshot while they are the same pods;
    /// once retention forgot them, the node's next snapshot registers them again instead
    /// of writing to ids that are gone.
    @Test func entitiesRetentionForgotAreRegisteredAgain() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try HistoryStore(path: path, logger: logger)
        history.record(snapshot(0, base: base, pods: pods(0)), cluster: nil)
        history.record(snapshot(1, base: base, pods: pods(1)), cluster: nil)
        let first = history.entities(.pod, .all)["compute-u1-web/web"]
        #expect(first?.count == 1)
        // Two hundred days later everything above is beyond both retentions.
        let later = base + 200 * 86_400
        try await history.maintain(now: later)
        try await history.maintain(now: later)
        #expect(history.store.entitiesForgotten > 0)
        #expect(history.entities(.pod, .all)["compute-u1-web/web"] == nil)
        history.record(snapshot(0, base: later, pods: pods(0)), cluster: nil)
        history.record(snapshot(1, base: later, pods: pods(1)), cluster: nil)
        #expect(history.store.counters.rowsRejected == 0)
        let memory = try await history.series(.pod, HistoryCatalog.formula("memory/working_set", in: .pod)!, .all,
                                              start: later, end: later + 60, step: nil, aggregation: nil)
        #expect(memory["compute-u1-web/web"]?.count == 2)
        #expect(history.entities(.container, .all)["compute-u1-web/web/main"]?.count == 1)
    }

    /// Pods that swap places in their node's snapshot, appear in front or leave keep their
    /// own series (entities are found by key, never by position).
    @Test func podsThatMoveInTheSnapshotKeepTheirSeries() async throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try HistoryStore(path: path, logger: logger)
        let cache = TestBatches.PodSpec("compute-u3-cache", "cache", memoryBytes: 3000)
        for i in 0..<40 {
            let both = pods(i)
            let order: [TestBatches.PodSpec] = switch i {
            case 0..<10: both
            case 10..<20: [both[1], both[0]]
            case 20..<30: [cache, both[1], both[0]]
            default: [both[1]]
            }
            var batch = snapshot(i, base: base, pods: order)
            // Each container's id is its pod's, whatever the position.
            for p in batch.pods.indices { batch.pods[p].containers[1].id = String(repeating: batch.pods[p].name.first!.description, count: 64) }
            history.record(batch, cluster: nil)
        }
        let memory = try await history.series(.pod, HistoryCatalog.formula("memory/working_set", in: .pod)!, .all,
                                              start: base, end: base + 3600, step: nil, aggregation: nil)
        #expect(memory["compute-u1-web/web"]?.count == 30)
        #expect(memory["compute-u1-web/web"]?.allSatisfy { $0.value == 1000 } == true)
        #expect(memory["compute-u2-db/db"]?.count == 40)
        #expect(memory["compute-u2-db/db"]?.allSatisfy { $0.value == 2000 } == true)
        #expect(memory["compute-u3-cache/cache"]?.count == 10)
        #expect(memory["compute-u3-cache/cache"]?.allSatisfy { $0.value == 3000 } == true)
        let containers = history.entities(.container, .all)
        #expect(containers.count == 3 && containers.values.allSatisfy { $0.count == 1 })
        let cpu = try await history.series(.container, HistoryCatalog.formula("cpu/usage", in: .container)!, .all,
                                           start: base, end: base + 3600, step: nil, aggregation: nil)
        #expect(cpu["compute-u2-db/db/main"]?.count == 40)
        #expect(cpu["compute-u1-web/web/main"]?.count == 30)
    }

    @Test func aDatabaseOfTheEarlierFormatIsMovedAside() throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        do {
            let old = try DatabaseQueue(path: path)
            try old.write { db in
                try db.execute(sql: "CREATE TABLE series(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, key TEXT NOT NULL, UNIQUE(kind, key))")
                try db.execute(sql: "INSERT INTO series(kind, key) VALUES (0, 'n1')")
            }
        }
        let history = try HistoryStore(path: path, logger: logger)
        history.record(snapshot(0, base: base, pods: []), cluster: nil)
        #expect(history.knows(.node, key: "n1"))
        #expect(FileManager.default.fileExists(atPath: path + ".v1"))
        let kept = try DatabaseQueue(path: path + ".v1")
        #expect(try kept.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM series") } == 1)
    }

    @Test func theGraphsEdgesAreCounters() throws {
        let path = temporaryDatabase()
        defer { removeDatabase(path) }
        let history = try HistoryStore(path: path, logger: logger)
        let key = EdgeKey(source: GraphEntity(.pod, namespace: "a", name: "client"), target: GraphEntity(.service, namespace: "b", name: "db"), transport: 1, port: 5432)
        for i in 0..<6 {
            try history.recordEdges(time: base + Int64(i) * 5, edges: [EdgeHistory(key: key, totals: EdgeCounters(toServer: UInt64(i) * 100, opened: UInt64(i)), active: 2)])
        }
        let sent = try history.store.samples(Array(history.entities(.edge, .all).values.joined()), metric: 0, from: base * 1000, to: (base + 60) * 1000)
        #expect(sent.values.first?.map(\.value) == [0, 100, 200, 300, 400, 500])
    }
}

@Suite struct TimeFieldTests {
    /// The byte-by-byte RFC 3339 writer agrees with `UnixTime.rfc3339` everywhere.
    @Test func timeFieldsMatchTheFormatter() {
        var times: [Int64] = [0, -1, 86_399, 86_400, 951_782_400, 1_709_164_800, 4_102_444_799, -62_135_596_800]
        var state: UInt64 = 1
        for _ in 0..<2000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            times.append(Int64(state % 8_000_000_000) - 1_000_000_000)
        }
        for time in times {
            var writer = JSONWriter()
            writer.beginObject()
            writer.field("t", time: time)
            writer.endObject()
            #expect(String(decoding: writer.bytes, as: UTF8.self) == "{\"t\":\"\(UnixTime(seconds: time).rfc3339)\"}", "\(time)")
        }
    }
}

@Suite struct HistoryShapeTests {
    /// The Cluster Monitor's points: one per time any figure has, a missing figure 0, lists
    /// merged in time order whatever order they came in, and of two points at one time in a
    /// list the later one.
    @Test func threeFiguresMergeByTime() {
        let p = { (time: Int64, value: Double) in MetricPoint(time: time, value: value) }
        let merged = HistoryStore.merge(cpu: ["a": [p(10, 1), p(20, 2), p(30, 3)], "b": [p(5, 7)]],
                                        memory: ["a": [p(20, 200), p(10, 100), p(40, 400)]],
                                        disk: ["a": [p(30, 3000), p(30, 3001)], "c": [p(1, 0.6)]]) { $0.rounded() }
        #expect(merged["a"] == [HistoryPoint(time: 10, cpu: 1, memory: 100, disk: 0), HistoryPoint(time: 20, cpu: 2, memory: 200, disk: 0),
                                HistoryPoint(time: 30, cpu: 3, memory: 0, disk: 3001), HistoryPoint(time: 40, cpu: 0, memory: 400, disk: 0)])
        #expect(merged["b"] == [HistoryPoint(time: 5, cpu: 7, memory: 0, disk: 0)])
        #expect(merged["c"] == [HistoryPoint(time: 1, cpu: 0, memory: 0, disk: 1)])
        #expect(merged.count == 3)
    }

    /// Integers written from doubles never trap: beyond Int64 they clamp, NaN is 0.
    @Test func integersFromDoublesClamp() {
        for (number, text) in [(1e30, "9223372036854775807"), (-1e30, "-9223372036854775808"), (.nan, "0"), (.infinity, "0"),
                               (2.5, "3"), (-2.5, "-3"), (0x1p63, "9223372036854775807"), (12_345_678_901.4, "12345678901"),
                               (0.49999999999999994, "0"), (-0.4, "0"), (-0.5, "-1"), (4_503_599_627_370_495.5, "4503599627370496"),
                               (0x1p52 + 1, "4503599627370497"), (-1.5, "-2"), (7, "7")] as [(Double, String)] {
            var bytes: [UInt8] = []
            JSONWriter.appendInteger(rounding: number, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == text, "\(number)")
        }
    }

    /// The digit writer (two digits per step) agrees with Swift's own formatting at every
    /// length and at each power of ten's edges, and with the time writer's RFC 3339.
    @Test func digitsAndTimesAreExact() {
        var numbers: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, UInt64.max, UInt64.max - 1, 1 << 63]
        var power: UInt64 = 10
        for _ in 1..<20 {
            numbers += [power - 1, power, power + 1, power / 10 * 7 + 3]
            if power > UInt64.max / 10 { break }
            power *= 10
        }
        var random = SystemRandomNumberGenerator()
        numbers += (0..<1000).map { _ in UInt64.random(in: 0...UInt64.max, using: &random) >> UInt64.random(in: 0...63, using: &random) }
        for number in numbers {
            var bytes: [UInt8] = []
            JSONWriter.appendDigits(number, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == String(number))
        }
        for seconds: Int64 in [0, 951_782_400, 1_700_000_000, 4_102_444_799, -1] {
            var bytes: [UInt8] = []
            JSONWriter.appendTime(seconds, to: &bytes)
            let formatter = ISO8601DateFormatter()
            #expect(String(decoding: bytes, as: UTF8.self) == "\"" + formatter.string(from: Date(timeIntervalSince1970: Double(seconds))) + "\"")
        }
    }

    /// Rounding without libm's `round` gives what `rounded()` gives, ties and all.
    @Test func integersFromDoublesRoundHalfAwayFromZero() {
        var random = SystemRandomNumberGenerator()
        var numbers: [Double] = (0..<2000).map { _ in Double(Int.random(in: -1_000_000...1_000_000, using: &random)) / 4 }
        numbers += (0..<2000).map { _ in Double.random(in: -1e15...1e15, using: &random) }
        numbers += (0..<60).flatMap { power in [Double(sign: .plus, exponent: power, significand: 1) - 0.5, -Double(sign: .plus, exponent: power, significand: 1) + 0.5] }
        for number in numbers {
            var bytes: [UInt8] = []
            JSONWriter.appendInteger(rounding: number, to: &bytes)
            #expect(String(decoding: bytes, as: UTF8.self) == String(Int64(number.rounded())), "\(number)")
        }
    }

    /// Times written through the day cache are the bytes written without it, in runs within
    /// a day, across midnights and before 1970.
    @Test func timesThroughTheDayCacheAreTheSame() {
        var times: [Int64] = []
        for start: Int64 in [1_700_000_000, 1_764_892_790, -200, 951_868_795] { times += (0..<40).map { start + $0 * 7 } }
        times += [86_399, 86_400, 86_399, 0, -1, -86_400, -86_401, 4_102_444_799]
        var days = JSONWriter.DayText()
        for seconds in times {
            var plain: [UInt8] = [], cached = [UInt8](repeating: 0, count: 22)
            JSONWriter.appendTime(seconds, to: &plain)
            cached.withUnsafeMutableBufferPointer { buffer in
                var cursor = buffer.baseAddress!
                JSONWriter.putTime(seconds, at: &cursor, days: &days)
                #expect(cursor == buffer.baseAddress! + 22)
            }
            #expect(cached == plain, "\(seconds)")
        }
    }
}
