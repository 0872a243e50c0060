import Foundation
import Logging
import Testing
@testable import Aggregator

private func temporaryDatabase() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-history-\(UUID().uuidString).sqlite").path
}

@Suite struct HistoryStoreTests {
    let logger = Logger(label: "test")

    @Test func recordsQueriesAndSurvivesReopening() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let store = try HistoryStore(path: path, logger: logger)
            for i in 0..<12 {
                let t = Int64(1_700_000_000 + i * 5)
                try await store.record(time: t, nodes: [HistorySample(key: "n1", cpu: Double(i), memory: 50, disk: 10)],
                                       pods: [HistorySample(key: "team/web", cpu: 1e8, memory: 1000, disk: 5, cpuCounter: UInt64(i) * 1_000_000_000),
                                              HistorySample(key: "other/db", cpu: 2e8, memory: 2000, disk: 6)])
            }
        }
        let store = try HistoryStore(path: path, logger: logger)
        #expect(store.knows(.node, key: "n1"))
        #expect(!store.knows(.node, key: "n2"))
        let raw = try await store.query(.node, .all, start: 1_700_000_000, end: 1_700_000_100, resolution: .raw)
        #expect(raw["n1"]?.count == 12)
        #expect(raw["n1"]?.last?.cpu == 11)
        let window = try await store.query(.node, .keys(["n1"]), start: 1_700_000_010, end: 1_700_000_020, resolution: .raw)
        #expect(window["n1"]?.map(\.time) == [1_700_000_010, 1_700_000_015, 1_700_000_020])
        let team = try await store.query(.pod, .prefix("team/"), start: 1_700_000_000, end: 1_700_000_100, resolution: .raw)
        #expect(Array(team.keys) == ["team/web"])
        #expect(team["team/web"]?.last?.cpuCounter == 11_000_000_000)
    }

    /// Buckets average the points they hold; coarser rollups weigh by point count.
    @Test func rollupsAverageTheirBuckets() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try HistoryStore(path: path, logger: logger)
        let base: Int64 = 1_700_000_100 / 900 * 900
        // Two minutes: cpu 10 for the first minute's 12 points, 20 for the second's 12.
        for i in 0..<24 {
            try await store.record(time: base + Int64(i * 5), nodes: [HistorySample(key: "n1", cpu: i < 12 ? 10 : 20, memory: 1, disk: 1)], pods: [])
        }
        try await store.maintain(now: base + 120)
        let minutes = try await store.query(.node, .all, start: base, end: base + 600, resolution: .oneMinute)
        #expect(minutes["n1"]?.map(\.time) == [base, base + 60])
        #expect(minutes["n1"]?.map(\.cpu) == [10, 20])
        let five = try await store.query(.node, .all, start: base, end: base + 600, resolution: .fiveMinutes)
        #expect(five["n1"]?.map(\.cpu) == [15])
        let fifteen = try await store.query(.node, .all, start: base, end: base + 900, resolution: .fifteenMinutes)
        #expect(fifteen["n1"]?.map(\.cpu) == [15])
        // The open bucket is recomputed as points arrive.
        for i in 24..<36 {
            try await store.record(time: base + Int64(i * 5), nodes: [HistorySample(key: "n1", cpu: 30, memory: 1, disk: 1)], pods: [])
        }
        try await store.maintain(now: base + 180)
        let later = try await store.query(.node, .all, start: base, end: base + 900, resolution: .fiveMinutes)
        #expect(later["n1"]?.map(\.cpu) == [20])
    }

    @Test func retentionDeletesOldPointsAndForgetsEmptySeries() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = HistoryConfiguration()
        configuration.rawRetention = .seconds(3600)
        configuration.retention = .seconds(7200)
        let store = try HistoryStore(path: path, configuration: configuration, logger: logger)
        let now: Int64 = 1_700_000_000
        try await store.record(time: now - 5000, nodes: [HistorySample(key: "old", cpu: 1, memory: 1, disk: 1)], pods: [])
        try await store.record(time: now - 100, nodes: [HistorySample(key: "new", cpu: 1, memory: 1, disk: 1)], pods: [])
        try await store.maintain(now: now)
        let raw = try await store.query(.node, .all, start: now - 10_000, end: now, resolution: .raw)
        #expect(Array(raw.keys) == ["new"])
        // "old" still has its rollup (kept 2 h); a series unseen for the retention is forgotten.
        #expect(store.knows(.node, key: "old"))
        let rollup = try await store.query(.node, .all, start: now - 10_000, end: now, resolution: .oneMinute)
        #expect(rollup["old"]?.count == 1)
        try await store.maintain(now: now + 10_000)
        #expect(!store.knows(.node, key: "old"))
        #expect(!store.knows(.node, key: "new"))
        #expect(try await store.query(.node, .all, start: now - 20_000, end: now + 10_000, resolution: .oneMinute).isEmpty)
    }

    @Test func sizeBoundDropsOldestDaysFirst() async throws {
        let path = temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let now: Int64 = 1_700_000_000 / 86400 * 86400 + 3600
        let pods = (0..<2000).map { HistorySample(key: "ns/pod-\($0)", cpu: 1, memory: 1, disk: 1) }
        var full: Int64 = 0
        do {
            let unbounded = try HistoryStore(path: path, logger: logger)
            for day in 0..<5 {
                try await unbounded.record(time: now - Int64((4 - day) * 86400), nodes: [], pods: pods)
            }
            full = try await unbounded.liveBytes()
        }
        // Reopened with a bound of 60% of what it holds.
        var configuration = HistoryConfiguration()
        configuration.maxBytes = full * 6 / 10
        let store = try HistoryStore(path: path, configuration: configuration, logger: logger)
        try await store.enforceSize()
        #expect(try await store.liveBytes() <= configuration.maxBytes)
        let left = try await store.query(.pod, .keys(["ns/pod-0"]), start: now - 5 * 86400, end: now, resolution: .raw)
        // The newest points stay, the oldest went.
        #expect(left["ns/pod-0"]?.last?.time == now)
        #expect(left["ns/pod-0"]?.first?.time != now - 4 * 86400)
    }
}
