import Foundation
import GRDB
import Logging
import Synchronization
import Testing
import TestSupport
@testable import TimeSeries

let testFamilies = [
    Family(id: 1, name: "container", metrics: [
        MetricDefinition("cpu/usage", .counter, startsAtZero: true),
        MetricDefinition("memory/usage", .gauge),
        MetricDefinition("ratio", .gauge, .float),
    ], summarize: ["cpu/usage", "memory/usage"]),
]

func temporaryStorePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-ts-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent("history.sqlite").path
}

func removeStore(_ path: String) { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }

func row(_ time: Int64, _ cpu: UInt64, _ memory: UInt64?, _ ratio: Double = 0.5) -> SampleRow {
    SampleRow(time: time, values: [cpu, memory, ratio.bitPattern])
}

@Suite struct StoreTests {
    let logger = Logger(label: "test")
    let day: Int64 = 1_700_006_400_000 / 86_400_000 * 86_400_000   // a UTC midnight

    func open(_ path: String, configure: (inout StoreConfiguration) -> Void = { _ in }) throws -> TimeSeriesStore {
        var configuration = StoreConfiguration()
        configure(&configuration)
        return try TimeSeriesStore(path: path, families: testFamilies, configuration: configuration, logger: logger)
    }

    func fill(_ store: TimeSeriesStore, entities: Int, from: Int64, count: Int, step: Int64 = 10_000) throws -> [EntityID] {
        let ids = try (0..<entities).map { e in
            try store.register(family: 1, key: "pod-\(e)/main", labels: { ["namespace": "ns-\(e % 3)", "pod": "pod-\(e)"] })
        }
        for i in 0..<count {
            let t = from + Int64(i) * step
            try store.append(ids.enumerated().map { e, id in (id, row(t, UInt64(i + 1) * 1_000_000 * UInt64(e + 1), UInt64(1000 + i % 5), Double(i) / 10)) })
        }
        return ids
    }

    @Test func aHeadBlockGivesBackEveryRowAndLogsTheSameBytes() throws {
        // Presence that changes from row to row, values near 2^64 and a negative float's
        // bits (10-byte varints), times that go back before 1970; and rows as agents send
        // them: most values unchanged from one row to the next, times a few milliseconds
        // off the interval, a metric that comes and goes; an uptime that grows with the time
        // between rows (and starts again once), predicted when its column tracks time.
        var generator = SystemRandomNumberGenerator()
        var scenarios: [(width: Int, rows: [SampleRow])] = []
        for width in [5, 17] {
            var rows: [SampleRow] = []
            for index in 0..<200 {
                let present = UInt64.random(in: 0..<(1 << UInt64(width)), using: &generator)
                let values: [UInt64] = (0..<width).map { slot in
                    switch (index + slot) % 4 {
                    case 0: UInt64.max - UInt64(index)
                    case 1: (-Double(index) * 1.5).bitPattern
                    case 2: UInt64(index) * 1_000_000_007
                    default: 0
                    }
                }
                rows.append(SampleRow(time: -50_000 + Int64(index) * 997, present: present, values: values))
            }
            scenarios.append((width, rows))
        }
        var time: Int64 = 1_700_000_000_000
        var started = time - 3_600_000
        var counter: UInt64 = 1 << 40
        let steady: [SampleRow] = (0..<200).map { index in
            time += 10_000 + (index % 7 == 3 ? Int64.random(in: -40...40, using: &generator) : 0)
            if index == 120 { started = time - 2_500 }
            counter &+= UInt64.random(in: 0...90_000_000, using: &generator)
            let present: UInt64 = index % 50 < 40 ? (1 << 17) - 1 : (1 << 17) - 1 - (1 << 9)
            let values: [UInt64] = (0..<17).map { slot in
                switch slot {
                case 0: counter
                case 1: index % 10 == 0 ? UInt64(index) : 500
                case 9: UInt64.max
                case 16: UInt64(time - started)
                default: UInt64(slot) * 1_000
                }
            }
            return SampleRow(time: time, present: present, values: values)
        }
        scenarios.append((17, steady))
        var steadyBytes: [UInt64: Int] = [:]
        for (width, rows) in scenarios {
            // No metric tracking time; the uptime; and columns whose values do not (the counter,
            // the one that comes and goes, the first and the last): predicted wrong, still exact.
            for tracking: UInt64 in [0, 1 << 16, 1 | 1 << 9 | 1 << UInt64(width - 1)] {
                var block = TimeSeriesStore.Block(segment: 0, width: width, tracking: tracking)
                var logged: [UInt8] = []
                for row in rows {
                    let start = block.append(row)
                    logged.append(contentsOf: block.encoded[start...])
                    #expect(block.lastTime == row.time)
                }
                // A head whose log writes some rows whole (after a failed write) logs rows that
                // replay the same.
                var head = TimeSeriesStore.Head(width: width, tracking: tracking)
                var relogged: [UInt8] = []
                for (index, row) in rows.enumerated() { head.append(row, segment: 0, whole: index % 37 == 5, log: &relogged) }
                func masked(_ row: SampleRow) -> SampleRow {
                    SampleRow(time: row.time, present: row.present, values: row.values.enumerated().map { row.present & (1 << UInt64($0.offset)) != 0 ? $0.element : 0 })
                }
                #expect(block.rows == rows.map(masked))
                #expect(head.blocks.map(\.rows) == [rows.map(masked)])
                // What the log replays: the same rows, one after the other.
                for log in [logged, relogged] {
                    var replayed: [SampleRow] = []
                    var previous: [UInt64] = []
                    try log.withUnsafeBufferPointer { buffer in
                        var cursor = ByteCursor(buffer)
                        while !cursor.atEnd {
                            try TimeSeriesStore.Block.decode(&cursor, previous: &previous, width: width, tracking: tracking)
                            replayed.append(SampleRow(time: Int64(bitPattern: previous[0]), present: previous[1], values: Array(previous[2..<(width + 2)])))
                        }
                    }
                    #expect(replayed == rows.map(masked))
                }
                #expect(TimeSeriesStore.Block(segment: 0, width: width, tracking: tracking).lastTime == nil)
                if rows == steady { steadyBytes[tracking] = block.encoded.count }
                // A query's walk of a few metrics (in any order, the first and last columns among
                // them, or one asked twice) reads the same values as the whole rows, and no value of
                // another metric.
                for metrics in [[0], [width - 1], [2, 0, 5], [width - 1, 1, 7], Array((0..<width).reversed()), [3, width + 4], [1, 3, 1], [0, 0]] {
                    var walked: [[(Int64, UInt64)]] = Array(repeating: [], count: metrics.count)
                    block.forEachSample(metrics) { time, slot, value in walked[slot].append((time, value)) }
                    for (slot, metric) in metrics.enumerated() {
                        let expected = metric < width ? rows.filter { $0.present & (1 << UInt64(metric)) != 0 }.map { ($0.time, $0.values[metric]) } : []
                        #expect(walked[slot].map(\.0) == expected.map(\.0), "metric \(metric)")
                        #expect(walked[slot].map(\.1) == expected.map(\.1), "metric \(metric)")
                    }
                }
            }
        }
        // The predicted uptime costs a bit a row, not its ~3-byte difference.
        let plain = try #require(steadyBytes[0]), tracked = try #require(steadyBytes[1 << 16])
        #expect(plain - tracked >= 2 * (steady.count - 2), "\(plain) bytes, \(tracked) with the uptime predicted")
    }

    /// A log written before time-tracking metrics were predicted (rows record 3) replays its
    /// uptime as written; one written now (record 4) replays it through the prediction.
    @Test func logsOfEitherRowRecordReplayTheSameUptime() throws {
        let family = Family(id: 1, name: "container", metrics: [MetricDefinition("cpu/usage", .counter), MetricDefinition("uptime", .gauge, tracksTime: true)])
        #expect(family.timeTracking == 2)
        // Ten seconds apart (one 7 ms late), the uptime starting again after the eighth row.
        let rows: [SampleRow] = (0..<12).map { (i: Int) -> SampleRow in
            let time: Int64 = day + Int64(i) * 10_000 + (i == 5 ? 7 : 0)
            let uptime: UInt64 = (i < 8 ? 60_000 : 0) + UInt64(time - day)
            return SampleRow(time: time, present: 3, values: [UInt64(i) * 1_000, uptime])
        }
        for kind in [TimeSeriesStore.rowsRecord, TimeSeriesStore.trackedRowsRecord] {
            let path = temporaryStorePath()
            defer { removeStore(path) }
            try TimeSeriesStore(path: path, families: [family], logger: logger).close()
            let log = try WriteAheadLog(creating: path + ".log.9", generation: 9)
            try log.append(TimeSeriesStore.registration(EntityInfo(id: EntityID(1), family: 1, key: "pod/c", first: .max, last: .min),
                                                        EntityText(key: "pod/c", labels: TimeSeriesStore.formatLabels(["pod": "pod"]))))
            var block = TimeSeriesStore.Block(segment: 0, width: 2, tracking: kind == TimeSeriesStore.trackedRowsRecord ? family.timeTracking : 0)
            for row in rows {
                let start = block.append(row)
                var record: [UInt8] = [kind]
                appendVarint(1, to: &record)        // one row
                appendVarint(1, to: &record)        // of entity 1
                record.append(contentsOf: block.encoded[start...])
                try log.append(record)
            }
            log.sync()
            log.closeFile()
            let store = try TimeSeriesStore(path: path, families: [family], logger: logger)
            #expect(store.lookup(family: 1, key: "pod/c") == EntityID(1))
            let uptime = try store.samples([EntityID(1)], metric: 1, from: day, to: day + 3_600_000)[EntityID(1)] ?? []
            #expect(uptime.map { $0.value } == rows.map { $0.values[1] }, "record \(kind)")
            #expect(uptime.map { $0.time } == rows.map { $0.time })
        }
    }

    @Test func labelsLeaveMemoryOnceSavedAndReadTheSameFromTheDatabase() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        let ids = try fill(store, entities: 3, from: day, count: 40)
        let late = try store.register(family: 1, key: "pod-late/main", labels: { ["namespace": "ns-9", "pod": "pod-late", "a=b": "x\ny"] })
        let expected: [[String: String]] = (0..<3).map { ["namespace": "ns-\($0 % 3)", "pod": "pod-\($0)"] }
            + [["namespace": "ns-9", "pod": "pod-late", "a=b": "x\ny"], [:]]
        let asked = ids + [late, EntityID(999)]
        #expect(try store.labels(asked) == expected, "unsaved: from memory")
        #expect(store.heldText(ids[0])?.labels.isEmpty == false)
        #expect(store.heldText(late) == EntityText(key: "pod-late/main", labels: TimeSeriesStore.formatLabels(["namespace": "ns-9", "pod": "pod-late", "a=b": "x\ny"])))
        try store.maintain(now: day + 20 * 60_000)
        #expect(store.heldText(ids[0]) == nil, "saved by the seal: no longer in memory")
        #expect(store.heldText(late) == nil, "saved with the seal though it has no rows yet")
        #expect(try store.labels(asked) == expected, "saved: from the database")
        try store.close()
        let reopened = try open(path)
        #expect(reopened.heldText(late) == nil)
        #expect(try reopened.labels(asked) == expected, "reopened: from the database")
    }

    /// A maintenance before any seal is due saves the new entities: their labels leave
    /// memory, read the same from the database, and a crash after it (the log naming them
    /// again) loses neither labels nor rows.
    @Test func newEntitiesAreSavedAtTheNextMaintenanceBeforeTheirFirstSeal() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        let expected: [[String: String]] = (0..<3).map { ["namespace": "ns-\($0 % 3)", "pod": "pod-\($0)"] }
        do {
            let store = try open(path)
            ids = try fill(store, entities: 3, from: day, count: 6)
            try store.maintain(now: day + 60_000)
            #expect(store.counters.seals == 0, "no segment is due yet")
            #expect(ids.allSatisfy { store.heldText($0) == nil }, "saved: no longer in memory")
            #expect(try store.labels(ids) == expected, "from the database")
            try store.append([(ids[0], row(day + 60_000, 99_000_000, 5))])
            // No close(): as if killed.
        }
        let store = try open(path)
        #expect(try store.labels(ids) == expected)
        let cpu = try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)
        #expect(cpu[ids[0]]?.count == 7)
        #expect(cpu[ids[2]]?.count == 6)
        try store.maintain(now: day + 20 * 60_000)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[0]]?.count == 7, "sealed after it")
        #expect(try store.labels(ids) == expected)
    }

    @Test func rowsReadBackFromTheHeadFromChunksAndAfterReopening() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        do {
            let store = try open(path)
            ids = try fill(store, entities: 3, from: day, count: 120)  // 20 minutes
            try store.maintain(now: day + 20 * 60_000)
            #expect(store.counters.seals >= 3)
            // Saved: neither key nor labels are held; the index finds the entity by its key's hash.
            #expect(store.heldText(ids[1]) == nil)
            #expect(MemoryLayout<EntityInfo>.stride == 40, "an index entry holds no strings")
            #expect(store.lookup(family: 1, key: "pod-1/main") == ids[1])
            #expect(store.lookup(family: 1, key: "pod-1/mai") == nil)
            #expect(try store.register(family: 1, key: "pod-1/main") { [:] } == ids[1])
            let cpu = try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)
            #expect(cpu[ids[2]]?.count == 120)
            #expect(cpu[ids[2]]?.last?.value == 120 * 3_000_000)
            try store.close()
        }
        let store = try open(path)
        #expect(store.lookup(family: 1, key: "pod-1/main") == ids[1])
        #expect(try store.labels([ids[1]]) == [["namespace": "ns-1", "pod": "pod-1"]])
        let memory = try store.samples(ids, metric: 1, from: day, to: day + 3_600_000)
        #expect(memory[ids[0]]?.map(\.time) == (0..<120).map { day + Int64($0) * 10_000 })
        let ratio = try store.samples([ids[0]], metric: 2, from: day + 50_000, to: day + 60_000)
        #expect(ratio[ids[0]]?.map { Double(bitPattern: $0.value) } == [0.5, 0.6])
        // After a graceful stop everything is sealed.
        #expect(store.headFootprint().series == 0)
    }

    @Test func columnsComeInTheOrderAskedAndEqualWholeRows() throws {
        // Six entities over 40 minutes: memory missing now and then, entity 3 silent from
        // minute 4 to 16 and then late (rows of minutes 6-8 after their segment was sealed:
        // they sit in the next segment's chunk), the last minutes still in the head. Asked
        // shuffled, one entity twice, an unknown id; metrics out of order, repeated and
        // out of range.
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        var rng = SplitMix(seed: 21)
        let ids = try (0..<6).map { e in try store.register(family: 1, key: "pod-\(e)/main", labels: { ["pod": "pod-\(e)"] }) }
        for i in 0..<240 {
            let t = day + Int64(i) * 10_000
            if i == 96 {
                try store.append((36..<48).map { j in (ids[3], row(day + Int64(j) * 10_000, UInt64(j) * 7, UInt64(j))) })
            }
            let rows = ids.enumerated().compactMap { e, id -> (EntityID, SampleRow)? in
                if e == 3 && (24..<96).contains(i) { return nil }
                return (id, row(t, UInt64(i) * UInt64(e + 1) * 1_000, Bool.random(using: &rng) ? UInt64(i % 17) : nil, Double(i) / 3))
            }
            try store.append(rows)
            if i % 30 == 29 { try store.maintain(now: t) }
        }
        #expect(store.headFootprint().series > 0)
        let lateChunk = try store.pool.read { db in
            try Data.fetchOne(db, sql: "SELECT data FROM \(TimeSeriesStore.rawTable(day: day / 86_400_000)) WHERE start = ? AND entity = ?",
                                 arguments: [day + 600_000, ids[3].raw])
        }
        var lateTimes: [Int64] = []
        try Chunk.decodeTimes([UInt8](try #require(lateChunk))) { lateTimes.append($0) }
        #expect(lateTimes.first == day + 36 * 10_000, "the late rows sit in the next segment's chunk")
        var asked = ids
        asked.shuffle(using: &rng)
        asked += [ids[1], EntityID(999)]
        let metrics = [2, 0, 2, 7, 1]
        let (from, to) = (day + 3 * 60_000, day + 37 * 60_000 + 5_000)
        let columns = try store.columns(asked, metrics: metrics, from: from, to: to)
        let rows = try store.rows(ids, from: from, to: to)
        for (slot, metric) in metrics.enumerated() {
            for (index, id) in asked.enumerated() {
                let expected = (rows[id] ?? []).filter { metric < 3 && $0.present & (1 << UInt64(metric)) != 0 }.map { [$0.time, Int64(bitPattern: $0.values[metric])] }
                let got = columns.withSamples(slot, index) { count, sample in (0..<count).map { [sample($0).time, Int64(bitPattern: sample($0).value)] } }
                #expect(got == expected, "metric \(metric), entity \(id.raw)")
            }
        }
        let late = columns.withSamples(1, asked.firstIndex(of: ids[3])!) { count, sample in (0..<count).map { sample($0).time } }
        #expect(late.contains(day + 36 * 10_000) && late.contains(day + 96 * 10_000))
        #expect(zip(late, late.dropFirst()).allSatisfy { $0 < $1 })
        #expect(columns.count(3) == 0)
    }

    @Test func aStopWithoutSealingLosesNothingTheLogHolds() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        do {
            let store = try open(path)
            ids = try fill(store, entities: 2, from: day, count: 50)
            try store.maintain(now: day + 6 * 60_000)  // seals the first segment only
            // No close(): as if killed.
        }
        let store = try open(path)
        let cpu = try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)
        #expect(cpu[ids[1]]?.count == 50)
        // Appending goes on after the replay, and a second crash loses nothing either.
        try store.append([(ids[1], row(day + 50 * 10_000, 999_000_000, 7))])
        let again = try open(path)
        #expect(try again.samples([ids[1]], metric: 0, from: day, to: day + 3_600_000)[ids[1]]?.count == 51)
    }

    /// A log written before the head's bitmap encoding (its rows records, kind 2) replays
    /// after an upgrade, and rows logged after it, as differences from its rows, replay too.
    @Test func aLogOfTheEarlierRowEncodingReplaysAfterAnUpgrade() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        try open(path).close()  // the database as an earlier aggregator left it, without its log files
        let directory = (path as NSString).deletingLastPathComponent
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasPrefix("history.sqlite.log.") {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
        let id = EntityID(1)
        let rows: [SampleRow] = (0..<5).map { (index: Int) -> SampleRow in
            let time: Int64 = day + Int64(index) * 10_000 + (index == 3 ? 7 : 0)
            return row(time, UInt64(index + 1) * 1_000_000_000, index == 2 ? nil : 4_096, 0.25)
        }
        do {
            let log = try WriteAheadLog(creating: path + ".log.1", generation: 1)
            try log.append(TimeSeriesStore.registration(EntityInfo(id: id, family: 1, key: "pod-0/main", first: .max, last: .min),
                                                        EntityText(key: "pod-0/main", labels: TimeSeriesStore.formatLabels(["pod": "pod-0"]))))
            // Kind 2 as it was written: per row a varint of presence << 1 (| 1 on the
            // block's first row), the time's zigzag difference, each present value's.
            var record: [UInt8] = [2]
            appendVarint(UInt64(rows.count), to: &record)
            var previous: SampleRow?
            for row in rows {
                appendVarint(UInt64(id.raw), to: &record)
                appendVarint(row.present << 1 | (previous == nil ? 1 : 0), to: &record)
                appendVarint(zigzag(row.time - (previous?.time ?? 0)), to: &record)
                for metric in 0..<3 where row.present & (1 << UInt64(metric)) != 0 {
                    let base = previous.map { $0.present & (1 << UInt64(metric)) != 0 ? $0.values[metric] : 0 } ?? 0
                    appendVarint(zigzag(Int64(bitPattern: row.values[metric] &- base)), to: &record)
                }
                previous = row
            }
            try log.append(record)
        }
        let store = try open(path)
        #expect(try store.rows([id], from: day, to: day + 3_600_000)[id] == rows)
        #expect(try store.labels([id]) == [["pod": "pod-0"]])
        let later = row(day + 50_000, 9_000_000_000, 4_096, 0.25)
        try store.append([(id, later)])
        #expect(try open(path).rows([id], from: day, to: day + 3_600_000)[id] == rows + [later], "both logs replayed in order")
    }

    @Test func aTornLastRecordIsDroppedAndTheRestKept() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        do {
            let store = try open(path)
            ids = try fill(store, entities: 1, from: day, count: 10)
        }
        // Cut the log in the middle of its last record.
        let log = path + ".log.1"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: log))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: log))
        let store = try open(path)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[0]]?.count == 9)
    }

    /// A full disk in the middle of a log record: the record is cut back (the appends after
    /// space returns were lost behind the torn record), and the rows the log missed do not
    /// shift the ones after them (logged as differences from missing rows, they replayed
    /// 90 seconds early).
    @Test func aLogWriteOnAFullDiskLeavesNoTornRecordBehind() throws {
        let volume = try SmallVolume(megabytes: 1)
        let path = volume.path + "/history.sqlite"
        var ids: [EntityID] = []
        var kept = 0
        do {
            let store = try open(path)
            ids = try fill(store, entities: 2000, from: day, count: 2)
            kept = 2
            // Fill the volume, then append a row too large for what is left.
            let filler = try volume.fill()
            // A record of 2,000 rows (tens of KiB) where a few KiB are left.
            #expect(throws: (any Error).self) { try store.append(ids.map { ($0, row(day + 100_000, 99, 1)) }) }
            try FileManager.default.removeItem(atPath: filler)
            for i in 0..<3 {
                _ = try store.append([(ids[0], row(day + 200_000 + Int64(i) * 10_000, UInt64(100 + i), 1))])
                kept += 1
            }
        }
        // Reopened (the log replayed): the rows before and after the failure are all there.
        do {
            let store = try open(path)
            let samples = try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[0]] ?? []
            #expect(samples.map { $0.time - day } == [0, 10_000, 200_000, 210_000, 220_000])
            #expect(samples.map(\.value).suffix(3) == [100, 101, 102])
            #expect(samples.count == kept)
        }
        withExtendedLifetime(volume) {}
    }

    @Test func finishedHoursAreMergedIntoOneChunkPerEntity() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        var before: [EntityID: [(time: Int64, value: UInt64)]] = [:]
        do {
            let store = try open(path) { $0.compactTo = 0 }
            ids = try fill(store, entities: 3, from: day + 1_000, count: 800)  // 2 h 13 min
            try store.maintain(now: day + 800 * 10_000 + 60_000)
            before = try store.samples(ids, metric: 0, from: day, to: day + 3 * 3_600_000)
        }
        // Reopened with merging on: the two finished hours become one chunk per entity each.
        let store = try open(path)
        try store.maintain(now: day + 800 * 10_000 + 60_000)
        #expect(store.counters.compactions == 2)
        let after = try store.samples(ids, metric: 0, from: day, to: day + 3 * 3_600_000)
        for id in ids { #expect(after[id]?.map(\.time) == before[id]?.map(\.time) && after[id]?.map(\.value) == before[id]?.map(\.value), "\(after[id]?.count ?? -1) vs \(before[id]?.count ?? -1): \(Set(before[id]?.map(\.time) ?? []).symmetricDifference(after[id]?.map(\.time) ?? []).sorted().prefix(5))") }
        // A window inside a merged hour finds its rows.
        let inside = try store.samples(ids, metric: 0, from: day + 1_800_000, to: day + 2_400_000)
        #expect(inside[ids[0]]?.count == 60)
        // Merging again changes nothing, and a reopened store reads the same.
        try store.compact()
        #expect(store.counters.compactions == 2)
        let reopened = try open(path)
        #expect(try reopened.samples(ids, metric: 0, from: day, to: day + 3 * 3_600_000)[ids[1]]?.count == 800)
    }

    /// A row for a segment already sealed (a new entity's first report, late) goes into the
    /// chunk of the segment after the newest sealed one; rows of that segment sealed later go
    /// to the one after it, and every row reads back, in time order, also after a reopen.
    @Test func lateRowsAreSealedIntoTheNextSegment() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        let segment = StoreConfiguration().segment
        let a = try store.register(family: 1, key: "a/main", labels: { ["namespace": "a"] })
        let b = try store.register(family: 1, key: "b/main", labels: { ["namespace": "b"] })
        try store.append([(a, row(day + 1_000, 10, 1))])
        try store.seal(through: day + segment)
        // b's first row is in the sealed segment; then each has a row in the next one.
        try store.append([(b, row(day + 2_000, 20, 2))])
        try store.append([(a, row(day + segment + 1_000, 30, 3)), (b, row(day + segment + 1_000, 40, 4))])
        try store.seal(through: day + segment)       // b's late row, into the next segment's chunk
        try store.seal(through: day + 2 * segment)   // that segment's own rows, into the one after
        #expect(store.counters.chunksSealed == 4)
        let placed = try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(db, sql: "SELECT entity, start FROM raw_\(day / 86_400_000) ORDER BY entity, start").map { row -> [Int64] in
                [row["entity"], (row["start"] - day) / segment]
            }
        }
        #expect(placed == [[Int64(a.raw), 0], [Int64(a.raw), 2], [Int64(b.raw), 1], [Int64(b.raw), 2]])
        let samples = try store.samples([a, b], metric: 0, from: day, to: day + 2 * segment)
        #expect(samples[a]?.map(\.value) == [10, 30])
        #expect(samples[b]?.map(\.time) == [day + 2_000, day + segment + 1_000])
        #expect(samples[b]?.map(\.value) == [20, 40])
        let reopened = try open(path)
        #expect(try reopened.samples([b], metric: 0, from: day, to: day + 2 * segment)[b]?.map(\.value) == [20, 40])
    }

    /// The database refusing a seal (here: another writer holds it; a full disk is the same
    /// to the store) loses nothing; the next seal writes it all.
    @Test func aFailedSealLosesNothing() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        let ids = try fill(store, entities: 2, from: day, count: 40)
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true  // the transaction stays open across accesses
        let blocker = try DatabaseQueue(path: path, configuration: holding)
        try blocker.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        #expect(throws: (any Error).self) { try store.maintain(now: day + 400_000 + 60_000) }
        #expect(store.counters.sealFailures >= 1)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[1]]?.count == 40)
        try blocker.inDatabase { db in try db.execute(sql: "ROLLBACK") }
        try store.maintain(now: day + 400_000 + 60_000)
        #expect(store.counters.seals >= 1)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[1]]?.count == 40)
        try store.close()
        let reopened = try open(path)
        #expect(try reopened.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[0]]?.count == 40)
        #expect(reopened.lookup(family: 1, key: "pod-1/main") == ids[1])
    }

    @Test func aStoreWrittenBeforeMergedHoursOpens() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        do {
            let old = try DatabaseQueue(path: path)
            try old.write { db in
                try db.execute(sql: "CREATE TABLE segments(start INTEGER PRIMARY KEY)")
                try db.execute(sql: "INSERT INTO segments(start) VALUES (?)", arguments: [day])
            }
        }
        let store = try open(path)
        let ids = try fill(store, entities: 1, from: day + 400_000, count: 3)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[0]]?.count == 3)
    }

    /// One day alone over the size bound: its oldest hours go until it fits.
    @Test func aDayOverTheSizeBoundLosesItsOldestHours() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        var ids: [EntityID] = []
        var full: Int64 = 0
        do {
            let store = try open(path)
            ids = try fill(store, entities: 200, from: day, count: 6 * 360)  // 6 hours
            try store.maintain(now: day + 6 * 3_600_000 + 60_000)
            full = try store.liveBytes()
        }
        let store = try open(path) { $0.maxBytes = full / 2 }
        try store.maintain(now: day + 6 * 3_600_000 + 60_000)
        #expect(try store.liveBytes() <= full / 2)
        let left = try store.samples([ids[0]], metric: 0, from: day, to: day + 7 * 3_600_000)[ids[0]] ?? []
        // The newest samples stay, the oldest went.
        #expect(left.last?.time == day + Int64(6 * 360 - 1) * 10_000)
        #expect((left.first?.time ?? 0) >= day + 3_600_000)
    }

    @Test func labelsRoundTripThroughTheirText() {
        let labels = ["namespace": "a=b", "pod": "line\nbreak", "image": "back\\slash\\e", "": "empty key", "k": ""]
        #expect(TimeSeriesStore.parseLabels(TimeSeriesStore.formatLabels(labels)) == labels)
    }

    @Test func olderOrRepeatedRowsAreRefused() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        let id = try store.register(family: 1, key: "a", labels: { [:] })
        #expect(try store.append([(id, row(day + 10_000, 1, 1))]).rows == 1)
        #expect(try store.append([(id, row(day + 10_000, 2, 2)), (id, row(day + 5_000, 2, 2))]).rows == 0)
        #expect(store.counters.rowsRejected == 2)
    }

    @Test func hourlyBucketsAnswerLikeRawPointsOnceRawIsGone() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path) { $0.rawRetention = 2 * 86_400_000 }
        // Two days and a bit, every 30 s, for two entities.
        let ids = try fill(store, entities: 2, from: day + 7_000, count: 2 * 2880 + 200, step: 30_000)
        try store.maintain(now: day + 2 * 86_400_000 + 200 * 30_000)
        let grid = BucketGrid(start: day, step: 3_600_000, count: 48, gapLimit: store.configuration.gapLimit)
        let fromRaw = try store.buckets(ids, metric: 0, grid: grid)
        let gaugeFromRaw = try store.buckets(ids, metric: 1, grid: grid)
        // Raw days dropped: the same questions answered from the stored buckets.
        try store.expire(now: day + 4 * 86_400_000 + 1)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 86_400_000).isEmpty)
        let fromBuckets = try store.buckets(ids, metric: 0, grid: grid)
        let gaugeFromBuckets = try store.buckets(ids, metric: 1, grid: grid)
        #expect(fromBuckets[ids[1]]?.map(\.increase) == fromRaw[ids[1]]?.map(\.increase))
        #expect(fromBuckets[ids[1]]?.map(\.count) == fromRaw[ids[1]]?.map(\.count))
        #expect(gaugeFromBuckets[ids[0]]?.map(\.integral) == gaugeFromRaw[ids[0]]?.map(\.integral))
        #expect(gaugeFromBuckets[ids[0]]?.map(\.max) == gaugeFromRaw[ids[0]]?.map(\.max))
        // A day's total from 24 buckets is the total of the day's raw points, exactly.
        let dayTotal = fromBuckets[ids[1]]!.prefix(24).reduce(UInt64(0)) { $0 + $1.increase }
        #expect(dayTotal > 0)
        let coarse = try store.buckets(ids, metric: 0, grid: BucketGrid(start: day, step: 86_400_000, count: 2, gapLimit: store.configuration.gapLimit))
        #expect(coarse[ids[1]]?[0].increase == dayTotal)
        // The day summary holds what the day's buckets add up to.
        let fields: [SummaryField] = [.increase, .integral, .covered, .samples, .max, .peakRate]
        let read = try #require(try store.summaryColumns(day: day / 86_400_000, family: 1, fields: [0, 1].flatMap { metric in fields.map { (metric, $0) } }))
        func column(_ metric: Int, _ field: SummaryField) -> [UInt64] { read.words[metric * 6 + field.rawValue]! }
        var summary = DaySummary(day: day / 86_400_000, family: 1, metrics: [0, 1])
        summary.entities = read.entities
        summary.columns = [0, 1].map { metric in
            DaySummary.Columns(increase: column(metric, .increase), integral: column(metric, .integral).map(Double.init(bitPattern:)),
                               covered: column(metric, .covered).map { Int64(bitPattern: $0) }, count: column(metric, .samples),
                               max: column(metric, .max).map(Double.init(bitPattern:)), peakRate: column(metric, .peakRate).map(Double.init(bitPattern:)))
        }
        #expect(summary.metrics == [0, 1] && Set(summary.entities) == Set(ids))
        let row = try #require(summary.entities.firstIndex(of: ids[1]))
        #expect(summary.columns[0].increase[row] == dayTotal)
        #expect(summary.columns[0].covered[row] == fromBuckets[ids[1]]!.prefix(24).reduce(0) { $0 + $1.covered })
        #expect(summary.columns[1].integral[row] == gaugeFromBuckets[ids[1]]!.prefix(24).reduce(0.0) { $0 + $1.integral })
        #expect(summary.columns[1].max[row] == gaugeFromBuckets[ids[1]]!.prefix(24).map(\.max).max())
        let peak = fromBuckets[ids[1]]!.prefix(24).filter { $0.covered > 0 }.map { Double($0.increase) / (Double($0.covered) / 1000) }.max()
        #expect(summary.columns[0].peakRate[row] == peak)
        // Columns read on their own (incremental blob I/O) are the same.
        let columns = try #require(try store.summaryColumns(day: day / 86_400_000, family: 1, fields: [(0, .increase), (1, .max), (2, .integral)]))
        #expect(columns.entities == summary.entities)
        #expect(columns.words[0] == summary.columns[0].increase && columns.words[1] == summary.columns[1].max.map(\.bitPattern))
        #expect(columns.words[2] == nil)
        // Retention drops it with the buckets.
        try store.expire(now: day + 200 * 86_400_000)
        #expect(try store.summaryColumns(day: day / 86_400_000, family: 1, fields: [(0, .increase)]) == nil && store.summarizedDays.isEmpty)
    }

    @Test func daySummariesRoundTripAndRefuseCorruption() throws {
        var summary = DaySummary(day: 19_000, family: 1, metrics: [0, 2])
        var hour = BucketStats()
        hour.count = 3; hour.increase = .max; hour.integral = .pi; hour.covered = 3_600_000; hour.max = 7; hour.sum = 12
        summary.add(EntityID(7), hours: [[hour, hour], [], [BucketStats()]])
        summary.add(EntityID(9), hours: [[], [], []])
        let bytes = summary.encoded()
        let decoded = try DaySummary(day: 19_000, decoding: bytes)
        #expect(decoded == summary)
        #expect(decoded.columns[0].increase[0] == UInt64.max &+ UInt64.max)
        #expect(decoded.columns[1].max[1] == -.infinity)
        for cut in [0, 4, 12, bytes.count - 1] {
            #expect(throws: StoreError.self) { try DaySummary(day: 19_000, decoding: Array(bytes.prefix(cut))) }
        }
        #expect(throws: StoreError.self) { try DaySummary(day: 19_000, decoding: bytes + [0]) }
    }

    /// A bucket longer than a day that straddles stored days (raw dropped) and raw days, or
    /// a grid of centuries around a few days of data: each bucket holds all its samples,
    /// exactly what its hours add up to.
    @Test func bucketsAcrossStoredAndRawDaysAndCenturies() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path) { $0.rawRetention = 2 * 86_400_000 }
        // Three days and a bit, every 60 s.
        let ids = try fill(store, entities: 1, from: day + 7_000, count: 3 * 1440 + 100, step: 60_000)
        try store.maintain(now: day + 3 * 86_400_000 + 100 * 60_000)
        // The first day's raw samples go: it is answered from its hourly buckets, the rest from raw.
        try store.expire(now: day + 3 * 86_400_000 + 1)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 86_400_000).isEmpty)
        #expect(!(try store.samples(ids, metric: 0, from: day + 86_400_000, to: day + 2 * 86_400_000)).isEmpty)
        let gap = store.configuration.gapLimit
        let hours = try store.buckets(ids, metric: 0, grid: BucketGrid(start: day, step: 3_600_000, count: 72, gapLimit: gap))[ids[0]]!
        let hourly = hours.reduce(UInt64(0)) { $0 + $1.increase }
        #expect(hourly > 0)
        // One bucket of three days: stored day 1, raw days 2 and 3.
        let whole = try store.buckets(ids, metric: 0, grid: BucketGrid(start: day, step: 3 * 86_400_000, count: 1, gapLimit: gap))[ids[0]]!
        #expect(whole[0].increase == hourly)
        // Two-day buckets starting a day early: the second straddles stored and raw days.
        let twoDays = try store.buckets(ids, metric: 0, grid: BucketGrid(start: day - 86_400_000, step: 2 * 86_400_000, count: 2, gapLimit: gap))[ids[0]]!
        #expect(twoDays[0].increase == hours.prefix(24).reduce(0) { $0 + $1.increase })
        #expect(twoDays[1].increase == hours.dropFirst(24).prefix(48).reduce(0) { $0 + $1.increase })
        // A grid from year 1 with a bucket of about 114 years: the same total, at once.
        let start = -62_135_596_800_000 as Int64
        let centuries = try store.buckets(ids, metric: 0, grid: BucketGrid(start: start, step: 3_599_996_400_000, count: 20, gapLimit: gap))[ids[0]]!
        #expect(centuries.reduce(UInt64(0)) { $0 + $1.increase } == hourly + (try store.buckets(ids, metric: 0, grid: BucketGrid(start: day + 3 * 86_400_000, step: 3_600_000, count: 3, gapLimit: gap))[ids[0]]!.reduce(0) { $0 + $1.increase }))
    }

    @Test func retentionDropsWholeDaysAndForgetsEntities() throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path) {
            $0.rawRetention = 86_400_000
            $0.bucketRetention = 2 * 86_400_000
        }
        let ids = try fill(store, entities: 1, from: day, count: 100)
        try store.maintain(now: day + 86_400_000 + 3_600_000)
        #expect(store.counters.rollups == 1)
        try store.maintain(now: day + 2 * 86_400_000 + 3_600_000)
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 86_400_000).isEmpty)
        #expect(!(try store.buckets(ids, metric: 0, grid: BucketGrid(start: day, step: 3_600_000, count: 24, gapLimit: 300_000)).isEmpty))
        try store.maintain(now: day + 5 * 86_400_000)
        #expect(store.lookup(family: 1, key: "pod-0/main") == nil)
    }

    /// A seal moves the head a few entities at a time: readers and writers between two
    /// holds of the lock see every entity's rows exactly once (in the head, in the seal's
    /// hands, or sealed), and the seal leaves them all in chunks.
    @Test func readersAndWritersBetweenTheSealsSlices() async throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path) { $0.sealSlice = 7 }
        // 31 rows each: 30 in the first 5-minute segment, one in the next.
        let ids = try fill(store, entities: 100, from: day, count: 31)
        final class Flag: Sendable { let raised = Mutex(false) }
        let sealed = Flag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try store.maintain(now: self.day + 330_000)
                sealed.raised.withLock { $0 = true }
            }
            group.addTask {
                var reads = 0
                repeat {
                    let result = try store.samples(ids, metric: 0, from: self.day, to: self.day + 3_600_000)
                    for id in ids {
                        let times = result[id]?.map(\.time) ?? []
                        #expect(times.count >= 31 && Set(times).count == times.count, "entity \(id.raw): \(times.count) rows, \(Set(times).count) distinct")
                    }
                    reads += 1
                } while !sealed.raised.withLock({ $0 }) || reads < 2
            }
            group.addTask {
                // Appends of the next segment go on meanwhile (each entity's times rise).
                for i in 0..<20 { try store.append(ids.map { ($0, row(self.day + 310_000 + Int64(i) * 100, 1, 1)) }) }
            }
            try await group.waitForAll()
        }
        #expect(store.counters.seals == 1 && store.counters.chunksSealed == 100)
        let all = try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)
        #expect(ids.allSatisfy { all[$0]?.count == 51 })
        #expect(store.headFootprint().series == 100 * 3, "the next segment's rows stay in the head")
    }

    @Test func readersDuringWrites() async throws {
        let path = temporaryStorePath()
        defer { removeStore(path) }
        let store = try open(path)
        let ids = try (0..<50).map { try store.register(family: 1, key: "e\($0)", labels: { [:] }) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for i in 0..<400 {
                    let t = self.day + Int64(i) * 5_000
                    try store.append(ids.map { ($0, row(t, UInt64(i) * 100, 5)) })
                    if i % 40 == 0 { try store.maintain(now: t) }
                }
            }
            group.addTask {
                for _ in 0..<100 {
                    let result = try store.samples(ids, metric: 0, from: self.day, to: self.day + 3_600_000)
                    // Whatever the moment, every entity's points are in order and none twice.
                    for list in result.values { #expect(zip(list, list.dropFirst()).allSatisfy { $0.time < $1.time }) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.samples(ids, metric: 0, from: day, to: day + 3_600_000)[ids[7]]?.count == 400)
    }
}
