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
        self.day = day
        let fail = StoreError.corrupt("day summary of day \(day)")
        guard bytes.count >= 9, Array(bytes[0..<3]) == Self.magic else { throw fail }
        family = bytes[3]
        let count = Int(bytes[4])
        guard bytes.count >= 5 + count + 4 else { throw fail }
        metrics = bytes[5..<(5 + count)].map(Int.init)
        var offset = 5 + count
        let decoded: (entities: [EntityID], columns: [Columns])? = bytes.withUnsafeBytes { raw in
            func read<T: FixedWidthInteger>(_: T.Type) -> T? {
                guard offset + MemoryLayout<T>.size <= raw.count else { return nil }
                defer { offset += MemoryLayout<T>.size }
                return T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            func array<T: FixedWidthInteger>(_: T.Type, _ n: Int) -> [T]? {
                guard offset + n * MemoryLayout<T>.size <= raw.count else { return nil }
                let start = offset
                offset += n * MemoryLayout<T>.size
                return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
                    for i in 0..<n { buffer[i] = T(littleEndian: raw.loadUnaligned(fromByteOffset: start + i * MemoryLayout<T>.size, as: T.self)) }
                    initialized = n
                }
            }
            guard let n32 = read(UInt32.self) else { return nil }
            let n = Int(n32)
            guard let ids = array(UInt32.self, n) else { return nil }
            var columns: [Columns] = []
            for _ in 0..<count {
                guard let increase = array(UInt64.self, n), let integral = array(UInt64.self, n), let covered = array(Int64.self, n),
                      let counts = array(UInt64.self, n), let max = array(UInt64.self, n), let peak = array(UInt64.self, n) else { return nil }
                columns.append(Columns(increase: increase, integral: integral.map(Double.init(bitPattern:)), covered: covered, count: counts,
                                       max: max.map(Double.init(bitPattern:)), peakRate: peak.map(Double.init(bitPattern:))))
            }
            return (ids.map(EntityID.init), columns)
        }
        guard let decoded, offset == bytes.count else { throw fail }
        entities = decoded.entities
        columns = decoded.columns
    }
}
