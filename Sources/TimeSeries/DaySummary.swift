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

    /// Decodes `encoded()` (a blob read whole).
    init(day: Int64, decoding bytes: [UInt8]) throws {
        let layout = try SummaryLayout(day: day, size: bytes.count) { count, offset in Array(bytes[offset..<(offset + count)]) }
        func words(_ n: Int, at offset: Int) -> [UInt64] {
            bytes.withUnsafeBytes { raw in (0..<n).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + $0 * 8, as: UInt64.self)) } }
        }
        self.day = day
        family = layout.family
        metrics = layout.metrics
        let n = layout.count
        entities = bytes.withUnsafeBytes { raw in
            (0..<n).map { EntityID(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: layout.ids + $0 * 4, as: UInt32.self))) }
        }
        columns = layout.metrics.indices.map { slot in
            Columns(increase: words(n, at: layout.column(slot, .increase)),
                    integral: words(n, at: layout.column(slot, .integral)).map(Double.init(bitPattern:)),
                    covered: words(n, at: layout.column(slot, .covered)).map { Int64(bitPattern: $0) },
                    count: words(n, at: layout.column(slot, .samples)),
                    max: words(n, at: layout.column(slot, .max)).map(Double.init(bitPattern:)),
                    peakRate: words(n, at: layout.column(slot, .peakRate)).map(Double.init(bitPattern:)))
        }
    }
}

/// Where the parts of a day summary's blob are (`DaySummary.encoded()`), from its header and
/// its size; a blob whose size does not match its header is corrupt.
struct SummaryLayout {
    let family: UInt8
    let metrics: [Int]
    /// Entities (rows).
    let count: Int
    /// Offset of the entity ids.
    let ids: Int

    /// - Parameter read: `count` bytes at an offset (only ever within the header).
    init(day: Int64, size: Int, read: (_ count: Int, _ offset: Int) throws -> [UInt8]) throws {
        let fail = StoreError.corrupt("day summary of day \(day)")
        guard size >= 9 else { throw fail }
        let head = try read(5, 0)
        guard Array(head[0..<3]) == DaySummary.magic else { throw fail }
        family = head[3]
        let metricCount = Int(head[4])
        guard size >= 5 + metricCount + 4 else { throw fail }
        metrics = try read(metricCount, 5).map(Int.init)
        count = Int(try read(4, 5 + metricCount).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        ids = 5 + metricCount + 4
        guard size == ids + count * 4 + metricCount * 6 * 8 * count else { throw fail }
    }

    /// Offset of one metric slot's field column.
    func column(_ slot: Int, _ field: SummaryField) -> Int { ids + count * 4 + (slot * 6 + field.rawValue) * count * 8 }
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
            let layout = try SummaryLayout(day: day, size: size) { count, offset in try read(count, at: offset) }
            guard layout.family == family else { throw fail }
            /// `n` little-endian integers read straight into their array (no byte copy between).
            func integers<T: FixedWidthInteger>(_: T.Type, _ n: Int, at offset: Int) throws -> [T] {
                let length = n * MemoryLayout<T>.size
                guard offset + length <= size else { throw fail }
                var values = [T](repeating: 0, count: n)
                guard n == 0 || values.withUnsafeMutableBytes({ sqlite3_blob_read(blob, $0.baseAddress, Int32(length), Int32(offset)) }) == SQLITE_OK else { throw fail }
                if T(1).littleEndian != T(1) { values = values.map { T(littleEndian: $0) } }
                return values
            }
            let entities = try integers(UInt32.self, layout.count, at: layout.ids).map(EntityID.init)
            let words = try fields.map { request -> [UInt64]? in
                guard let slot = layout.metrics.firstIndex(of: request.metric) else { return nil }
                return try integers(UInt64.self, layout.count, at: layout.column(slot, request.field))
            }
            return SummaryColumns(day: day, entities: entities, words: words)
        }
    }
}
