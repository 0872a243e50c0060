import Foundation
import GRDB
import Logging
import Metrics
import Synchronization

/// How finely a history query's points are spaced.
public enum Resolution: String, Sendable, CaseIterable {
    case raw, oneMinute = "1m", fiveMinutes = "5m", fifteenMinutes = "15m"

    /// The bucket width in seconds (0 for raw points).
    public var seconds: Int64 {
        switch self {
        case .raw: 0
        case .oneMinute: 60
        case .fiveMinutes: 300
        case .fifteenMinutes: 900
        }
    }

    /// The Cluster Monitor's choice by span: <=1h raw, <=6h 1m, <=24h 5m, else 15m.
    public static func automatic(span: Int64) -> Resolution {
        span <= 3600 ? .raw : span <= 6 * 3600 ? .oneMinute : span <= 24 * 3600 ? .fiveMinutes : .fifteenMinutes
    }

    /// Where a rollup is computed from.
    var source: Resolution? {
        switch self {
        case .raw: nil
        case .oneMinute: .raw
        case .fiveMinutes: .oneMinute
        case .fifteenMinutes: .fiveMinutes
        }
    }
}

/// Node series are keyed by node name, pod series by `<namespace>/<pod>`.
public enum SeriesKind: Int, Sendable { case node = 0, pod = 1 }

/// One point of a series: the average of the samples its bucket holds.
public struct HistoryPoint: Sendable, Equatable {
    public var time: Int64
    public var cpu: Double
    public var memory: Double
    public var disk: Double
    /// The last cumulative CPU counter in the bucket (core-nanoseconds; busy time for nodes).
    public var cpuCounter: UInt64?
}

/// Which series a query reads.
public enum SeriesSelection: Sendable {
    case all
    case keys([String])
    /// Keys starting with this text (`<namespace>/` selects a namespace's pods).
    case prefix(String)
    /// Keys the predicate admits.
    case matching(@Sendable (String) -> Bool)
}

public struct HistoryConfiguration: Sendable {
    /// How long raw points are kept.
    public var rawRetention: Duration = .seconds(24 * 3600)
    /// How long rollups are kept.
    public var retention: Duration = .seconds(14 * 24 * 3600)
    /// The database's live size is kept under this: beyond it the oldest points go first.
    public var maxBytes: Int64 = 8 << 30
    public init() {}
}

/// The history: a SQLite file (WAL, so queries never wait for writes) holding raw samples
/// and 1m/5m/15m rollups that average them, plus the cumulative CPU counters that make usage
/// over any span exact. Rollups of the newest buckets are recomputed by every `maintain()`,
/// so they are at most one maintenance period behind.
public final class HistoryStore: Sendable {
    let pool: DatabasePool
    public let configuration: HistoryConfiguration
    let logger: Logger
    private let seriesIDs = Mutex<[SeriesKind: [String: Int64]]>([.node: [:], .pod: [:]])
    private let written = Counter(label: "clustermon_history_samples_written_total")
    private let deleted = Counter(label: "clustermon_history_samples_deleted_total")
    private let sizeGauge = Gauge(label: "clustermon_history_bytes")
    private let writeTimer = Timer(label: "clustermon_history_write_seconds")

    public init(path: String, configuration: HistoryConfiguration = .init(), logger: Logger) throws {
        var config = Configuration()
        config.label = "clustermon-history"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        self.configuration = configuration
        self.logger = logger
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, key TEXT NOT NULL, UNIQUE(kind, key));
                CREATE TABLE IF NOT EXISTS samples(
                    res INTEGER NOT NULL, series INTEGER NOT NULL, t INTEGER NOT NULL,
                    cpu REAL NOT NULL, mem REAL NOT NULL, disk REAL NOT NULL, counter INTEGER, n INTEGER NOT NULL,
                    PRIMARY KEY(res, series, t)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
        let known = try pool.read { db in try Row.fetchAll(db, sql: "SELECT id, kind, key FROM series") }
        seriesIDs.withLock { ids in
            for row in known {
                if let kind = SeriesKind(rawValue: row["kind"]) { ids[kind, default: [:]][row["key"]] = row["id"] }
            }
        }
    }

    /// Stores one refresh's samples (Unix seconds) in one transaction.
    public func record(time: Int64, nodes: [HistorySample], pods: [HistorySample]) async throws {
        let start = ContinuousClock.now
        try await pool.write { db in
            let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO samples(res, series, t, cpu, mem, disk, counter, n) VALUES(0, ?, ?, ?, ?, ?, ?, 1)")
            for (kind, samples) in [(SeriesKind.node, nodes), (.pod, pods)] {
                for sample in samples {
                    let id = try self.seriesID(db, kind: kind, key: sample.key)
                    try insert.execute(arguments: [id, time, sample.cpu, sample.memory, sample.disk, sample.cpuCounter.map { Int64(bitPattern: $0) }])
                }
            }
        }
        written.increment(by: nodes.count + pods.count)
        writeTimer.recordSeconds(Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000)
    }

    private func seriesID(_ db: Database, kind: SeriesKind, key: String) throws -> Int64 {
        if let id = seriesIDs.withLock({ $0[kind]?[key] }) { return id }
        try db.execute(sql: "INSERT OR IGNORE INTO series(kind, key) VALUES(?, ?)", arguments: [kind.rawValue, key])
        let id = try Int64.fetchOne(db, sql: "SELECT id FROM series WHERE kind = ? AND key = ?", arguments: [kind.rawValue, key])!
        seriesIDs.withLock { $0[kind, default: [:]][key] = id }
        return id
    }

    /// Whether a series has ever been recorded (and not yet expired).
    public func knows(_ kind: SeriesKind, key: String) -> Bool {
        seriesIDs.withLock { $0[kind]?[key] != nil }
    }

    /// Number of series a selection names.
    public func seriesCount(_ kind: SeriesKind, _ selection: SeriesSelection) -> Int {
        selectedSeries(kind, selection).count
    }

    private func selectedSeries(_ kind: SeriesKind, _ selection: SeriesSelection) -> [(key: String, id: Int64)] {
        seriesIDs.withLock { ids in
            let all = ids[kind] ?? [:]
            switch selection {
            case .all: return all.map { ($0.key, $0.value) }
            case .keys(let keys): return keys.compactMap { key in all[key].map { (key, $0) } }
            case .prefix(let prefix): return all.filter { $0.key.hasPrefix(prefix) }.map { ($0.key, $0.value) }
            case .matching(let admits): return all.filter { admits($0.key) }.map { ($0.key, $0.value) }
            }
        }
    }

    /// The points of the selected series in [start, end] at a resolution; series without a
    /// point in the range are left out.
    public func query(_ kind: SeriesKind, _ selection: SeriesSelection, start: Int64, end: Int64, resolution: Resolution) async throws -> [String: [HistoryPoint]] {
        let series = selectedSeries(kind, selection)
        if series.isEmpty { return [:] }
        let from = resolution == .raw ? start : start / resolution.seconds * resolution.seconds
        return try await pool.read { db in
            let statement = try db.cachedStatement(sql: "SELECT t, cpu, mem, disk, counter FROM samples WHERE res = ? AND series = ? AND t >= ? AND t <= ? ORDER BY t")
            var result: [String: [HistoryPoint]] = [:]
            for (key, id) in series {
                let rows = try Row.fetchCursor(statement, arguments: [resolution.seconds, id, from, end])
                var points: [HistoryPoint] = []
                while let row = try rows.next() {
                    let counter: Int64? = row["counter"]
                    points.append(HistoryPoint(time: row["t"], cpu: row["cpu"], memory: row["mem"], disk: row["disk"], cpuCounter: counter.map { UInt64(bitPattern: $0) }))
                }
                if !points.isEmpty { result[key] = points }
            }
            return result
        }
    }

    /// Rolls up the newest buckets, enforces retention and the size bound. Runs in its own
    /// short write transactions: queries (readers of the WAL) never wait for it.
    public func maintain(now: Int64) async throws {
        for resolution in [Resolution.oneMinute, .fiveMinutes, .fifteenMinutes] {
            try await rollUp(resolution, now: now)
        }
        let rawCutoff = now - configuration.rawRetention.components.seconds
        let cutoff = now - configuration.retention.components.seconds
        try await delete(resolutions: [.raw], before: rawCutoff)
        try await delete(resolutions: [.oneMinute, .fiveMinutes, .fifteenMinutes], before: cutoff)
        try await enforceSize()
    }

    func rollUp(_ resolution: Resolution, now: Int64) async throws {
        guard let source = resolution.source else { return }
        let width = resolution.seconds
        let key = "rollup.\(resolution.rawValue)"
        try await pool.write { db in
            let watermark = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
            // Buckets from the last open one on: the open bucket is recomputed until it closes.
            try db.execute(sql: """
                INSERT OR REPLACE INTO samples(res, series, t, cpu, mem, disk, counter, n)
                SELECT ?, x.series, (x.t / ?) * ?, sum(x.cpu * x.n) / sum(x.n), sum(x.mem * x.n) / sum(x.n), sum(x.disk * x.n) / sum(x.n),
                       max(x.counter), sum(x.n)
                FROM series s CROSS JOIN samples x
                WHERE x.res = ? AND x.series = s.id AND x.t >= ?
                GROUP BY x.series, x.t / ?
                """, arguments: [width, width, width, source.seconds, watermark, width])
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", arguments: [key, now / width * width])
        }
    }

    func delete(resolutions: [Resolution], before cutoff: Int64) async throws {
        let count = try await pool.write { db -> Int in
            var total = 0
            for resolution in resolutions {
                try db.execute(sql: "DELETE FROM samples WHERE res = ? AND series IN (SELECT id FROM series) AND t < ?", arguments: [resolution.seconds, cutoff])
                total += db.changesCount
            }
            return total
        }
        if count > 0 {
            deleted.increment(by: count)
            try await forgetEmptySeries()
        }
    }

    /// Series with no point left are forgotten (pods that are long gone).
    func forgetEmptySeries() async throws {
        let gone = try await pool.write { db -> [Row] in
            let rows = try Row.fetchAll(db, sql: "SELECT id, kind, key FROM series s WHERE NOT EXISTS (SELECT 1 FROM samples x WHERE x.res IN (0, 60, 300, 900) AND x.series = s.id)")
            try db.execute(sql: "DELETE FROM series WHERE id IN (SELECT value FROM json_each(?))", arguments: ["[" + rows.map { "\($0["id"] as Int64)" }.joined(separator: ",") + "]"])
            return rows
        }
        seriesIDs.withLock { ids in
            for row in gone { if let kind = SeriesKind(rawValue: row["kind"]) { ids[kind]?[row["key"]] = nil } }
        }
    }

    /// The bytes the database's pages hold (free pages excluded: SQLite reuses them).
    public func liveBytes() async throws -> Int64 {
        try await pool.read { db in
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            return (pages - free) * pageSize
        }
    }

    /// Over the size bound: the oldest hour of the finest resolution that has points goes,
    /// until the database fits.
    func enforceSize() async throws {
        var size = try await liveBytes()
        sizeGauge.record(size)
        var rounds = 0
        while size > configuration.maxBytes, rounds < 100 {
            rounds += 1
            var removed = false
            for resolution in Resolution.allCases {
                let oldest = try await pool.read { db in
                    try Int64.fetchOne(db, sql: "SELECT min(t) FROM series s CROSS JOIN samples x WHERE x.res = ? AND x.series = s.id", arguments: [resolution.seconds])
                }
                guard let oldest else { continue }
                logger.warning("history over its size bound; deleting the oldest hour", metadata: [
                    "resolution": "\(resolution.rawValue)", "bytes": "\(size)", "limit": "\(configuration.maxBytes)"])
                try await delete(resolutions: [resolution], before: oldest + 3600)
                removed = true
                break
            }
            if !removed { break }
            size = try await liveBytes()
            sizeGauge.record(size)
        }
    }
}
