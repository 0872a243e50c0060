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

/// One table of points: one resolution, one UTC day. Retention and the size bound drop
/// whole tables, which frees their pages at once and never fragments the rest.
struct Partition: Hashable, Comparable, Sendable {
    var resolution: Resolution
    var day: Int64

    var table: String { "p_\(resolution.seconds)_\(day)" }
    var start: Int64 { day * 86400 }
    var end: Int64 { (day + 1) * 86400 }

    init(_ resolution: Resolution, day: Int64) {
        self.resolution = resolution
        self.day = day
    }

    init(_ resolution: Resolution, time: Int64) {
        self.init(resolution, day: time >= 0 ? time / 86400 : (time - 86399) / 86400)
    }

    init?(table: String) {
        let parts = table.split(separator: "_")
        guard parts.count == 3, parts[0] == "p", let seconds = Int64(parts[1]), let day = Int64(parts[2]),
              let resolution = Resolution.allCases.first(where: { $0.seconds == seconds }) else { return nil }
        self.init(resolution, day: day)
    }

    static func < (a: Partition, b: Partition) -> Bool { (a.day, a.resolution.seconds) < (b.day, b.resolution.seconds) }
}

/// The history: a SQLite file (WAL, so queries never wait for writes) holding raw samples
/// and 1m/5m/15m rollups that average them, plus the cumulative CPU counters that make usage
/// over any span exact. Points live in one table per resolution and UTC day. Rollups of the
/// newest buckets are recomputed by every `maintain()`, so they are at most one
/// maintenance period behind.
public final class HistoryStore: Sendable {
    let pool: DatabasePool
    public let configuration: HistoryConfiguration
    let logger: Logger
    private let seriesIDs = Mutex<[SeriesKind: [String: Int64]]>([.node: [:], .pod: [:]])
    private let partitions = Mutex<Set<Partition>>([])
    private let written = Counter(label: "clustermon_history_samples_written_total")
    private let dropped = Counter(label: "clustermon_history_partitions_dropped_total")
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
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
        let (known, tables) = try pool.read { db in
            (try Row.fetchAll(db, sql: "SELECT id, kind, key FROM series"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'p\\_%' ESCAPE '\\'"))
        }
        seriesIDs.withLock { ids in
            for row in known {
                if let kind = SeriesKind(rawValue: row["kind"]) { ids[kind, default: [:]][row["key"]] = row["id"] }
            }
        }
        partitions.withLock { $0 = Set(tables.compactMap(Partition.init(table:))) }
    }

    /// Creates a partition's table if it does not exist yet.
    private func ensure(_ partition: Partition, _ db: Database) throws {
        if partitions.withLock({ $0.contains(partition) }) { return }
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS \(partition.table)(
                series INTEGER NOT NULL, t INTEGER NOT NULL, cpu REAL NOT NULL, mem REAL NOT NULL, disk REAL NOT NULL,
                counter INTEGER, n INTEGER NOT NULL, PRIMARY KEY(series, t)) WITHOUT ROWID
            """)
        partitions.withLock { _ = $0.insert(partition) }
    }

    func partitions(_ resolution: Resolution, from start: Int64, to end: Int64) -> [Partition] {
        let first = Partition(resolution, time: start).day, last = Partition(resolution, time: end).day
        return partitions.withLock { $0.filter { $0.resolution == resolution && $0.day >= first && $0.day <= last } }.sorted()
    }

    /// Stores one refresh's samples (Unix seconds) in one transaction.
    public func record(time: Int64, nodes: [HistorySample], pods: [HistorySample]) async throws {
        let start = ContinuousClock.now
        let partition = Partition(.raw, time: time)
        try await pool.write { db in
            try self.ensure(partition, db)
            let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(partition.table)(series, t, cpu, mem, disk, counter, n) VALUES(?, ?, ?, ?, ?, ?, 1)")
            for (kind, samples) in [(SeriesKind.node, nodes), (.pod, pods)] {
                for sample in samples {
                    let id = try self.seriesID(db, kind: kind, key: sample.key)
                    try insert.execute(arguments: [id, time, sample.cpu, sample.memory, sample.disk, sample.cpuCounter.map { Int64(bitPattern: $0) }])
                }
            }
        }
        written.increment(by: nodes.count + pods.count)
        writeTimer.recordSeconds(Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6)
    }

    private func seriesID(_ db: Database, kind: SeriesKind, key: String) throws -> Int64 {
        if let id = seriesIDs.withLock({ $0[kind]?[key] }) { return id }
        try db.execute(sql: "INSERT OR IGNORE INTO series(kind, key) VALUES(?, ?)", arguments: [kind.rawValue, key])
        let id = try Int64.fetchOne(db, sql: "SELECT id FROM series WHERE kind = ? AND key = ?", arguments: [kind.rawValue, key])!
        seriesIDs.withLock { $0[kind, default: [:]][key] = id }
        return id
    }

    /// Whether a series has been recorded (and not yet expired).
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
        let tables = partitions(resolution, from: from, to: end)
        if tables.isEmpty { return [:] }
        return try await pool.read { db in
            let statements = try tables.map {
                try db.cachedStatement(sql: "SELECT t, cpu, mem, disk, counter FROM \($0.table) WHERE series = ? AND t >= ? AND t <= ? ORDER BY t")
            }
            var result: [String: [HistoryPoint]] = [:]
            for (key, id) in series {
                var points: [HistoryPoint] = []
                for statement in statements {
                    let rows = try Row.fetchCursor(statement, arguments: [id, from, end])
                    while let row = try rows.next() {
                        let counter: Int64? = row["counter"]
                        points.append(HistoryPoint(time: row["t"], cpu: row["cpu"], memory: row["mem"], disk: row["disk"], cpuCounter: counter.map { UInt64(bitPattern: $0) }))
                    }
                }
                if !points.isEmpty { result[key] = points }
            }
            return result
        }
    }

    /// Rolls up the newest buckets, enforces retention and the size bound. Runs in short
    /// write transactions: queries (readers of the WAL) never wait for it.
    public func maintain(now: Int64) async throws {
        for resolution in [Resolution.oneMinute, .fiveMinutes, .fifteenMinutes] {
            try await rollUp(resolution, now: now)
        }
        try await expire(resolutions: [.raw], before: now - configuration.rawRetention.components.seconds)
        try await expire(resolutions: [.oneMinute, .fiveMinutes, .fifteenMinutes], before: now - configuration.retention.components.seconds)
        try await enforceSize()
    }

    func rollUp(_ resolution: Resolution, now: Int64) async throws {
        guard let source = resolution.source else { return }
        let width = resolution.seconds
        let key = "rollup.\(resolution.rawValue)"
        try await pool.write { db in
            // From the last open bucket on: the open bucket is recomputed until it closes.
            let watermark = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) ?? 0
            for input in self.partitions(source, from: watermark, to: Int64.max / 2) {
                let output = Partition(resolution, day: input.day)  // 86,400 is a multiple of every bucket width
                try self.ensure(output, db)
                try db.execute(sql: """
                    INSERT OR REPLACE INTO \(output.table)(series, t, cpu, mem, disk, counter, n)
                    SELECT x.series, (x.t / ?) * ?, sum(x.cpu * x.n) / sum(x.n), sum(x.mem * x.n) / sum(x.n), sum(x.disk * x.n) / sum(x.n),
                           max(x.counter), sum(x.n)
                    FROM series s CROSS JOIN \(input.table) x
                    WHERE x.series = s.id AND x.t >= ?
                    GROUP BY x.series, x.t / ?
                    """, arguments: [width, width, watermark, width])
            }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", arguments: [key, now / width * width])
        }
    }

    /// Drops the partitions entirely older than `cutoff` and deletes the older points of the
    /// one that straddles it.
    func expire(resolutions: [Resolution], before cutoff: Int64) async throws {
        let affected = partitions.withLock { $0.filter { resolutions.contains($0.resolution) && $0.start < cutoff } }
        if affected.isEmpty { return }
        try await pool.write { db in
            for partition in affected {
                if partition.end <= cutoff {
                    try db.execute(sql: "DROP TABLE IF EXISTS \(partition.table)")
                    self.partitions.withLock { _ = $0.remove(partition) }
                    self.dropped.increment()
                } else {
                    try db.execute(sql: "DELETE FROM \(partition.table) WHERE series IN (SELECT id FROM series) AND t < ?", arguments: [cutoff])
                }
            }
        }
        try await forgetEmptySeries()
    }

    /// Series with no point left are forgotten (pods that are long gone).
    func forgetEmptySeries() async throws {
        let tables = partitions.withLock { $0.map(\.table) }
        let gone = try await pool.write { db -> [Row] in
            let missing = tables.map { " AND NOT EXISTS (SELECT 1 FROM \($0) x WHERE x.series = s.id)" }.joined()
            let rows = try Row.fetchAll(db, sql: "SELECT id, kind, key FROM series s WHERE 1" + missing)
            if !rows.isEmpty {
                try db.execute(sql: "DELETE FROM series WHERE id IN (SELECT value FROM json_each(?))",
                               arguments: ["[" + rows.map { "\($0["id"] as Int64)" }.joined(separator: ",") + "]"])
            }
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

    /// Over the size bound: the oldest day of points goes (finest resolution first), until
    /// the database fits. The newest partition of each resolution is never dropped.
    func enforceSize() async throws {
        var size = try await liveBytes()
        sizeGauge.record(size)
        while size > configuration.maxBytes {
            let candidates = partitions.withLock { all in
                all.filter { p in all.contains { $0.resolution == p.resolution && $0.day > p.day } }
            }
            guard let oldest = candidates.min() else { break }
            logger.warning("history over its size bound; dropping its oldest day", metadata: [
                "table": "\(oldest.table)", "bytes": "\(size)", "limit": "\(configuration.maxBytes)"])
            try await pool.write { db in try db.execute(sql: "DROP TABLE IF EXISTS \(oldest.table)") }
            partitions.withLock { _ = $0.remove(oldest) }
            dropped.increment()
            size = try await liveBytes()
            sizeGauge.record(size)
        }
        try await forgetEmptySeries()
    }
}
