import GRDB
import GRDBSQLite

/// One finished day of a family's summarized metrics, for every entity that had samples:
/// what the day's hourly buckets add up to, in plain fixed-width columns, so that a month
/// of a whole cluster is read without decoding a single chunk (accounting over long
/// windows reads these). Written with the day's hourly buckets, from them, so that the two
/// always agree; dropped with them.
public struct DaySummary: Sendable, Equatable {
    public var day: Int64
    public var family: UInt8
    /// The family's summarized metric indices, in column order.
    public var metrics: [Int]
    public var entities: [EntityID] = []
    /// Per summarized metric (`metrics` order), per entity: the day's figures.
    public var columns: [Columns]

    public struct Columns: Sendable, Equatable {
        /// Counters: the reset-aware increase, exact.
        public var increase: [UInt64] = []
        /// Gauges: value x seconds.
        public var integral: [Double] = []
        /// Milliseconds with samples (pairs no further apart than the gap limit).
        public var covered: [Int64] = []
        public var count: [UInt64] = []
        /// The largest sample (-infinity without one).
        public var max: [Double] = []
        /// Counters: the highest increase per second over one hour of the day.
        public var peakRate: [Double] = []

        mutating func append(_ hours: [BucketStats]) {
            var day = BucketStats()
            var peak = 0.0
            for hour in hours {
                day.merge(hour)
                if hour.covered > 0 { peak = Swift.max(peak, Double(hour.increase) / (Double(hour.covered) / 1000)) }
            }
            increase.append(day.increase)
            integral.append(day.integral)
            covered.append(day.covered)
            count.append(day.count)
            max.append(day.max)
            peakRate.append(peak)
        }
    }

    public init(day: Int64, family: UInt8, metrics: [Int]) {
        self.day = day
        self.family = family
        self.metrics = metrics
        columns = metrics.map { _ in Columns() }
    }

    /// Adds an entity's hourly buckets of the day, one list per family metric.
    mutating func add(_ id: EntityID, hours: [[BucketStats]]) {
        entities.append(id)
        for (slot, metric) in metrics.enumerated() { columns[slot].append(hours[metric]) }
    }

    /// The column slot of a family metric, nil when it is not summarized.
    public func slot(of metric: Int) -> Int? { metrics.firstIndex(of: metric) }

    static let magic: [UInt8] = Array("DS1".utf8)

    /// `DS1`, family, metric count, metric indices, entity count (u32), ids (u32), then per
    /// metric its six columns; little-endian.
    func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.append(family)
        bytes.append(UInt8(metrics.count))
        bytes.append(contentsOf: metrics.map { UInt8($0) })
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        put(UInt32(entities.count))
        bytes.reserveCapacity(bytes.count + entities.count * (4 + metrics.count * 48))
        for id in entities { put(id.raw) }
        for column in columns {
            for value in column.increase { put(value) }
            for value in column.integral { put(value.bitPattern) }
            for value in column.covered { put(value) }
            for value in column.count { put(value) }
            for value in column.max { put(value.bitPattern) }
            for value in column.peakRate { put(value.bitPattern) }
        }
        return bytes
    }

    init(day: Int64, decoding bytes: [UInt8]) throws {
        self = try DaySummaryView(day: day, bytes: bytes).materialized()
    }
}

/// A stored day summary read in place: each figure is loaded from the blob when asked for,
/// so that a month of a cluster's summaries is read without building its columns.
public struct DaySummaryView: Sendable {
    public let day: Int64
    public let family: UInt8
    public let metrics: [Int]
    /// Entities (rows).
    public let count: Int
    private let bytes: [UInt8]
    private let ids: Int

    init(day: Int64, bytes: [UInt8]) throws {
        self.day = day
        let fail = StoreError.corrupt("day summary of day \(day)")
        guard bytes.count >= 9, Array(bytes[0..<3]) == DaySummary.magic else { throw fail }
        family = bytes[3]
        let metricCount = Int(bytes[4])
        guard bytes.count >= 5 + metricCount + 4 else { throw fail }
        metrics = bytes[5..<(5 + metricCount)].map(Int.init)
        let header = 5 + metricCount
        count = Int(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: header, as: UInt32.self)) })
        ids = header + 4
        guard bytes.count == ids + count * 4 + metricCount * 6 * 8 * count else { throw fail }
        self.bytes = bytes
    }

    /// The column slot of a family metric, nil when it is not summarized.
    public func slot(of metric: Int) -> Int? { metrics.firstIndex(of: metric) }

    @inline(__always) private func word(_ slot: Int, _ column: Int, _ row: Int) -> UInt64 {
        let offset = ids + count * 4 + ((slot * 6 + column) * count + row) * 8
        return bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }

    @inline(__always) public func entity(_ row: Int) -> EntityID {
        EntityID(bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: ids + row * 4, as: UInt32.self)) })
    }
    @inline(__always) public func increase(_ slot: Int, _ row: Int) -> UInt64 { word(slot, 0, row) }
    @inline(__always) public func integral(_ slot: Int, _ row: Int) -> Double { Double(bitPattern: word(slot, 1, row)) }
    @inline(__always) public func covered(_ slot: Int, _ row: Int) -> Int64 { Int64(bitPattern: word(slot, 2, row)) }
    @inline(__always) public func samples(_ slot: Int, _ row: Int) -> UInt64 { word(slot, 3, row) }
    @inline(__always) public func max(_ slot: Int, _ row: Int) -> Double { Double(bitPattern: word(slot, 4, row)) }
    @inline(__always) public func peakRate(_ slot: Int, _ row: Int) -> Double { Double(bitPattern: word(slot, 5, row)) }

    /// Every column as arrays.
    public func materialized() -> DaySummary {
        var summary = DaySummary(day: day, family: family, metrics: metrics)
        summary.entities = (0..<count).map(entity)
        summary.columns = metrics.indices.map { slot in
            DaySummary.Columns(increase: (0..<count).map { increase(slot, $0) }, integral: (0..<count).map { integral(slot, $0) },
                               covered: (0..<count).map { covered(slot, $0) }, count: (0..<count).map { samples(slot, $0) },
                               max: (0..<count).map { max(slot, $0) }, peakRate: (0..<count).map { peakRate(slot, $0) })
        }
        return summary
    }
}

/// One figure of a summarized metric (a column of the day summary).
public enum SummaryField: Int, Sendable {
    case increase = 0, integral, covered, samples, max, peakRate
}

/// Some columns of a day summary, read from the blob without the rest.
public struct SummaryColumns: Sendable {
    public let day: Int64
    /// The entities (rows).
    public let entities: [EntityID]
    /// The requested fields in request order (nil when the summary lacks the metric): one
    /// raw 64-bit word per row (`UInt64` for increase and samples, `Int64` for covered, the
    /// bits of a `Double` for the rest).
    public let words: [[UInt64]?]

    @inline(__always) public func double(_ field: Int, _ row: Int) -> Double { Double(bitPattern: words[field]![row]) }
}

extension TimeSeriesStore {
    /// The requested fields of a family's summary of a finished day, read with SQLite's
    /// incremental blob I/O: a month of summaries reads only the columns it needs (a
    /// fraction of each day's blob). Nil when the day has no summary.
    public func summaryColumns(day: Int64, family: UInt8, fields: [(metric: Int, field: SummaryField)]) throws -> SummaryColumns? {
        try pool.read { db -> SummaryColumns? in
            guard let rowid = try Int64.fetchOne(db, sql: "SELECT rowid FROM summaries WHERE day = ? AND family = ?", arguments: [day, Int64(family)]) else {
                return nil
            }
            var blob: OpaquePointer?
            guard sqlite3_blob_open(db.sqliteConnection, "main", "summaries", "data", rowid, 0, &blob) == SQLITE_OK, let blob else {
                throw StoreError.corrupt("day summary of day \(day)")
            }
            defer { sqlite3_blob_close(blob) }
            let size = Int(sqlite3_blob_bytes(blob))
            let fail = StoreError.corrupt("day summary of day \(day)")
            func read(_ count: Int, at offset: Int) throws -> [UInt8] {
                guard count >= 0, offset + count <= size else { throw fail }
                var bytes = [UInt8](repeating: 0, count: count)
                guard count == 0 || bytes.withUnsafeMutableBytes({ sqlite3_blob_read(blob, $0.baseAddress, Int32(count), Int32(offset)) }) == SQLITE_OK else { throw fail }
                return bytes
            }
            let head = try read(5, at: 0)
            guard Array(head[0..<3]) == DaySummary.magic, head[3] == family else { throw fail }
            let metricCount = Int(head[4])
            let metrics = try read(metricCount, at: 5).map(Int.init)
            let count = Int(try read(4, at: 5 + metricCount).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
            let ids = 5 + metricCount + 4
            guard size == ids + count * 4 + metricCount * 6 * 8 * count else { throw fail }
            /// `n` little-endian integers read straight into their array (no byte copy between).
            func integers<T: FixedWidthInteger>(_: T.Type, _ n: Int, at offset: Int) throws -> [T] {
                let length = n * MemoryLayout<T>.size
                guard offset + length <= size else { throw fail }
                var values = [T](repeating: 0, count: n)
                guard n == 0 || values.withUnsafeMutableBytes({ sqlite3_blob_read(blob, $0.baseAddress, Int32(length), Int32(offset)) }) == SQLITE_OK else { throw fail }
                if T(1).littleEndian != T(1) { values = values.map { T(littleEndian: $0) } }
                return values
            }
            let entities = try integers(UInt32.self, count, at: ids).map(EntityID.init)
            let columns = ids + count * 4
            let words = try fields.map { request -> [UInt64]? in
                guard let slot = metrics.firstIndex(of: request.metric) else { return nil }
                return try integers(UInt64.self, count, at: columns + (slot * 6 + request.field.rawValue) * count * 8)
            }
            return SummaryColumns(day: day, entities: entities, words: words)
        }
    }
}
