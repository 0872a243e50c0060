import Foundation
import GRDB
import GRDBSQLite
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
public enum SeriesKind: Int, Sendable {
    case node = 0, pod = 1
    /// A dependency-graph edge keyed by `EdgeKey.id`: cpu = bytes/s client -> server,
    /// mem = bytes/s server -> client, disk = connections opened/s, counter = connections
    /// open (rollups keep the largest).
    case edge = 2
}

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
    /// Pod series of the namespaces the predicate admits (asked once per namespace).
    case namespaces(@Sendable (String) -> Bool)
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
/// over any span exact.
///
/// Points live in one table per resolution and UTC day, ordered by (time, series): a refresh
/// appends its rows at the end of one table (a series-major order would touch one page per
/// series per refresh and write the whole table's pages again), retention and the size
/// bound drop whole tables, and a query seeks (time, series) pairs from the times recorded
/// (kept in a small table and in memory) and the series it asks for. Rollups of the newest
/// buckets are recomputed by every `maintain()`, so they are at most one maintenance period
/// behind.
public final class HistoryStore: Sendable {
    let pool: DatabasePool
    public let configuration: HistoryConfiguration
    let logger: Logger
    private let seriesIDs = Mutex<[SeriesKind: [String: Int64]]>([.node: [:], .pod: [:], .edge: [:]])
    /// Pod series by namespace (the key's part before `/`).
    private let podsByNamespace = Mutex<[Substring: [(key: String, id: Int64)]]>([:])
    /// When each series was last recorded (Unix seconds); series unseen for longer than the
    /// retention are forgotten.
    private let lastSeen = Mutex<[Int64: Int64]>([:])
    /// The distinct times of each partition, ascending.
    private let times = Mutex<[Partition: [Int64]]>([:])
    private let written = Counter(label: "clustermon_history_samples_written_total")
    private let dropped = Counter(label: "clustermon_history_partitions_dropped_total")
    private let sizeGauge = Gauge(label: "clustermon_history_bytes")
    private let writeTimer = Timer(label: "clustermon_history_write_seconds")

    public init(path: String, configuration: HistoryConfiguration = .init(), logger: Logger, now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
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
                CREATE TABLE IF NOT EXISTS times(res INTEGER NOT NULL, t INTEGER NOT NULL, PRIMARY KEY(res, t)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
        let (known, recorded, tables) = try pool.read { db in
            (try Row.fetchAll(db, sql: "SELECT id, kind, key FROM series"),
             try Row.fetchAll(db, sql: "SELECT res, t FROM times ORDER BY res, t"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'p\\_%' ESCAPE '\\'"))
        }
        seriesIDs.withLock { ids in
            for row in known {
                if let kind = SeriesKind(rawValue: row["kind"]) { ids[kind, default: [:]][row["key"]] = row["id"] }
            }
        }
        podsByNamespace.withLock { index in
            for row in known where (row["kind"] as Int) == SeriesKind.pod.rawValue {
                let key: String = row["key"]
                index[Self.namespace(of: key), default: []].append((key, row["id"]))
            }
        }
        // Unknown until recorded again: counted from now, so kept for a retention at least.
        lastSeen.withLock { seen in for row in known { seen[row["id"]] = now } }
        let existing = Set(tables.compactMap(Partition.init(table:)))
        times.withLock { times in
            for partition in existing { times[partition] = [] }
            for row in recorded {
                guard let resolution = Resolution.allCases.first(where: { $0.seconds == row["res"] as Int64 }) else { continue }
                let partition = Partition(resolution, time: row["t"])
                if existing.contains(partition) { times[partition, default: []].append(row["t"]) }
            }
        }
    }

    /// Creates a partition's table if it does not exist yet.
    private func ensure(_ partition: Partition, _ db: Database) throws {
        if times.withLock({ $0[partition] != nil }) { return }
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS \(partition.table)(
                t INTEGER NOT NULL, series INTEGER NOT NULL, cpu REAL NOT NULL, mem REAL NOT NULL, disk REAL NOT NULL,
                counter INTEGER, n INTEGER NOT NULL, PRIMARY KEY(t, series)) WITHOUT ROWID
            """)
        times.withLock { if $0[partition] == nil { $0[partition] = [] } }
    }

    /// Records that a partition holds points at `time`.
    private func note(_ time: Int64, in partition: Partition, _ db: Database) throws {
        let known = times.withLock { $0[partition]?.last == time || ($0[partition]?.contains(time) ?? false) }
        if known { return }
        try db.execute(sql: "INSERT OR IGNORE INTO times(res, t) VALUES(?, ?)", arguments: [partition.resolution.seconds, time])
        times.withLock { times in
            var list = times[partition] ?? []
            if let last = list.last, last > time {
                list.insert(time, at: list.firstIndex { $0 > time } ?? list.count)
            } else {
                list.append(time)
            }
            times[partition] = list
        }
    }

    var partitions: Set<Partition> { times.withLock { Set($0.keys) } }

    func partitions(_ resolution: Resolution, from start: Int64, to end: Int64) -> [Partition] {
        let first = Partition(resolution, time: start).day, last = Partition(resolution, time: end).day
        return partitions.filter { $0.resolution == resolution && $0.day >= first && $0.day <= last }.sorted()
    }

    /// Stores one refresh's samples (Unix seconds) in one transaction: rows appended at the
    /// end of one table.
    public func record(time: Int64, nodes: [HistorySample], pods: [HistorySample], edges: [HistorySample] = []) async throws {
        let start = ContinuousClock.now
        let partition = Partition(.raw, time: time)
        let ids = try await pool.write { db -> [Int64] in
            // The writer's thread yields the cores to request handling (Linux: per thread).
            lowerPriority(10)
            try self.ensure(partition, db)
            try self.note(time, in: partition, db)
            // Rows in key order (series ids ascending) append to the B-tree's last pages.
            var rows: [(id: Int64, sample: HistorySample)] = []
            rows.reserveCapacity(nodes.count + pods.count + edges.count)
            for (kind, samples) in [(SeriesKind.node, nodes), (.pod, pods), (.edge, edges)] {
                for sample in samples { rows.append((try self.seriesID(db, kind: kind, key: sample.key), sample)) }
            }
            rows.sort { $0.id < $1.id }
            let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO \(partition.table)(t, series, cpu, mem, disk, counter, n) VALUES(?, ?, ?, ?, ?, ?, 1)")
            // Bound through SQLite's C API: GRDB's argument arrays cost ~17 allocations a row.
            let handle = insert.sqliteStatement
            defer { sqlite3_reset(handle) }
            for (id, sample) in rows {
                sqlite3_reset(handle)
                sqlite3_bind_int64(handle, 1, time)
                sqlite3_bind_int64(handle, 2, id)
                sqlite3_bind_double(handle, 3, sample.cpu)
                sqlite3_bind_double(handle, 4, sample.memory)
                sqlite3_bind_double(handle, 5, sample.disk)
                if let counter = sample.cpuCounter { sqlite3_bind_int64(handle, 6, Int64(bitPattern: counter)) } else { sqlite3_bind_null(handle, 6) }
                let code = sqlite3_step(handle)
                guard code == SQLITE_DONE else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
            }
            return rows.map(\.id)
        }
        lastSeen.withLock { seen in for id in ids { seen[id] = time } }
        written.increment(by: nodes.count + pods.count + edges.count)
        writeTimer.recordSeconds(Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6)
    }

    private func seriesID(_ db: Database, kind: SeriesKind, key: String) throws -> Int64 {
        if let id = seriesIDs.withLock({ $0[kind]?[key] }) { return id }
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO series(kind, key) VALUES(?, ?)").execute(arguments: [kind.rawValue, key])
        let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM series WHERE kind = ? AND key = ?"), arguments: [kind.rawValue, key])!
        seriesIDs.withLock { $0[kind, default: [:]][key] = id }
        if kind == .pod { podsByNamespace.withLock { $0[Self.namespace(of: key), default: []].append((key, id)) } }
        return id
    }

    static func namespace(of key: String) -> Substring { key.prefix { $0 != "/" } }

    /// Whether a series has been recorded (and not yet forgotten).
    public func knows(_ kind: SeriesKind, key: String) -> Bool {
        seriesIDs.withLock { $0[kind]?[key] != nil }
    }

    /// Every key of a kind's series.
    public func seriesKeys(_ kind: SeriesKind) -> [String] {
        seriesIDs.withLock { Array(($0[kind] ?? [:]).keys) }
    }

    /// Number of series a selection names.
    public func seriesCount(_ kind: SeriesKind, _ selection: SeriesSelection) -> Int {
        selectedSeries(kind, selection).count
    }

    private func selectedSeries(_ kind: SeriesKind, _ selection: SeriesSelection) -> [(key: String, id: Int64)] {
        if case .namespaces(let admits) = selection {
            guard kind == .pod else { return [] }
            return podsByNamespace.withLock { index in
                index.filter { admits(String($0.key)) }.flatMap(\.value)
            }
        }
        return seriesIDs.withLock { ids in
            let all = ids[kind] ?? [:]
            switch selection {
            case .all: return all.map { ($0.key, $0.value) }
            case .keys(let keys): return keys.compactMap { key in all[key].map { (key, $0) } }
            case .prefix(let prefix): return all.filter { $0.key.hasPrefix(prefix) }.map { ($0.key, $0.value) }
            case .namespaces: return []
            }
        }
    }

    /// The points of the selected series in [start, end] at a resolution; series without a
    /// point in the range are left out.
    public func query(_ kind: SeriesKind, _ selection: SeriesSelection, start: Int64, end: Int64, resolution: Resolution) async throws -> [String: [HistoryPoint]] {
        let series = selectedSeries(kind, selection)
        if series.isEmpty { return [:] }
        let from = resolution == .raw ? start : start / resolution.seconds * resolution.seconds
        let candidates = partitions(resolution, from: from, to: end)
        let plan: [(Partition, [Int64])] = times.withLock { times in
            candidates.compactMap { partition in
                let inRange = (times[partition] ?? []).filter { $0 >= from && $0 <= end }
                return inRange.isEmpty ? nil : (partition, inRange)
            }
        }
        if plan.isEmpty { return [:] }
        let keys = Dictionary(uniqueKeysWithValues: series.map { ($0.id, $0.key) })
        let idList = "[" + series.map { String($0.id) }.sorted().joined(separator: ",") + "]"
        return try await pool.read { db in
            var result: [String: [HistoryPoint]] = [:]
            for (partition, points) in plan {
                // Seeks on (t, series) for every recorded time and selected series.
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT t, series, cpu, mem, disk, counter FROM \(partition.table)
                    WHERE t IN (SELECT value FROM json_each(?)) AND series IN (SELECT value FROM json_each(?))
                    ORDER BY t
                    """, arguments: ["[" + points.map(String.init).joined(separator: ",") + "]", idList])
                while let row = try rows.next() {
                    guard let key = keys[row["series"]] else { continue }
                    let counter: Int64? = row["counter"]
                    result[key, default: []].append(HistoryPoint(time: row["t"], cpu: row["cpu"], memory: row["mem"], disk: row["disk"],
                                                                 cpuCounter: counter.map { UInt64(bitPattern: $0) }))
                }
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
        try await forgetSeries(unseenSince: now - configuration.retention.components.seconds)
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
                    INSERT OR REPLACE INTO \(output.table)(t, series, cpu, mem, disk, counter, n)
                    SELECT (x.t / ?) * ?, x.series, sum(x.cpu * x.n) / sum(x.n), sum(x.mem * x.n) / sum(x.n), sum(x.disk * x.n) / sum(x.n),
                           max(x.counter), sum(x.n)
                    FROM \(input.table) x
                    WHERE x.t >= ?
                    GROUP BY x.t / ?, x.series
                    """, arguments: [width, width, watermark, width])
                let buckets = Set(self.times.withLock { $0[input] ?? [] }.filter { $0 >= watermark }.map { $0 / width * width })
                for bucket in buckets.sorted() { try self.note(bucket, in: output, db) }
            }
            try db.execute(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", arguments: [key, now / width * width])
        }
    }

    /// Drops the partitions entirely older than `cutoff` and deletes the older points of the
    /// one that straddles it (a range at the table's start: its pages are freed).
    func expire(resolutions: [Resolution], before cutoff: Int64) async throws {
        let affected = partitions.filter { resolutions.contains($0.resolution) && $0.start < cutoff }
        if affected.isEmpty { return }
        try await pool.write { db in
            for partition in affected {
                if partition.end <= cutoff {
                    try self.drop(partition, db)
                } else {
                    try db.execute(sql: "DELETE FROM \(partition.table) WHERE t < ?", arguments: [cutoff])
                    try db.execute(sql: "DELETE FROM times WHERE res = ? AND t < ?", arguments: [partition.resolution.seconds, cutoff])
                    self.times.withLock { $0[partition]?.removeAll { $0 < cutoff } }
                }
            }
        }
    }

    private func drop(_ partition: Partition, _ db: Database) throws {
        try db.execute(sql: "DROP TABLE IF EXISTS \(partition.table)")
        try db.execute(sql: "DELETE FROM times WHERE res = ? AND t >= ? AND t < ?", arguments: [partition.resolution.seconds, partition.start, partition.end])
        times.withLock { _ = $0.removeValue(forKey: partition) }
        dropped.increment()
    }

    /// Series not recorded since `cutoff` (pods long gone) are forgotten.
    func forgetSeries(unseenSince cutoff: Int64) async throws {
        let gone = lastSeen.withLock { seen in seen.filter { $0.value < cutoff }.map(\.key) }
        if gone.isEmpty { return }
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM series WHERE id IN (SELECT value FROM json_each(?))",
                           arguments: ["[" + gone.map(String.init).joined(separator: ",") + "]"])
        }
        let forgotten = Set(gone)
        lastSeen.withLock { seen in for id in gone { seen[id] = nil } }
        podsByNamespace.withLock { index in
            for (namespace, series) in index {
                let kept = series.filter { !forgotten.contains($0.id) }
                index[namespace] = kept.isEmpty ? nil : kept
            }
        }
        seriesIDs.withLock { ids in
            for kind in [SeriesKind.node, .pod, .edge] { ids[kind] = ids[kind]?.filter { !forgotten.contains($0.value) } }
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
            let all = partitions
            let candidates = all.filter { p in all.contains { $0.resolution == p.resolution && $0.day > p.day } }
            guard let oldest = candidates.min() else { break }
            logger.warning("history over its size bound; dropping its oldest day", metadata: [
                "table": "\(oldest.table)", "bytes": "\(size)", "limit": "\(configuration.maxBytes)"])
            try await pool.write { db in try self.drop(oldest, db) }
            size = try await liveBytes()
            sizeGauge.record(size)
        }
    }
}
