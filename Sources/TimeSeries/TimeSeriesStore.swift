#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

public struct StoreConfiguration: Sendable {
    /// Rows are sealed into chunks per segment of this many milliseconds.
    public var segment: Int64 = 300_000
    /// A segment is sealed this long after it ends, so that rows of slower agents still
    /// reach it; rows later than that go into the next segment's chunk.
    public var grace: Int64 = 30_000
    /// Consecutive samples further apart are a gap (see `BucketGrid`).
    public var gapLimit: Int64 = 300_000
    /// A finished hour's segment chunks are merged into one chunk per entity (fewer seeks
    /// per query, better compression); 0 keeps the segments as sealed.
    public var compactTo: Int64 = 3_600_000
    /// How long raw chunks are kept (whole days are dropped).
    public var rawRetention: Int64 = 8 * 86_400_000
    /// How long hourly buckets are kept.
    public var bucketRetention: Int64 = 100 * 86_400_000
    /// The width of the stored buckets.
    public var bucketWidth: Int64 = 3_600_000
    /// Beyond this many bytes of pages, whole days go, oldest first (raw before buckets).
    public var maxBytes: Int64 = 8 << 30
    /// Entities a seal moves out of the head per hold of the store's lock (appends and
    /// readers wait for one hold, not for the whole head).
    public var sealSlice = 8_192
    public init() {}
}

public struct EntityID: Hashable, Sendable, Comparable {
    public var raw: UInt32
    public init(_ raw: UInt32) { self.raw = raw }
    public static func < (a: EntityID, b: EntityID) -> Bool { a.raw < b.raw }
}

/// Samples of several metrics of several entities, column by column: metric slot `slot`'s
/// samples of the entity at `index` (in the order asked) are `times[slot][r]`,
/// `values[slot][r]` for `r` in `range(slot, index)`, in time order.
public struct SampleColumns: Sendable {
    public private(set) var times: [[Int64]]
    public private(set) var values: [[UInt64]]
    /// Per slot, where each entity's samples end.
    @usableFromInline var ends: [[Int]]

    @inlinable public func range(_ slot: Int, _ index: Int) -> Range<Int> { (index == 0 ? 0 : ends[slot][index - 1])..<ends[slot][index] }

    /// Calls `body` with the number of the entity's samples of that slot and an accessor of
    /// the n-th (time, value), without copying them.
    @inlinable public func withSamples<R>(_ slot: Int, _ index: Int, _ body: (Int, (Int) -> (time: Int64, value: UInt64)) throws -> R) rethrows -> R {
        let range = range(slot, index)
        return try times[slot].withUnsafeBufferPointer { times in
            try values[slot].withUnsafeBufferPointer { values in
                let base = range.lowerBound
                return try body(range.count) { (times[base + $0], values[base + $0]) }
            }
        }
    }

    /// The number of samples of that slot, all entities.
    public func count(_ slot: Int) -> Int { times[slot].count }

    init(times: [[Int64]], values: [[UInt64]], ends: [[Int]]) {
        (self.times, self.values, self.ends) = (times, values, ends)
    }

    /// Fills the columns entity by entity (its chunks in time order, then its head blocks):
    /// each chunk's times decoded once into scratch room, each asked column written beside
    /// them and appended to its slot in one copy. Nothing is sorted afterwards: only an
    /// entity whose late rows put its samples out of time order is reordered.
    struct Builder {
        var times: [[Int64]], values: [[UInt64]], ends: [[Int]]
        let scratch = Scratch()

        init(slots: Int, entities: Int) {
            times = Array(repeating: [], count: slots)
            values = Array(repeating: [], count: slots)
            ends = Array(repeating: [], count: slots)
            for slot in 0..<slots { ends[slot].reserveCapacity(entities) }
        }

        /// Room for a chunk's rows (times, and one column's times and values) or a head
        /// block's samples (per slot), reused from chunk to chunk.
        final class Scratch {
            private(set) var capacity = 0
            private(set) var rowTimes = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
            private(set) var times = UnsafeMutablePointer<Int64>.allocate(capacity: 0)
            private(set) var values = UnsafeMutablePointer<UInt64>.allocate(capacity: 0)
            func reserve(_ count: Int) {
                guard count > capacity else { return }
                rowTimes.deallocate(); times.deallocate(); values.deallocate()
                capacity = max(count, capacity * 2)
                rowTimes = .allocate(capacity: capacity)
                times = .allocate(capacity: capacity)
                values = .allocate(capacity: capacity)
            }
            deinit { rowTimes.deallocate(); times.deallocate(); values.deallocate() }
        }

        mutating func append(_ slot: Int, from times: UnsafePointer<Int64>, _ values: UnsafePointer<UInt64>, count: Int) {
            guard count > 0 else { return }
            self.times[slot].append(contentsOf: UnsafeBufferPointer(start: times, count: count))
            self.values[slot].append(contentsOf: UnsafeBufferPointer(start: values, count: count))
        }

        /// The asked metrics (slot by slot) of a stored chunk, its rows in [from, to].
        mutating func append(_ chunk: Chunk.View, metrics: [Int], encodings: [ValueEncoding], from: Int64, to: Int64) throws(ChunkError) {
            scratch.reserve(chunk.rows)
            try chunk.times(into: scratch.rowTimes)
            for (slot, metric) in metrics.enumerated() where metric >= 0 && metric < encodings.count {
                let count = try chunk.column(metric, encoding: encodings[metric], times: scratch.rowTimes, from: from, to: to,
                                             outTimes: scratch.times, outValues: scratch.values)
                append(slot, from: scratch.times, scratch.values, count: count)
            }
        }

        /// The asked metrics of a head block, its rows in [from, to].
        mutating func append(_ block: TimeSeriesStore.Block, metrics: [Int], from: Int64, to: Int64) {
            let rows = Int(block.rowCount), slots = metrics.count
            guard rows > 0 else { return }
            scratch.reserve(rows * slots)
            let (times, values) = (scratch.times, scratch.values)
            withUnsafeTemporaryAllocation(of: Int.self, capacity: slots) { counts in
                counts.initialize(repeating: 0)
                block.forEachSample(metrics) { time, slot, value in
                    guard time >= from && time <= to else { return }
                    let at = slot * rows + counts[slot]
                    times[at] = time
                    values[at] = value
                    counts[slot] += 1
                }
                for slot in 0..<slots { append(slot, from: times + slot * rows, values + slot * rows, count: counts[slot]) }
            }
        }

        /// Closes the current entity: its samples put in time order where late rows broke it.
        mutating func endEntity() {
            for slot in times.indices {
                let start = ends[slot].last ?? 0
                SampleColumns.restoreTimeOrder(&times[slot], &values[slot], start..<times[slot].count)
                ends[slot].append(times[slot].count)
            }
        }

        func finish() -> SampleColumns { SampleColumns(times: times, values: values, ends: ends) }
    }

    static func restoreTimeOrder(_ times: inout [Int64], _ values: inout [UInt64], _ range: Range<Int>) {
        guard range.dropFirst().contains(where: { times[$0 - 1] > times[$0] }) else { return }
        let sorted = range.map { (times[$0], values[$0]) }.sorted { $0.0 < $1.0 }
        for (offset, pair) in sorted.enumerated() {
            times[range.lowerBound + offset] = pair.0
            values[range.lowerBound + offset] = pair.1
        }
    }
}

/// An entity of the series index: 40 bytes, one per entity for as long as it is kept. Its
/// key and labels (`EntityText`) are in memory only until the entity is in the database
/// (`TimeSeriesStore.labels(_:)` reads them from either): at 300,000 entities the labels were
/// ~470 bytes a pod, a fifth of the history's memory, for what a few rare reads need; and two
/// empty strings in every entry once saved took 32 of its 72 bytes.
public struct EntityInfo: Sendable {
    public var id: EntityID
    public var family: UInt8
    /// What the index finds it by.
    public var keyHash: KeyHash
    /// Unix milliseconds of its first and newest sample.
    public var first: Int64
    public var last: Int64

    init(id: EntityID, family: UInt8, key: String, first: Int64, last: Int64) {
        self.init(id: id, family: family, keyHash: KeyHash(key), first: first, last: last)
    }

    init(id: EntityID, family: UInt8, keyHash: KeyHash, first: Int64, last: Int64) {
        self.id = id
        self.family = family
        self.keyHash = keyHash
        self.first = first
        self.last = last
    }

    /// The placeholder of an id no entity holds (forgotten, or not yet replayed).
    static func vacant(_ id: EntityID) -> EntityInfo { EntityInfo(id: id, family: vacantFamily, key: "", first: 0, last: 0) }
    static let vacantFamily: UInt8 = 255
}

/// An entity's key and labels (`k=v` lines), held while the database does not have them.
struct EntityText: Sendable, Equatable {
    var key: String
    var labels: String
}

/// An entity key's 128 bits of hash (two SipHash values under this process's seed): the
/// index holds it instead of the key, which the database has (a container's key is its pod's
/// uid and its runtime id, ~114 bytes: 300,000 keys held ~36 MiB). Two of 300,000 keys share
/// a hash with a chance of about 10^-28.
public struct KeyHash: Hashable, Sendable {
    let high: UInt64, low: UInt64

    public init(_ key: String) {
        var a = Hasher(), b = Hasher()
        a.combine(UInt8(0))
        a.combine(key)
        b.combine(UInt8(1))
        b.combine(key)
        high = UInt64(bitPattern: Int64(a.finalize()))
        low = UInt64(bitPattern: Int64(b.finalize()))
    }

    /// Already uniform: one word feeds the dictionary's hash.
    public func hash(into hasher: inout Hasher) { hasher.combine(low) }
}

public enum StoreError: Error, CustomStringConvertible {
    case unknownFamily(UInt8)
    case notThisFormat(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .unknownFamily(let id): "no family with id \(id)"
        case .notThisFormat(let why): why
        case .corrupt(let what): "\(what) is corrupt"
        }
    }
}

/// What a store has done, for `/metrics`.
public struct StoreCounters: Sendable {
    public var samplesAppended: UInt64 = 0
    public var rowsRejected: UInt64 = 0
    public var chunksSealed: UInt64 = 0
    public var sealedSamples: UInt64 = 0
    public var sealedBytes: UInt64 = 0
    public var seals: UInt64 = 0
    public var rollups: UInt64 = 0
    public var tablesDropped: UInt64 = 0
    public var compactions: UInt64 = 0
    public var entitiesForgotten: UInt64 = 0
    public var sealFailures: UInt64 = 0
    public var walBytes: UInt64 = 0
    public init() {}
}

/// A time-series store: entities (a family's metrics, labels held once) x metrics; the newest
/// rows in memory (the head, logged ahead to a file), sealed per segment into compressed
/// column chunks in SQLite (one table per UTC day), and hourly buckets (count, sum, min,
/// max, last, increase, integral, coverage) per entity and day, so that answers over long
/// spans stay exact without the raw points. Knows nothing of what the entities are.
///
/// Readers never wait for the writer: SQLite in WAL mode, and the head is read under a
/// short lock. `maintain` is seconds of work at scale: run it on a thread of its own (the
/// store never changes its callers' thread priorities).
public final class TimeSeriesStore: Sendable {
    public let configuration: StoreConfiguration
    let families: [UInt8: Family]
    let pool: DatabasePool
    let logPath: String
    let logger: Logger
    private let state: Mutex<State>
    /// One seal, rollup or retention run at a time.
    private let maintenance = Mutex(false)
    /// Seals one at a time (a graceful stop's seal waits for a running one): a seal deletes
    /// log files that only the seals before it have covered.
    private let sealSerial = NSLock()

    /// An entity's rows of one segment in memory, encoded as the log writes them. A row is a
    /// header byte (bit 0: the block's first row, which depends on no other; bit 1: the
    /// presence mask follows, having changed; bit 2: the time's interval changed and its
    /// difference follows), the time (whole on a first row; else nothing when the interval
    /// is the previous row's, as it is when agents report on time, or the interval's zigzag
    /// difference), a bitmap with a bit per present value (in column order) set when the
    /// value differs from the previous row's (0 when it had none), then each such value's
    /// zigzag difference. A request, a limit or a capacity that did not change costs a bit,
    /// not a byte (rows of 28 bytes for a pod's 17 metrics before: presence, time and a
    /// zero byte per unchanged value). The newest row follows whole (time, interval,
    /// presence, each present value as a varint; from `tail`), as the base of the next: in
    /// the same allocation.
    struct Block: Sendable {
        var segment: Int64
        var bytes: [UInt8] = []
        /// Where the newest row, whole, starts in `bytes` (the rows' encoding ends there).
        private(set) var tail: Int32 = 0
        private(set) var rowCount: Int32 = 0
        let width: Int32
        /// The metrics that track time (`MetricDefinition.tracksTime`): each row's value is
        /// encoded as its difference from the previous value plus the row's interval.
        let tracking: UInt64

        /// A row's header bits.
        static let first: UInt8 = 1, presenceFollows: UInt8 = 2, intervalFollows: UInt8 = 4

        init(segment: Int64, width: Int, tracking: UInt64 = 0) {
            self.segment = segment
            self.width = Int32(width)
            self.tracking = tracking
        }

        /// The words a decoded row takes: time, presence, `width` values, the interval to
        /// the row before (0 after a first row).
        @inline(__always) static func words(_ width: Int) -> Int { width + 3 }

        /// The presence bits a row of `width` metrics can have.
        @inline(__always) static func mask(_ width: Int) -> UInt64 { width >= 64 ? .max : (1 << UInt64(width)) &- 1 }

        /// The rows' encoding (without the newest row whole).
        var encoded: ArraySlice<UInt8> { bytes[..<Int(tail)] }

        /// The newest row's time (the first varint `appendWhole` wrote).
        var lastTime: Int64? {
            guard rowCount > 0 else { return nil }
            return bytes.withUnsafeBufferPointer { buffer in
                var cursor = ByteCursor(buffer, offset: Int(tail))
                return (try? cursor.varint()).map(unzigzag)
            }
        }

        /// Appends a row; returns where its encoding starts in `bytes` (the log copies
        /// `bytes[start..<tail]`).
        mutating func append(_ row: SampleRow) -> Int {
            let width = Int(self.width)
            return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.words(width)) { last in
                let first = rowCount == 0
                // Room for the row and the newest row whole (each about the size of the last
                // whole row, which goes first), grown by a quarter rather than doubled: at
                // 300,000 series the doubling left a third of the head's bytes unused.
                let whole = bytes.count - Int(tail)
                let room = first ? 4 * width + 24 : 2 * whole + 8
                if bytes.capacity - (bytes.count - whole) < room {
                    bytes.reserveCapacity(bytes.count + max(room, bytes.count / 4))
                }
                if !first {
                    Self.decodeWhole(bytes, from: Int(tail), width: width, into: last)
                    bytes.removeSubrange(Int(tail)...)
                }
                let start = bytes.count
                Self.encode(row, previous: first ? nil : UnsafeBufferPointer(last), width: width, tracking: tracking, into: &bytes)
                tail = Int32(bytes.count)
                Self.appendWhole(row, interval: first ? 0 : row.time &- Int64(bitPattern: last[0]), width: width, to: &bytes)
                rowCount += 1
                return start
            }
        }

        /// The newest row whole: its time and interval (zigzag), presence and each present
        /// value, as varints.
        static func appendWhole(_ row: SampleRow, interval: Int64, width: Int, to bytes: inout [UInt8]) {
            let present = row.present & mask(width)
            appendVarint(zigzag(row.time), to: &bytes)
            appendVarint(zigzag(interval), to: &bytes)
            appendVarint(present, to: &bytes)
            for index in 0..<width where present & (1 << UInt64(index)) != 0 {
                appendVarint(index < row.values.count ? row.values[index] : 0, to: &bytes)
            }
        }

        /// Reads what `appendWhole` wrote at `offset` into `row` (`words(width)` words; an
        /// absent value 0). The block's own bytes: they decode by construction.
        static func decodeWhole(_ bytes: [UInt8], from offset: Int, width: Int, into row: UnsafeMutableBufferPointer<UInt64>) {
            bytes.withUnsafeBufferPointer { buffer in
                var cursor = ByteCursor(buffer, offset: offset)
                row[0] = (try? cursor.varint()).map { UInt64(bitPattern: unzigzag($0)) } ?? 0
                row[width + 2] = (try? cursor.varint()).map { UInt64(bitPattern: unzigzag($0)) } ?? 0
                let present = (try? cursor.varint()) ?? 0
                row[1] = present
                for index in 0..<width {
                    row[index + 2] = present & (1 << UInt64(index)) != 0 ? (try? cursor.varint()) ?? 0 : 0
                }
            }
        }

        /// A row after `previous` (the decoded words of the row before), or a first row when
        /// there is none (with `interval`, the time since the row before it, when the log
        /// writes a row whole that the block holds after another).
        static func encode(_ row: SampleRow, previous: UnsafeBufferPointer<UInt64>?, interval: Int64 = 0, width: Int, tracking: UInt64 = 0,
                           into bytes: inout [UInt8]) {
            let present = row.present & mask(width)
            let previousPresent = previous?[1] ?? 0
            // What a time-tracking value is predicted to have grown by since the row before.
            let elapsed = previous.map { UInt64(bitPattern: row.time &- Int64(bitPattern: $0[0])) } ?? 0
            if let previous {
                let change = row.time &- Int64(bitPattern: previous[0]) &- Int64(bitPattern: previous[width + 2])
                bytes.append((change != 0 ? intervalFollows : 0) | (present != previousPresent ? presenceFollows : 0))
                if change != 0 { appendVarint(zigzag(change), to: &bytes) }
                if present != previousPresent { appendVarint(present, to: &bytes) }
            } else {
                bytes.append(first | (interval != 0 ? intervalFollows : 0))
                appendVarint(zigzag(row.time), to: &bytes)
                if interval != 0 { appendVarint(zigzag(interval), to: &bytes) }
                appendVarint(present, to: &bytes)
            }
            let map = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: (present.nonzeroBitCount + 7) >> 3))
            var rank = 0, remaining = present
            while remaining != 0 {
                let index = remaining.trailingZeroBitCount
                remaining &= remaining &- 1
                let bit = UInt64(1) << UInt64(index)
                let base = previousPresent & bit != 0 ? previous![index + 2] &+ (tracking & bit != 0 ? elapsed : 0) : 0
                let value = index < row.values.count ? row.values[index] : 0
                if value != base {
                    bytes[map + (rank >> 3)] |= 1 << UInt8(rank & 7)
                    appendVarint(zigzag(Int64(bitPattern: value &- base)), to: &bytes)
                }
                rank += 1
            }
        }

        /// Decodes one row after `previous` (`words(width)` words: a block's first row starts
        /// afresh whatever `previous` holds).
        static func decode(_ cursor: inout ByteCursor, previous: inout [UInt64], width: Int, tracking: UInt64 = 0) throws(ChunkError) {
            let header = try cursor.byte()
            if header & first != 0 || previous.count != words(width) { previous = [UInt64](repeating: 0, count: words(width)) }
            let previousPresent = previous[1]
            let time: Int64, interval: Int64, present: UInt64
            if header & first != 0 {
                time = unzigzag(try cursor.varint())
                interval = header & intervalFollows != 0 ? unzigzag(try cursor.varint()) : 0
                present = try cursor.varint() & mask(width)
            } else {
                interval = Int64(bitPattern: previous[width + 2]) &+ (header & intervalFollows != 0 ? unzigzag(try cursor.varint()) : 0)
                time = Int64(bitPattern: previous[0]) &+ interval
                present = header & presenceFollows != 0 ? try cursor.varint() & mask(width) : previousPresent
            }
            var changed: UInt64 = 0
            for index in 0..<((present.nonzeroBitCount + 7) >> 3) { changed |= UInt64(try cursor.byte()) << UInt64(8 * index) }
            var rank = 0
            // What a time-tracking value is predicted to have grown by: the row's interval (a
            // first row has no value before it to grow from).
            let elapsed = UInt64(bitPattern: interval)
            for index in 0..<width {
                let bit = UInt64(1) << UInt64(index)
                if present & bit != 0 {
                    let base = previousPresent & bit != 0 ? previous[index + 2] &+ (tracking & bit != 0 ? elapsed : 0) : 0
                    previous[index + 2] = changed >> UInt64(rank) & 1 != 0 ? base &+ UInt64(bitPattern: unzigzag(try cursor.varint())) : base
                    rank += 1
                } else {
                    previous[index + 2] = 0
                }
            }
            previous[0] = UInt64(bitPattern: time)
            previous[1] = present
            previous[width + 2] = UInt64(bitPattern: interval)
        }

        /// Decodes one row as logs written before the bitmap encoding hold it (record 2): a
        /// varint of the presence mask shifted left (the low bit set on a block's first
        /// row), the time's difference, each present value's zigzag difference; into the
        /// same words as `decode`, so that a newer record may follow it.
        static func decodeLegacy(_ cursor: inout ByteCursor, previous: inout [UInt64], width: Int) throws(ChunkError) {
            let flagged = try cursor.varint()
            if flagged & 1 == 1 || previous.count != words(width) { previous = [UInt64](repeating: 0, count: words(width)) }
            let present = flagged >> 1 & mask(width)
            let interval = unzigzag(try cursor.varint())
            let previousPresent = previous[1]
            for index in 0..<width {
                let bit = UInt64(1) << UInt64(index)
                if present & bit != 0 {
                    let base = previousPresent & bit != 0 ? previous[index + 2] : 0
                    previous[index + 2] = base &+ UInt64(bitPattern: unzigzag(try cursor.varint()))
                } else {
                    previous[index + 2] = 0
                }
            }
            previous[0] = UInt64(bitPattern: Int64(bitPattern: previous[0]) &+ interval)
            previous[1] = present
            previous[width + 2] = flagged & 1 == 1 ? 0 : UInt64(bitPattern: interval)
        }

        /// Every row in order, decoded into one reused buffer (`words(width)` words: time,
        /// presence, values, interval).
        func forEach(_ body: ([UInt64]) -> Void) {
            var row: [UInt64] = []
            bytes.withUnsafeBufferPointer { all in
                var cursor = ByteCursor(UnsafeBufferPointer(rebasing: all[..<Int(tail)]))
                while !cursor.atEnd {
                    // The block's own bytes: they decode by construction.
                    guard (try? Self.decode(&cursor, previous: &row, width: Int(width), tracking: tracking)) != nil else { return }
                    body(row)
                }
            }
        }

        /// Every row's time and the values of the metrics in `metrics` it has, in order:
        /// `body(time, slot, value)` once per present value of a wanted metric (slot: its
        /// position in `metrics`; a metric asked twice, once per slot). The other values are
        /// stepped over, not decoded.
        func forEachSample(_ metrics: [Int], _ body: (Int64, Int, UInt64) -> Void) {
            let width = Int(self.width)
            let presence = Self.mask(width)
            // The wanted metrics in column order, each with its slot and its last value.
            let wanted = metrics.enumerated().filter { $0.element >= 0 && $0.element < width }.sorted { $0.element < $1.element }
            let count = wanted.count
            withUnsafeTemporaryAllocation(of: (column: Int, slot: Int, previous: UInt64).self, capacity: count) { columns in
                for (position, pair) in wanted.enumerated() { (columns.baseAddress! + position).initialize(to: (pair.element, pair.offset, 0)) }
                bytes.withUnsafeBufferPointer { all in
                    let end = Int(tail)
                    var offset = 0, time: Int64 = 0, interval: Int64 = 0, present: UInt64 = 0
                    // The block's own bytes: they decode by construction (a varint ends
                    // before the tail; a truncated one ends the walk).
                    @inline(__always) func varint() -> UInt64 {
                        var value: UInt64 = 0, shift: UInt64 = 0
                        while offset < end {
                            let b = all[offset]
                            offset += 1
                            value |= UInt64(b & 0x7F) << (shift & 63)
                            if b & 0x80 == 0 { break }
                            shift += 7
                        }
                        return value
                    }
                    /// Steps over `n` varints (a varint's last byte has the high bit clear).
                    @inline(__always) func skip(_ n: Int) {
                        var n = n
                        while n > 0 && offset < end {
                            if all[offset] & 0x80 == 0 { n -= 1 }
                            offset += 1
                        }
                    }
                    while offset < end {
                        let header = all[offset]
                        offset += 1
                        let previousPresent: UInt64
                        if header & Self.first != 0 {
                            time = unzigzag(varint())
                            interval = header & Self.intervalFollows != 0 ? unzigzag(varint()) : 0
                            previousPresent = 0
                            present = varint() & presence
                        } else {
                            if header & Self.intervalFollows != 0 { interval &+= unzigzag(varint()) }
                            time &+= interval
                            previousPresent = present
                            if header & Self.presenceFollows != 0 { present = varint() & presence }
                        }
                        var changed: UInt64 = 0
                        for index in 0..<((present.nonzeroBitCount + 7) >> 3) where offset < end {
                            changed |= UInt64(all[offset]) << UInt64(8 * index)
                            offset += 1
                        }
                        var taken = 0 // changed values read or stepped over
                        for position in 0..<count {
                            let column = columns[position].column
                            let bit = UInt64(1) << UInt64(column)
                            if position > 0 && columns[position - 1].column == column {
                                // A metric asked twice: the value just read, for this slot too.
                                columns[position].previous = columns[position - 1].previous
                                if present & bit != 0 { body(time, columns[position].slot, columns[position].previous) }
                                continue
                            }
                            guard present & bit != 0 else {
                                columns[position].previous = 0
                                continue
                            }
                            let base = previousPresent & bit != 0
                                ? columns[position].previous &+ (tracking & bit != 0 ? UInt64(bitPattern: interval) : 0) : 0
                            let rank = UInt64((present & (bit &- 1)).nonzeroBitCount)
                            if changed >> rank & 1 != 0 {
                                // The changed values before this one are stepped over.
                                let before = (changed & ((1 << rank) &- 1)).nonzeroBitCount
                                skip(before - taken)
                                columns[position].previous = base &+ UInt64(bitPattern: unzigzag(varint()))
                                taken = before + 1
                            } else {
                                columns[position].previous = base
                            }
                            body(time, columns[position].slot, columns[position].previous)
                        }
                        skip(changed.nonzeroBitCount - taken)
                    }
                }
            }
        }

        var rows: [SampleRow] {
            var rows: [SampleRow] = []
            rows.reserveCapacity(Int(rowCount))
            let width = Int(self.width)
            forEach { rows.append(SampleRow(time: Int64(bitPattern: $0[0]), present: $0[1], values: Array($0[2..<(width + 2)]))) }
            return rows
        }
    }

    /// An entity's rows in memory: a block per segment, oldest first (a seal takes whole
    /// blocks).
    struct Head: Sendable {
        var width: Int
        var tracking: UInt64
        var blocks: [Block] = []

        init(width: Int, tracking: UInt64 = 0) {
            self.width = width
            self.tracking = tracking
        }

        var lastTime: Int64? { blocks.last?.lastTime }

        /// Appends a row to its segment's block; returns the block's index and where the
        /// row's encoding starts.
        mutating func append(_ row: SampleRow, segment: Int64) -> (block: Int, start: Int) {
            if blocks.last?.segment != segment { blocks.append(Block(segment: segment, width: width, tracking: tracking)) }
            let start = blocks[blocks.count - 1].append(row)
            return (blocks.count - 1, start)
        }

        /// Appends a row and the log's copy of it: the bytes the block got, or the whole
        /// row when the log must start over for this entity (with its interval to the row
        /// before it in the block, which the next row's encoding builds on).
        mutating func append(_ row: SampleRow, segment: Int64, whole: Bool, log payload: inout [UInt8]) {
            let before = whole && blocks.last?.segment == segment ? blocks.last?.lastTime : nil
            let (block, start) = append(row, segment: segment)
            if whole { Block.encode(row, previous: nil, interval: before.map { row.time &- $0 } ?? 0, width: width, into: &payload) }
            else { payload.append(contentsOf: blocks[block].encoded[start...]) }
        }

        var byteCount: Int { blocks.reduce(0) { $0 + $1.bytes.capacity + 64 } }
    }

    /// Values by entity id: ids are dense from 1, so an array at the id's place (a row's
    /// append looked its head up in a dictionary: at 100,000 rows a second, a hash each).
    struct EntityTable<Value: Sendable>: Sendable {
        private var slots: [Value?] = []

        /// One past the highest id that ever had a value here.
        var upperBound: Int { slots.count }

        subscript(id: EntityID) -> Value? {
            get {
                let index = Int(id.raw) - 1
                return index >= 0 && index < slots.count ? slots[index] : nil
            }
            set {
                let index = Int(id.raw) - 1
                guard index >= 0 else { return }
                if index >= slots.count {
                    guard newValue != nil else { return }
                    grow(to: index)
                }
                slots[index] = newValue
            }
        }

        /// The entity's value, made by `make` when it has none, changed in place.
        subscript(id: EntityID, default make: @autoclosure () -> Value) -> Value {
            get { self[id] ?? make() }
            _modify {
                let index = Int(id.raw) - 1
                precondition(index >= 0, "entity ids start at 1")
                grow(to: index)
                if slots[index] == nil { slots[index] = make() }
                yield &slots[index]!
            }
        }

        /// Room for a value at `index`.
        private mutating func grow(to index: Int) {
            if index >= slots.count { slots.append(contentsOf: repeatElement(nil, count: index - slots.count + 1)) }
        }

        mutating func removeValue(forKey id: EntityID) -> Value? {
            let value = self[id]
            if value != nil { slots[Int(id.raw) - 1] = nil }
            return value
        }

        var values: some Sequence<Value> { slots.lazy.compactMap { $0 } }

        /// Each id that has a value, with it, in id order.
        var entries: some Sequence<(id: EntityID, value: Value)> {
            slots.lazy.enumerated().compactMap { index, value in value.map { (EntityID(UInt32(index + 1)), $0) } }
        }
    }

    struct State {
        var entities: [EntityInfo] = []            // index = id - 1
        var byKey: [UInt8: [KeyHash: EntityID]] = [:]
        var head = EntityTable<Head>()
        var unsaved: Set<EntityID> = []
        /// The key and labels of entities not yet in the database (registered, or replayed
        /// from the log); an entity's leave once a transaction that saves it commits.
        var texts: [EntityID: EntityText] = [:]
        /// Sealed segment starts (chunks exist for some entities), ascending.
        var segments: [Int64] = []
        /// Chunk keys whose chunks span more than one segment (compacted hours).
        var spans: [Int64: Int64] = [:]
        /// Days whose hourly buckets are stored.
        var rolledDays: Set<Int64> = []
        /// Rolled days that also have their day summaries (days rolled before summaries
        /// existed have none).
        var summarizedDays: Set<Int64> = []
        /// Days with a raw table.
        var rawDays: Set<Int64> = []
        /// The oldest segment the head may still hold rows of.
        var headSegment: Int64?
        var wal: WriteAheadLog?
        /// Earlier log files, kept until every row they hold is sealed: (path, newest time).
        var retired: [(path: String, newest: Int64)] = []
        /// Entities whose last rows never reached the log (its write failed: a full disk):
        /// their next logged row is written whole, not as a difference from rows the log lacks.
        var relog: Set<EntityID> = []
        /// Blocks taken by a seal in progress: readers still see them.
        var sealing = EntityTable<[Block]>()
        var counters = StoreCounters()

        /// Puts an entity at its id's place in the index (ids are dense from 1).
        mutating func place(_ info: EntityInfo) {
            let index = Int(info.id.raw) - 1
            while entities.count < index { append(.vacant(EntityID(UInt32(entities.count + 1)))) }
            if index < entities.count { entities[index] = info } else { append(info) }
            byKey[info.family, default: [:]][info.keyHash] = info.id
        }

        /// Appends to the index, growing it by a quarter when full rather than doubling
        /// (a doubled index of 305,000 entities left 220,000 entries' room unused).
        mutating func append(_ info: EntityInfo) {
            if entities.count == entities.capacity { entities.reserveCapacity(entities.count + entities.count / 4 + 64) }
            entities.append(info)
        }

        /// Saved entities' keys and labels are read from the database from now on (an id
        /// another entity took since keeps its own).
        mutating func labelsSaved(_ saved: [EntityInfo]) {
            for info in saved {
                let index = Int(info.id.raw) - 1
                if index < entities.count, entities[index].family == info.family, entities[index].keyHash == info.keyHash { texts[info.id] = nil }
            }
            // An emptied table's room goes too (305,000 entries after a start).
            if texts.isEmpty { texts = [:] }
        }

        /// The oldest segment the head holds rows of.
        var oldestHeadSegment: Int64? { head.values.compactMap { $0.blocks.first?.segment }.min() }

        /// Puts a failed seal's blocks (all of `sealing`: seals take turns) back at the
        /// front of their heads.
        mutating func restore() {
            let taken = sealing
            sealing = EntityTable()
            for (id, blocks) in taken.entries {
                var head = self.head.removeValue(forKey: id) ?? Head(width: Int(blocks.first?.width ?? 0), tracking: blocks.first?.tracking ?? 0)
                head.blocks = blocks + head.blocks
                self.head[id] = head
            }
            headSegment = oldestHeadSegment
        }
    }

    public init(path: String, families: [Family], configuration: StoreConfiguration = .init(), logger: Logger) throws {
        self.configuration = configuration
        self.families = Dictionary(uniqueKeysWithValues: families.map { ($0.id, $0) })
        self.logger = logger
        logPath = path + ".log"
        var config = Configuration()
        config.label = "clustermon-timeseries"
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        pool = try DatabasePool(path: path, configuration: config)
        try pool.write { db in
            if try db.tableExists("series"), try !db.tableExists("entities") {
                throw StoreError.notThisFormat("\(path) holds another history format (per-row tables)")
            }
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS entities(id INTEGER PRIMARY KEY, family INTEGER NOT NULL, key TEXT NOT NULL,
                    labels TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, UNIQUE(family, key));
                CREATE TABLE IF NOT EXISTS segments(start INTEGER PRIMARY KEY, span INTEGER);
                CREATE TABLE IF NOT EXISTS rolled(day INTEGER PRIMARY KEY);
                CREATE TABLE IF NOT EXISTS summaries(day INTEGER NOT NULL, family INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(day, family));
                """)
            // Stores written before merged hours existed have no span column.
            if try !db.columns(in: "segments").contains(where: { $0.name == "span" }) {
                try db.execute(sql: "ALTER TABLE segments ADD COLUMN span INTEGER")
            }
        }
        var initial = State()
        try pool.read { db in
            // Labels stay in the database (read there when asked for).
            let rows = try GRDB.Row.fetchCursor(db, sql: "SELECT id, family, key, first, last FROM entities ORDER BY id")
            while let row = try rows.next() {
                let id = EntityID(UInt32(row["id"] as Int64))
                let first: Int64 = row["first"], last: Int64 = row["last"]
                let info = EntityInfo(id: id, family: UInt8(row["family"] as Int64), key: row["key"],
                                      first: first == 0 ? .max : first, last: last == 0 ? .min : last)
                initial.place(info)
            }
            for row in try GRDB.Row.fetchAll(db, sql: "SELECT start, span FROM segments ORDER BY start") {
                let start: Int64 = row["start"]
                initial.segments.append(start)
                if let span: Int64 = row["span"] { initial.spans[start] = span }
            }
            initial.rolledDays = Set(try Int64.fetchAll(db, sql: "SELECT day FROM rolled"))
            initial.summarizedDays = Set(try Int64.fetchAll(db, sql: "SELECT DISTINCT day FROM summaries"))
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'raw\\_%' ESCAPE '\\'")
            initial.rawDays = Set(tables.compactMap { Int64($0.dropFirst(4)) })
        }
        state = Mutex(initial)
        try replay()
    }

    // MARK: - The index

    public func family(_ id: UInt8) -> Family? { families[id] }

    public func lookup(family: UInt8, key: String) -> EntityID? {
        state.withLock { $0.byKey[family]?[KeyHash(key)] }
    }

    public func info(_ id: EntityID) -> EntityInfo? {
        state.withLock { s in Int(id.raw) <= s.entities.count ? s.entities[Int(id.raw) - 1] : nil }
    }

    /// The key and labels held in memory for an entity (nil once the database has them).
    func heldText(_ id: EntityID) -> EntityText? {
        state.withLock { $0.texts[id] }
    }

    /// The labels of many entities (empty for an unknown id): from memory for entities not
    /// yet saved, from the database for the rest.
    public func labels(_ ids: [EntityID]) throws -> [[String: String]] {
        var texts: [String?] = state.withLock { s in
            ids.map { id in
                guard id.raw >= 1, Int(id.raw) <= s.entities.count else { return "" }
                let info = s.entities[Int(id.raw) - 1]
                return info.family == EntityInfo.vacantFamily ? "" : s.texts[id]?.labels
            }
        }
        // Saved entities' labels left memory after their transaction committed: a read
        // begun now sees them.
        if texts.contains(where: { $0 == nil }) {
            try pool.read { db in
                let statement = try db.cachedStatement(sql: "SELECT labels FROM entities WHERE id = ?")
                for index in texts.indices where texts[index] == nil {
                    texts[index] = try String.fetchOne(statement, arguments: [Int64(ids[index].raw)]) ?? ""
                }
            }
        }
        return texts.map { Self.parseLabels($0 ?? "") }
    }

    /// The first and last sample times of many entities, under one lock (nil: unknown).
    public func spans(_ ids: [EntityID]) -> [(first: Int64, last: Int64)?] {
        state.withLock { s in
            ids.map { id in
                guard id.raw >= 1, Int(id.raw) <= s.entities.count else { return nil }
                let info = s.entities[Int(id.raw) - 1]
                return info.family == EntityInfo.vacantFamily ? nil : (info.first, info.last)
            }
        }
    }

    /// Many entities' ids by key, under one lock.
    public func lookup(family: UInt8, keys: [String]) -> [EntityID?] {
        state.withLock { s in keys.map { s.byKey[family]?[KeyHash($0)] } }
    }

    /// The entities of a family that `include` admits (asked with each entity's info).
    public func entities(family: UInt8, where include: (EntityInfo) -> Bool = { _ in true }) -> [EntityInfo] {
        state.withLock { s in
            guard let keys = s.byKey[family] else { return [] }
            var result: [EntityInfo] = []
            for id in keys.values {
                let info = s.entities[Int(id.raw) - 1]
                if include(info) { result.append(info) }
            }
            return result
        }
    }

    /// The entity with this key, registered with `labels` when it is new.
    public func register(family: UInt8, key: String, labels: () -> [String: String]) throws -> EntityID {
        guard families[family] != nil else { throw StoreError.unknownFamily(family) }
        return try state.withLock { s in
            let hash = KeyHash(key)
            if let id = s.byKey[family]?[hash] { return id }
            let id = EntityID(UInt32(s.entities.count + 1))
            let info = EntityInfo(id: id, family: family, keyHash: hash, first: .max, last: .min)
            let text = EntityText(key: key, labels: Self.formatLabels(labels()))
            s.append(info)
            s.byKey[family, default: [:]][hash] = id
            s.unsaved.insert(id)
            s.texts[id] = text
            try s.wal?.append(Self.registration(info, text))
            return id
        }
    }

    // MARK: - Appending

    /// What one `append` did.
    public struct Appended: Sendable, Equatable {
        public var rows = 0
        /// Values appended (one per present metric of each row taken).
        public var samples = 0
        /// Rows refused: not newer than their entity's newest, or of no known entity.
        public var rejected = 0
    }

    /// Appends rows (each entity's rows in time order; a row not newer than the entity's
    /// newest is refused and counted).
    @discardableResult
    public func append(_ rows: [(entity: EntityID, row: SampleRow)]) throws -> Appended {
        try state.withLock { s in
            // The log record: its kind, the row count, then each row after its entity's id.
            var payload: [UInt8] = []
            payload.reserveCapacity(rows.count * 24)
            var done = Appended()
            var applied: [EntityID] = []
            for (entity, row) in rows {
                let index = Int(entity.raw) - 1
                guard index >= 0, index < s.entities.count, let family = families[s.entities[index].family],
                      s.entities[index].last < row.time else { done.rejected += 1; continue }
                let segment = floor(row.time, toMultipleOf: configuration.segment)
                appendVarint(UInt64(entity.raw), to: &payload)
                // In place: one look-up, no removal and insertion per row.
                let whole = !s.relog.isEmpty && s.relog.contains(entity)
                s.head[entity, default: Head(width: family.metrics.count, tracking: family.timeTracking)].append(row, segment: segment, whole: whole, log: &payload)
                applied.append(entity)
                s.wal?.newest = max(s.wal?.newest ?? .min, row.time)
                if s.entities[index].first == .max { s.entities[index].first = row.time }
                s.entities[index].last = row.time
                if s.headSegment == nil || segment < s.headSegment! { s.headSegment = max(segment, s.segments.last.map { $0 + configuration.segment } ?? segment) }
                done.samples += row.present.nonzeroBitCount
                done.rows += 1
            }
            s.counters.samplesAppended += UInt64(done.samples)
            s.counters.rowsRejected += UInt64(done.rejected)
            if done.rows > 0 {
                var record: [UInt8] = [Self.trackedRowsRecord]
                appendVarint(UInt64(done.rows), to: &record)
                record.append(contentsOf: payload)
                do {
                    try s.wal?.append(record)
                } catch {
                    // The rows stay in the head (a seal writes them once the disk takes
                    // them); the log goes on from whole rows for these entities.
                    s.relog.formUnion(applied)
                    throw error
                }
                if !s.relog.isEmpty { s.relog.subtract(applied) }
                s.counters.walBytes = UInt64(s.wal?.bytesWritten ?? 0)
            }
            return done
        }
    }

    // MARK: - Reading

    /// One metric's samples of the given entities in [from, to], in time order (sealed chunks
    /// and the head).
    public func samples(_ entities: [EntityID], metric: Int, from: Int64, to: Int64) throws -> [EntityID: [(time: Int64, value: UInt64)]] {
        try samples(entities, metrics: [metric], from: from, to: to)[0]
    }

    /// Several metrics' samples of the given entities in [from, to], one dictionary per
    /// metric, read in one pass (each head row decoded once).
    public func samples(_ entities: [EntityID], metrics: [Int], from: Int64, to: Int64) throws -> [[EntityID: [(time: Int64, value: UInt64)]]] {
        let columns = try self.columns(entities, metrics: metrics, from: from, to: to)
        return metrics.indices.map { slot in
            var result: [EntityID: [(time: Int64, value: UInt64)]] = [:]
            for (index, id) in entities.enumerated() {
                let range = columns.range(slot, index)
                if !range.isEmpty { result[id] = range.map { (columns.times[slot][$0], columns.values[slot][$0]) } }
            }
            return result
        }
    }

    /// Several metrics' samples of the given entities in [from, to], column by column, read
    /// entity by entity (its sealed chunks, then its head), each in time order. No
    /// allocation per entity: a query of thousands of series fills three arrays per metric.
    public func columns(_ entities: [EntityID], metrics: [Int], from: Int64, to: Int64) throws -> SampleColumns {
        struct Taken { var first: Int64, last: Int64, family: UInt8, blocks: [Block] }
        var taken: [Taken?] = []
        taken.reserveCapacity(entities.count)
        // Under the lock only lookups and references (the blocks are decoded after it).
        let segments = state.withLock { s in
            for id in entities {
                guard id.raw >= 1, Int(id.raw) <= s.entities.count else { taken.append(nil); continue }
                let info = s.entities[Int(id.raw) - 1]
                let head = s.head[id]?.blocks ?? []
                taken.append(Taken(first: info.first, last: info.last, family: info.family,
                                   blocks: s.sealing[id].map { $0 + head } ?? head))
            }
            return Self.keys(s, from: from, to: to, segment: configuration.segment)
        }
        // Entity by entity, in the order asked: its chunks (segment by segment), then its
        // head, so that the columns come out in entity order without a sort.
        let segment = configuration.segment
        return try withChunks(in: segments) { chunks in
            var builder = SampleColumns.Builder(slots: metrics.count, entities: entities.count)
            for (index, entity) in taken.enumerated() {
                guard let entity else { builder.endEntity(); continue }
                if let chunks, Self.mayHaveRows(first: entity.first, last: entity.last, from: from, to: to, segment: segment),
                   let family = families[entity.family] {
                    try chunks.forEach(entities[index]) { data in
                        try builder.append(Chunk.View(data), metrics: metrics, encodings: family.encodings, from: from, to: to)
                    }
                }
                for block in entity.blocks { builder.append(block, metrics: metrics, from: from, to: to) }
                builder.endEntity()
            }
            return builder.finish()
        }
    }

    /// Whether an entity with samples from `first` to `last` may have stored rows in
    /// [from, to] (none yet: `first` is `.max`; a late row sits up to a segment after its time).
    @inline(__always) static func mayHaveRows(first: Int64, last: Int64, from: Int64, to: Int64, segment: Int64) -> Bool {
        first != .max && last >= from - segment && first <= to
    }

    /// Late rows sit in a later chunk than their time's: sorts the lists they put out of order.
    static func restoreTimeOrder<Item>(_ lists: inout [EntityID: [Item]], time: (Item) -> Int64) {
        for (id, list) in lists where zip(list, list.dropFirst()).contains(where: { time($0) > time($1) }) {
            lists[id] = list.sorted { time($0) < time($1) }
        }
    }

    /// The head rows in [from, to], the sealed segments that may hold rows of it, and the
    /// entities' index entries, under one short lock.
    private func snapshot(_ entities: [EntityID], from: Int64, to: Int64) -> ([EntityID: [SampleRow]], [Int64], [EntityID: EntityInfo]) {
        state.withLock { s in
            var heads: [EntityID: [SampleRow]] = [:]
            var infos: [EntityID: EntityInfo] = [:]
            for id in entities {
                guard id.raw >= 1, Int(id.raw) <= s.entities.count else { continue }
                infos[id] = s.entities[Int(id.raw) - 1]
                var rows: [SampleRow] = []
                for block in (s.sealing[id] ?? []) + (s.head[id]?.blocks ?? []) {
                    for row in block.rows where row.time >= from && row.time <= to { rows.append(row) }
                }
                if !rows.isEmpty { heads[id] = rows }
            }
            return (heads, Self.keys(s, from: from, to: to, segment: configuration.segment), infos)
        }
    }

    /// The chunk keys that may hold rows in [from, to]: a chunk holds its span's rows, and
    /// late rows sit in the next segment's chunk.
    static func keys(_ s: State, from: Int64, to: Int64, segment: Int64) -> [Int64] {
        let low = from - segment, high = to + segment
        return s.segments.filter { $0 <= high && $0 + (s.spans[$0] ?? segment) > low }
    }

    /// Stored chunks looked up by entity in a set of segments, in one read transaction.
    struct ChunkLookup {
        let db: Database
        /// Each segment with the statement of its day's table (segments of days without a
        /// table are left out).
        let statements: [OpaquePointer]
        let segments: [Int64]

        init(_ db: Database, segments: [Int64]) throws {
            var statements: [OpaquePointer] = [], kept: [Int64] = []
            for segment in segments {
                let name = TimeSeriesStore.rawTable(day: floorDiv(segment, 86_400_000))
                guard try db.tableExists(name) else { continue }
                statements.append(try db.cachedStatement(sql: "SELECT data FROM \(name) WHERE start = ? AND entity = ?").sqliteStatement)
                kept.append(segment)
            }
            (self.db, self.statements, self.segments) = (db, statements, kept)
        }

        /// Calls `body` with each of the entity's chunks, segment by segment, in place (the
        /// bytes are SQLite's until `body` returns).
        func forEach(_ entity: EntityID, _ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
            for (segment, handle) in zip(segments, statements) {
                // Bound and read through SQLite's C API: the blob is decoded where it lies.
                sqlite3_reset(handle)
                sqlite3_bind_int64(handle, 1, segment)
                sqlite3_bind_int64(handle, 2, Int64(entity.raw))
                let code = sqlite3_step(handle)
                // Reset on every way out: a statement left on its row keeps its read open.
                defer { sqlite3_reset(handle) }
                if code == SQLITE_DONE { continue }
                guard code == SQLITE_ROW else { throw TimeSeriesStore.failure(code, db) }
                let count = Int(sqlite3_column_bytes(handle, 0))
                guard let bytes = sqlite3_column_blob(handle, 0), count > 0 else { continue }
                try body(UnsafeBufferPointer(start: bytes.assumingMemoryBound(to: UInt8.self), count: count))
            }
        }
    }

    /// Calls `body` with a lookup of stored chunks in the segments, inside one read
    /// transaction (nil, and no transaction, when there are none).
    private func withChunks<R>(in segments: [Int64], _ body: (ChunkLookup?) throws -> R) throws -> R {
        if segments.isEmpty { return try body(nil) }
        return try pool.read { db in try body(try ChunkLookup(db, segments: segments)) }
    }

    /// Whole rows of the given entities in [from, to], in time order (sealed chunks and head).
    public func rows(_ entities: [EntityID], from: Int64, to: Int64) throws -> [EntityID: [SampleRow]] {
        let (heads, segments, infos) = snapshot(entities, from: from, to: to)
        var result: [EntityID: [SampleRow]] = [:]
        let wanted: [(id: EntityID, family: Family)] = entities.compactMap { id in
            guard let info = infos[id], Self.mayHaveRows(first: info.first, last: info.last, from: from, to: to, segment: configuration.segment),
                  let family = families[info.family] else { return nil }
            return (id, family)
        }.sorted { $0.id < $1.id }
        try withChunks(in: segments) { chunks in
            guard let chunks else { return }
            for (id, family) in wanted {
                try chunks.forEach(id) { data in
                    for row in try Chunk.decodeRows(Array(data), encodings: family.encodings) where row.time >= from && row.time <= to {
                        result[id, default: []].append(row)
                    }
                }
            }
        }
        for (id, rows) in heads { result[id, default: []].append(contentsOf: rows) }
        Self.restoreTimeOrder(&result) { $0.time }
        return result
    }

    /// One metric of the given entities cut into the grid's buckets: from the raw samples
    /// where they are kept, from the stored hourly buckets of days rolled up where the grid
    /// is whole hours; raw samples win where both exist.
    public func buckets(_ entities: [EntityID], metric: Int, grid: BucketGrid) throws -> [EntityID: [BucketStats]] {
        try buckets(entities, metrics: [metric], grid: grid)[0]
    }

    /// Several metrics of the given entities cut into the grid's buckets, one dictionary per
    /// metric, each sample and stored bucket read once for all. `preferStored`: a rolled-up
    /// day is read from its hourly buckets even while its raw samples are kept (the same
    /// figures, computed by the same rule at rollup, but one row per entity a day instead of
    /// every sample: accounting over long windows reads this way).
    public func buckets(_ entities: [EntityID], metrics: [Int], grid: BucketGrid, preferStored: Bool = false) throws -> [[EntityID: [BucketStats]]] {
        let hourly = grid.step % configuration.bucketWidth == 0 && grid.start % configuration.bucketWidth == 0
        let (rolled, rawDays) = state.withLock { ($0.rolledDays, $0.rawDays) }
        var result = [[EntityID: [BucketStats]]](repeating: [:], count: metrics.count)
        // Days of the grid: each from raw when its raw table exists, else from the buckets.
        var firstDay = floorDiv(grid.start, 86_400_000), lastDay = floorDiv(grid.end - 1, 86_400_000)
        // Days beyond the entities' samples (and a day's margin) hold nothing: a grid of
        // centuries costs what its data costs.
        let (oldest, newest) = state.withLock { s in
            entities.reduce((Int64.max, Int64.min)) { bounds, id in
                guard let info = s.entities[safe: Int(id.raw) - 1], info.first != .max else { return bounds }
                return (min(bounds.0, info.first), max(bounds.1, info.last))
            }
        }
        guard oldest <= newest else { return result }
        firstDay = max(firstDay, floorDiv(oldest - configuration.gapLimit, 86_400_000) - 1)
        lastDay = min(lastDay, floorDiv(newest + configuration.gapLimit, 86_400_000) + 1)
        var rawSpans: [(Int64, Int64)] = []
        var bucketDays: [Int64] = []
        var day = firstDay
        while day <= lastDay {
            let rawAround = rawDays.contains(day) && rawDays.contains(day - 1) && rawDays.contains(day + 1)
            let useBuckets = hourly && rolled.contains(day) && (preferStored || !rawAround)
            if useBuckets { bucketDays.append(day) } else {
                let lower = max(grid.start, day * 86_400_000), upper = min(grid.end, (day + 1) * 86_400_000)
                if let last = rawSpans.last, last.1 == lower { rawSpans[rawSpans.count - 1].1 = upper } else { rawSpans.append((lower, upper)) }
            }
            day += 1
        }
        let empty = [BucketStats](repeating: BucketStats(), count: grid.count)
        var partial: [BucketStats] = []
        for (lower, upper) in rawSpans {
            let parts = grid.clipped(lower, upper)
            if parts.isEmpty { continue }
            let fetched = try samples(entities, metrics: metrics, from: lower - configuration.gapLimit, to: upper + configuration.gapLimit)
            for (slot, metric) in metrics.enumerated() {
                for (id, fetchedList) in fetched[slot] {
                    guard let info = info(id), let definition = families[info.family]?.metrics[safe: metric] else { continue }
                    var list = fetchedList
                    try withPrevious(&list, of: info, metric: metric, definition: definition, lower: lower)
                    var buckets = result[slot][id] ?? empty
                    // The span's share of each bucket it overlaps, cut at the span's edges
                    // (a bucket longer than a day may straddle a raw span and stored days).
                    for (first, part) in parts {
                        partial = [BucketStats](repeating: BucketStats(), count: part.count)
                        part.accumulate(list, metric: definition, origin: info.first, into: &partial)
                        for (offset, stats) in partial.enumerated() { buckets[first + offset].merge(stats) }
                    }
                    result[slot][id] = buckets
                }
            }
        }
        if !bucketDays.isEmpty {
            let stored = try storedBuckets(entities, metrics: metrics, days: bucketDays)
            for slot in metrics.indices {
                for (id, hours) in stored[slot] {
                    var buckets = result[slot][id] ?? empty
                    for (start, stats) in hours {
                        guard let index = grid.bucket(start) else { continue }
                        buckets[index].merge(stats)
                    }
                    result[slot][id] = buckets
                }
            }
        }
        return result
    }

    /// A counter's samples fetched from `lower - gapLimit` on miss the sample before a gap
    /// that crosses `lower`: the increase across the gap (which lands at the gap's end) needs
    /// it. Puts that sample first, wherever it is, so that every window counts each increase
    /// exactly once whatever its edges.
    func withPrevious(_ samples: inout [(time: Int64, value: UInt64)], of info: EntityInfo, metric: Int, definition: MetricDefinition,
                      lower: Int64) throws {
        guard definition.kind == .counter, let first = samples.first, first.time >= lower, info.first < first.time else { return }
        let to = lower - configuration.gapLimit - 1
        var from = to - configuration.bucketWidth
        while true {
            let found = try self.samples([info.id], metric: metric, from: max(from, info.first), to: to)[info.id] ?? []
            if let previous = found.last {
                samples.insert(previous, at: 0)
                return
            }
            if from <= info.first { return }
            from = info.first
        }
    }

    /// Days with day summaries.
    public var summarizedDays: Set<Int64> { state.withLock { $0.summarizedDays } }

    /// The time from the oldest entity's first sample to the newest sample (Unix
    /// milliseconds), nil when nothing was ever written. Retention may have dropped the
    /// oldest of it: a bound, not a promise of data.
    public var extent: (first: Int64, last: Int64)? {
        state.withLock { s in
            var first = Int64.max, last = Int64.min
            for info in s.entities where info.first != .max {
                first = min(first, info.first)
                last = max(last, info.last)
            }
            return first <= last ? (first, last) : nil
        }
    }

    static let statColumns: [ValueEncoding] = [.integer, .float, .float, .float, .float, .integer, .integer, .float, .integer]

    /// Above this many entities a day's bucket table is read whole (one pass) rather than
    /// looked up entity by entity.
    static let scanThreshold = 256

    func storedBuckets(_ entities: [EntityID], metrics: [Int], days: [Int64]) throws -> [[EntityID: [(Int64, BucketStats)]]] {
        var result = [[EntityID: [(Int64, BucketStats)]]](repeating: [:], count: metrics.count)
        let wanted = entities.count > Self.scanThreshold ? Set(entities.map { Int64($0.raw) }) : nil
        try pool.read { db in
            func take(_ id: Int64, _ data: Data) throws {
                let stats = try Self.decodeBuckets([UInt8](data), metrics: metrics)
                for slot in metrics.indices where !stats[slot].isEmpty {
                    result[slot][EntityID(UInt32(id)), default: []].append(contentsOf: stats[slot])
                }
            }
            for day in days {
                let table = Self.hourTable(day: day)
                guard try db.tableExists(table) else { continue }
                if let wanted {
                    let rows = try Row.fetchCursor(db, sql: "SELECT entity, data FROM \(table)")
                    while let row = try rows.next() {
                        let id: Int64 = row[0]
                        if wanted.contains(id) { try take(id, row[1]) }
                    }
                } else {
                    let statement = try db.cachedStatement(sql: "SELECT data FROM \(table) WHERE entity = ?")
                    for id in entities {
                        guard let data = try Data.fetchOne(statement, arguments: [Int64(id.raw)]) else { continue }
                        try take(Int64(id.raw), data)
                    }
                }
            }
        }
        return result
    }

    // MARK: - Sealing, rollups, retention

    /// Seals the segments that ended at least `grace` ago, rolls up finished days, drops
    /// what retention or the size bound says. Safe to call often.
    public func maintain(now: Int64) throws {
        guard maintenance.withLock({ running in
            if running { return false }
            running = true
            return true
        }) else { return }
        defer { maintenance.withLock { $0 = false } }
        while let segment = state.withLock({ $0.headSegment }), segment + configuration.segment + configuration.grace <= now {
            try seal(through: segment + configuration.segment)
        }
        try saveNewEntities()
        try compact()
        try rollUp(now: now)
        try expire(now: now)
    }

    /// Saves the entities registered since the last seal (their labels; no sealed time yet),
    /// so that their labels leave memory at the next maintenance instead of the next seal:
    /// after a start, 305,000 new entities' labels held 127 MiB (MemoryProbe, 5,000 nodes x
    /// 30 pods) until the first seal, five minutes and more later. A crash after it replays
    /// their registrations from the log as entities already known.
    func saveNewEntities() throws {
        sealSerial.lock()
        defer { sealSerial.unlock() }
        let infos = state.withLock { s in s.unsaved.sorted().map { (s.entities[Int($0.raw) - 1], s.texts[$0] ?? EntityText(key: "", labels: "")) } }
        guard !infos.isEmpty else { return }
        try pool.write { db in
            let insert = try db.cachedStatement(sql: "INSERT INTO entities(id, family, key, labels, first, last) VALUES (?, ?, ?, ?, 0, 0) ON CONFLICT(id) DO NOTHING")
            for (info, text) in infos {
                try insert.execute(arguments: [Int64(info.id.raw), Int64(info.family), text.key, text.labels])
            }
        }
        state.withLock { s in
            let saved = infos.map(\.0).filter { s.unsaved.remove($0.id) != nil }
            s.labelsSaved(saved)
        }
    }

    /// Seals everything the head holds (a graceful stop): after it the database holds every
    /// row in its compact form and the log is empty.
    public func close() throws {
        // Ingest may still append while the head is sealed (it stops on its own): sealed
        // again until the head is empty when the log closes, a few times at most (what a
        // last append leaves is in the log, replayed at the next start).
        for attempt in 1...3 {
            let newest = state.withLock { s in s.head.values.compactMap(\.lastTime).max() }
            if let newest {
                try seal(through: floor(newest, toMultipleOf: configuration.segment) + configuration.segment)
            } else {
                try seal(through: nil)
            }
            let closed = state.withLock { s -> Bool in
                guard attempt == 3 || s.head.values.allSatisfy({ $0.blocks.isEmpty }) else { return false }
                s.wal?.sync()
                s.wal?.closeFile()
                s.wal = nil
                return true
            }
            if closed { return }
        }
    }

    /// Moves the head's blocks of segments before `end` (all with nil) into chunks keyed by
    /// their segment, in one transaction with the entities registered since the last seal;
    /// appends go to a new log file, and files whose rows are all sealed go.
    func seal(through end: Int64?) throws {
        sealSerial.lock()
        defer { sealSerial.unlock() }
        struct Work {
            /// The blocks taken (`sealing` as the slicing left it: readers still see them there).
            var taken = EntityTable<[Block]>()
            /// In id order, then the new entities that had nothing to seal (ids: an entity's
            /// 40-byte info each was 12 MB more during a seal of 305,000).
            var entities: [EntityID] = []
            /// The new entities' infos, to tell that an id still names them once saved.
            var saving: [EntityInfo] = []
            /// The keys and labels of those not yet in the database.
            var texts: [EntityID: EntityText] = [:]
        }
        // Under the lock, only moves, a slice of entities at a time (one pass over 300,000
        // heads held ingest and every reader for a quarter of a second and more): each
        // entity's blocks of the sealed segments go to `sealing` (readers still see them);
        // then the log switches to a new file.
        let floor = state.withLock { s in s.segments.last.map { $0 + configuration.segment } ?? .min }
        var entities: [EntityID] = []
        var next = 0
        while state.withLock({ s -> Bool in
            let upper = min(next + max(configuration.sealSlice, 1), s.head.upperBound)
            for index in next..<upper {
                let id = EntityID(UInt32(index + 1))
                guard var head = s.head.removeValue(forKey: id) else { continue }
                let count = head.blocks.prefix { end == nil || $0.segment < end! }.count
                if count == 0 {
                    s.head[id] = head
                    continue
                }
                // The head's array keeps the sealed blocks (it is the only reference once
                // the head lets go of it), and the head gets the rest in a new one: one
                // array made per entity (a copy for the seal's own list, another for
                // `sealing` and a third for the rest were 60 MB at 305,000 entities).
                var moved = head.blocks
                head.blocks = []
                if count < moved.count {
                    head.blocks = Array(moved[count...])
                    moved.removeLast(moved.count - count)
                    s.head[id] = head
                }
                // Empty at a seal's start (seals take turns, and each empties it).
                s.sealing[id] = moved
                // The index records each entity's newest sealed time.
                entities.append(id)
            }
            next = upper
            return upper < s.head.upperBound
        }) {}
        let work: Work
        do {
            work = try state.withLock { s in
            var work = Work(taken: s.sealing, entities: entities)
            // And the entities registered since the last seal that had nothing to seal.
            for id in s.unsaved where s.sealing[id] == nil { work.entities.append(id) }
            for id in s.unsaved {
                work.texts[id] = s.texts[id]
                work.saving.append(s.entities[Int(id.raw) - 1])
            }
            s.unsaved = []
            if let current = s.wal {
                current.closeFile()
                s.retired.append((current.path, current.newest))
            }
            let generation = (s.wal?.generation ?? 0) + 1
            // Every entity not yet in the database is saved by this seal (an entity registered
            // after this point is named in the new file); should the seal fail, they stay
            // unsaved and the old file, which names them, stays.
            s.wal = try WriteAheadLog(creating: "\(logPath).\(generation)", generation: generation)
            s.headSegment = s.oldestHeadSegment
            return work
            }
        } catch {
            // No new log file: the blocks go back to the head, sealed another time.
            state.withLock { s in s.restore() }
            throw error
        }
        // Outside it, the rows become chunks, entity by entity as the transaction writes them.
        var outcome = SealOutcome()
        do {
            try write(work.taken, floor: floor, work.entities, texts: work.texts, into: &outcome)
        } catch {
            // Nothing is lost: the blocks go back to the head (their log files stay), the
            // entities stay to be saved, and the next seal tries again.
            state.withLock { s in
                s.restore()
                for id in work.texts.keys { s.unsaved.insert(id) }
                s.counters.sealFailures += 1
            }
            throw error
        }
        // Sealed: the blocks leave `sealing`, and log files holding only sealed rows go.
        let through = end ?? .max
        let (obsolete, released) = state.withLock { s in
            // Every block in `sealing` is this seal's (seals take turns): the table goes
            // whole, and is freed after the lock.
            let released = s.sealing
            s.sealing = EntityTable()
            // Saved entities' labels are read from the database from now on.
            let saved = work.saving.filter { !s.unsaved.contains($0.id) }
            s.labelsSaved(saved)
            if end != nil {
                s.segments = Array(Set(s.segments).union(outcome.segments)).sorted()
                for segment in outcome.segments { s.rawDays.insert(floorDiv(segment, 86_400_000)) }
            }
            let gone = s.retired.filter { $0.newest < through }.map(\.path)
            s.retired.removeAll { $0.newest < through }
            s.counters.seals += 1
            s.counters.chunksSealed += UInt64(outcome.chunks)
            s.counters.sealedBytes += UInt64(outcome.bytes)
            s.counters.sealedSamples += UInt64(outcome.samples)
            return (gone, released)
        }
        withExtendedLifetime(released) {}
        for path in obsolete { unlink(path) }
    }

    /// What a seal wrote.
    struct SealOutcome {
        var chunks = 0, bytes = 0, samples = 0
        var segments: Set<Int64> = []
        /// Each entity's newest sealed time, at its id's place (.min: nothing sealed).
        var last: [Int64] = []
    }

    /// One seal's transaction: the taken blocks' rows as chunks, a block's rows in its
    /// segment's chunk, or, when that segment was sealed already (late rows), in the next
    /// one's (a chunk already there, from late rows or a replay, is merged with the new one);
    /// the entities with their newest sealed times. Each entity's rows are decoded into
    /// columns and encoded as the transaction writes them: the columns of every sealed row
    /// at once (8 bytes a value) raised the resident set by 808 MiB during a seal of 305,000
    /// entities' 5 minutes (MemoryProbe), which the allocator kept after it.
    private func write(_ taken: EntityTable<[Block]>, floor: Int64, _ entities: [EntityID], texts: [EntityID: EntityText],
                       into outcome: inout SealOutcome) throws {
        for blocks in taken.values { for block in blocks where block.rowCount > 0 { outcome.segments.insert(max(block.segment, floor)) } }
        let kinds = state.withLock { s in
            taken.entries.map { id, _ in Int(id.raw) <= s.entities.count ? s.entities[Int(id.raw) - 1].family : EntityInfo.vacantFamily }
        }
        outcome.last = [Int64](repeating: .min, count: taken.upperBound)
        try pool.write { db in
            var created: Set<Int64> = []
            for segment in outcome.segments.sorted() {
                let day = floorDiv(segment, 86_400_000)
                if created.insert(day).inserted {
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(Self.rawTable(day: day))(start INTEGER NOT NULL, entity INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(start, entity)) WITHOUT ROWID")
                }
                try db.execute(sql: "INSERT OR IGNORE INTO segments(start) VALUES (?)", arguments: [segment])
            }
            // Each day's insert, prepared once and bound through SQLite's C API (GRDB's
            // arguments, a `Data` copy of each chunk and the statement's text built per
            // chunk were a third of a seal's time).
            var inserts: [Int64: OpaquePointer] = [:]
            func insert(_ bytes: [UInt8], segment: Int64, entity: EntityID) throws -> Bool {
                let day = floorDiv(segment, 86_400_000)
                let handle: OpaquePointer
                if let known = inserts[day] {
                    handle = known
                } else {
                    handle = try db.cachedStatement(sql: "INSERT OR IGNORE INTO \(Self.rawTable(day: day))(start, entity, data) VALUES (?, ?, ?)").sqliteStatement
                    inserts[day] = handle
                }
                try bytes.withUnsafeBufferPointer { buffer in
                    sqlite3_bind_int64(handle, 1, segment)
                    sqlite3_bind_int64(handle, 2, Int64(entity.raw))
                    // SQLITE_STATIC (nil): the bytes are read by the step, before they go.
                    sqlite3_bind_blob(handle, 3, buffer.baseAddress, Int32(buffer.count), nil)
                    try Self.step(handle, db)
                }
                return sqlite3_changes(db.sqliteConnection) > 0
            }
            for ((entity, blocks), kind) in zip(taken.entries, kinds) {
                guard let family = families[kind] else { continue }
                // A head's blocks are in segment order (its rows in time order), so a segment's
                // blocks are consecutive: no table of segments (most entities have one). Should
                // two chunks of one segment come out all the same, the second merges with the first.
                var bySegment: [(segment: Int64, rows: Chunk.Columns)] = []
                let rowCount = blocks.reduce(0) { $0 + Int($1.rowCount) }
                for block in blocks {
                    let segment = max(block.segment, floor)
                    if bySegment.last?.segment != segment {
                        bySegment.append((segment, Chunk.Columns(width: family.metrics.count, capacity: bySegment.isEmpty ? rowCount : Int(block.rowCount))))
                    }
                    bySegment[bySegment.count - 1].rows.appendRows(of: block)
                }
                for (segment, rows) in bySegment where rows.count > 0 {
                    let bytes = Chunk.encode(rows, encodings: family.encodings)
                    outcome.chunks += 1
                    outcome.bytes += bytes.count
                    outcome.samples += rows.sampleCount
                    outcome.last[Int(entity.raw) - 1] = max(outcome.last[Int(entity.raw) - 1], rows.times.last!)
                    // A chunk already there for this segment (rows sealed twice after a crash
                    // between commit and log switch are the same rows): the new one adds late rows.
                    if try insert(bytes, segment: segment, entity: entity) { continue }
                    let table = Self.rawTable(day: floorDiv(segment, 86_400_000))
                    if let existing = try Data.fetchOne(db, sql: "SELECT data FROM \(table) WHERE start = ? AND entity = ?", arguments: [segment, Int64(entity.raw)]) {
                        let merged = try Chunk.merge([[UInt8](existing), bytes], encodings: family.encodings)
                        try db.execute(sql: "REPLACE INTO \(table)(start, entity, data) VALUES (?, ?, ?)",
                                       arguments: [segment, Int64(entity.raw), Data(merged)])
                    }
                }
            }
            // The index keeps each entity's first and newest *sealed* times: a replayed log
            // brings back the rows after them.
            let upsert = try db.cachedStatement(sql: """
                INSERT INTO entities(id, family, key, labels, first, last) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET first = CASE WHEN first = 0 THEN excluded.first ELSE first END, last = max(last, excluded.last)
                """)
            let handle = upsert.sqliteStatement
            var next = 0
            while next < entities.count {
                // Their infos a slice at a time under the lock, not all at once.
                let slice = entities[next..<min(next + 4096, entities.count)]
                next = slice.endIndex
                let infos = state.withLock { s in slice.map { s.entities[Int($0.raw) - 1] } }
                // An id forgotten meanwhile (retention) is not written back.
                for info in infos where info.family != EntityInfo.vacantFamily {
                    let index = Int(info.id.raw) - 1
                    let last: Int64? = index < outcome.last.count && outcome.last[index] != .min ? outcome.last[index] : nil
                    // A saved entity's row keeps its key and labels (the conflict's update leaves them).
                    let text = texts[info.id]
                    sqlite3_bind_int64(handle, 1, Int64(info.id.raw))
                    sqlite3_bind_int64(handle, 2, Int64(info.family))
                    sqlite3_bind_text(handle, 3, text?.key ?? "", -1, Self.transient)
                    sqlite3_bind_text(handle, 4, text?.labels ?? "", -1, Self.transient)
                    sqlite3_bind_int64(handle, 5, last != nil && info.first != .max ? info.first : 0)
                    sqlite3_bind_int64(handle, 6, last ?? 0)
                    try Self.step(handle, db)
                }
            }
        }
    }

    /// Merges each finished hour's segment chunks into one chunk per entity, keyed by the
    /// hour. The hour's key is marked as spanning the hour before any chunk is merged, so that
    /// readers (and a restart halfway) find every row either in a merged chunk or in the
    /// segments not yet merged; merging again is harmless.
    func compact() throws {
        let span = configuration.compactTo
        guard span > configuration.segment, span % configuration.segment == 0 else { return }
        let hours = state.withLock { s -> [Int64] in
            guard let last = s.segments.last else { return [] }
            var hours = Set<Int64>()
            for key in s.segments {
                let hour = floor(key, toMultipleOf: span)
                // Finished (the segment after the hour is sealed too) and not merged yet.
                if hour + span <= last && (key != hour || s.spans[key] == nil) { hours.insert(hour) }
            }
            return hours.sorted()
        }
        for hour in hours {
            let keys = state.withLock { s in s.segments.filter { $0 >= hour && $0 < hour + span } }
            let table = Self.rawTable(day: floorDiv(hour, 86_400_000))
            try pool.write { db in
                try db.execute(sql: "INSERT INTO segments(start, span) VALUES (?, ?) ON CONFLICT(start) DO UPDATE SET span = excluded.span", arguments: [hour, span])
            }
            state.withLock { s in
                s.spans[hour] = span
                if !s.segments.contains(hour) { s.segments = (s.segments + [hour]).sorted() }
            }
            let maxID = state.withLock { Int64($0.entities.count) }
            var lower: Int64 = 1
            while lower <= maxID {
                let upper = lower + 4096
                var chunks: [Int64: [[UInt8]]] = [:]
                try pool.read { db in
                    guard try db.tableExists(table) else { return }
                    for key in keys {
                        let rows = try GRDB.Row.fetchCursor(db, sql: "SELECT entity, data FROM \(table) WHERE start = ? AND entity >= ? AND entity < ?", arguments: [key, lower, upper])
                        while let row = try rows.next() { chunks[row["entity"], default: []].append([UInt8](row["data"] as Data)) }
                    }
                }
                var merged: [(Int64, Data)] = []
                for (entity, parts) in chunks {
                    guard let info = info(EntityID(UInt32(truncatingIfNeeded: entity))), let family = families[info.family] else { continue }
                    merged.append((entity, Data(try Chunk.merge(parts, encodings: family.encodings))))
                }
                try pool.write { db in
                    for key in keys where key != hour {
                        try db.execute(sql: "DELETE FROM \(table) WHERE start = ? AND entity >= ? AND entity < ?", arguments: [key, lower, upper])
                    }
                    let statement = try db.cachedStatement(sql: "REPLACE INTO \(table)(start, entity, data) VALUES (?, ?, ?)")
                    for (entity, data) in merged { try statement.execute(arguments: [hour, entity, data]) }
                }
                lower = upper
            }
            try pool.write { db in
                for key in keys where key != hour { try db.execute(sql: "DELETE FROM segments WHERE start = ?", arguments: [key]) }
            }
            state.withLock { s in
                s.segments.removeAll { $0 > hour && $0 < hour + span }
                s.counters.compactions += 1
            }
        }
    }

    /// Stores the hourly buckets of each finished day whose raw chunks are here (a day is
    /// finished once the pairs crossing its end are sealed).
    func rollUp(now: Int64) throws {
        let (candidates, headSegment) = state.withLock { s -> ([Int64], Int64?) in
            (s.rawDays.filter { !s.rolledDays.contains($0) }.sorted(), s.headSegment)
        }
        for day in candidates {
            // Finished: the pairs crossing its end are sealed (or never came).
            let dayEnd = (day + 1) * 86_400_000
            guard dayEnd + configuration.gapLimit + configuration.grace <= now,
                  headSegment.map({ $0 >= dayEnd + configuration.gapLimit }) ?? true else { continue }
            let grid = BucketGrid(start: day * 86_400_000, step: configuration.bucketWidth, count: Int(86_400_000 / configuration.bucketWidth),
                                  gapLimit: configuration.gapLimit)
            // Every entity seen that day.
            let entities = state.withLock { s in s.entities.filter { $0.family != EntityInfo.vacantFamily && $0.first < dayEnd && $0.last >= grid.start - configuration.gapLimit } }
            var rows: [(EntityID, [UInt8])] = []
            var summaries: [UInt8: DaySummary] = [:]
            for (id, family) in families where !family.summarized.isEmpty { summaries[id] = DaySummary(day: day, family: id, metrics: family.summarized) }
            for batch in stride(from: 0, to: entities.count, by: 512) {
                let slice = entities[batch..<min(batch + 512, entities.count)]
                let all = try self.rows(slice.map(\.id), from: grid.start - configuration.gapLimit, to: grid.end + configuration.gapLimit)
                for info in slice {
                    guard let family = families[info.family], let list = all[info.id], !list.isEmpty else { continue }
                    var blob: [UInt8] = []
                    var any = false
                    var hours: [[BucketStats]] = []
                    for (metric, definition) in family.metrics.enumerated() {
                        let bit = UInt64(1) << UInt64(metric)
                        var samples = list.compactMap { $0.present & bit != 0 ? (time: $0.time, value: $0.values[metric]) : nil }
                        try withPrevious(&samples, of: info, metric: metric, definition: definition, lower: grid.start)
                        let buckets = grid.accumulate(samples, metric: definition, origin: info.first)
                        let part = Self.encodeBuckets(buckets, grid: grid)
                        any = any || part.count > 1
                        appendVarint(UInt64(part.count), to: &blob)
                        blob.append(contentsOf: part)
                        hours.append(buckets)
                    }
                    if any {
                        rows.append((info.id, blob))
                        summaries[info.family]?.add(info.id, hours: hours)
                    }
                }
            }
            try pool.write { db in
                let table = Self.hourTable(day: day)
                try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(table)(entity INTEGER PRIMARY KEY, data BLOB NOT NULL)")
                let insert = try db.cachedStatement(sql: "REPLACE INTO \(table)(entity, data) VALUES (?, ?)")
                for (id, blob) in rows { try insert.execute(arguments: [Int64(id.raw), Data(blob)]) }
                try db.execute(sql: "INSERT OR IGNORE INTO rolled(day) VALUES (?)", arguments: [day])
                let summary = try db.cachedStatement(sql: "REPLACE INTO summaries(day, family, data) VALUES (?, ?, ?)")
                for (family, table) in summaries { try summary.execute(arguments: [day, Int64(family), Data(table.encoded())]) }
            }
            state.withLock { s in
                s.rolledDays.insert(day)
                if !summaries.isEmpty { s.summarizedDays.insert(day) }
                s.counters.rollups += 1
            }
        }
    }

    /// One metric's hourly buckets as a chunk: a row per non-empty bucket (its start), the
    /// stats as columns.
    static func encodeBuckets(_ buckets: [BucketStats], grid: BucketGrid) -> [UInt8] {
        var rows: [SampleRow] = []
        for (index, stats) in buckets.enumerated() where !stats.isEmpty {
            rows.append(SampleRow(time: grid.start + grid.step * Int64(index), present: 0x1FF, values: [
                stats.count, stats.sum.bitPattern, stats.min.bitPattern, stats.max.bitPattern, stats.last.bitPattern,
                UInt64(bitPattern: stats.lastTime), stats.increase, stats.integral.bitPattern, UInt64(bitPattern: stats.covered),
            ]))
        }
        return rows.isEmpty ? [0] : Chunk.encode(rows[...], encodings: statColumns)
    }

    static func decodeBuckets(_ blob: [UInt8], metrics: [Int]) throws -> [[(Int64, BucketStats)]] {
        var result = [[(Int64, BucketStats)]](repeating: [], count: metrics.count)
        try blob.withUnsafeBufferPointer { buffer in
            var cursor = ByteCursor(buffer)
            var index = 0
            while !cursor.atEnd {
                let length = try cursor.count()
                let part = try cursor.bytes(length)
                defer { index += 1 }
                guard metrics.contains(index) else { continue }
                let bytes = Array(part)
                if bytes == [0] { continue }
                let decoded = try Chunk.decodeRows(bytes, encodings: statColumns).map { row in
                    var stats = BucketStats()
                    stats.count = row.values[0]
                    stats.sum = Double(bitPattern: row.values[1])
                    stats.min = Double(bitPattern: row.values[2])
                    stats.max = Double(bitPattern: row.values[3])
                    stats.last = Double(bitPattern: row.values[4])
                    stats.lastTime = Int64(bitPattern: row.values[5])
                    stats.increase = row.values[6]
                    stats.integral = Double(bitPattern: row.values[7])
                    stats.covered = Int64(bitPattern: row.values[8])
                    return (row.time, stats)
                }
                for (slot, metric) in metrics.enumerated() where metric == index { result[slot] = decoded }
            }
        }
        return result
    }

    /// Drops raw days past the raw retention and bucket days past theirs (whole tables), then
    /// the oldest days while the database is over its size bound; forgets entities with
    /// nothing left.
    func expire(now: Int64) throws {
        let rawCutoff = floorDiv(now - configuration.rawRetention, 86_400_000)
        let bucketCutoff = floorDiv(now - configuration.bucketRetention, 86_400_000)
        let (rawDays, hourDays) = state.withLock { s in (s.rawDays, s.rolledDays) }
        for day in rawDays where day < rawCutoff { try drop(raw: day) }
        for day in hourDays where day < bucketCutoff { try drop(hours: day) }
        while try liveBytes() > configuration.maxBytes {
            let (raw, hours) = state.withLock { s in (s.rawDays.sorted(), s.rolledDays.sorted()) }
            if raw.count > 1 {
                logger.warning("history over its size bound; dropping its oldest day of raw chunks", metadata: ["day": "\(raw[0])", "limit": "\(configuration.maxBytes)"])
                try drop(raw: raw[0])
            } else if hours.count > 1 {
                logger.warning("history over its size bound; dropping its oldest day of hourly buckets", metadata: ["day": "\(hours[0])", "limit": "\(configuration.maxBytes)"])
                try drop(hours: hours[0])
            } else if let day = raw.first, let oldest = state.withLock({ s in s.segments.first { floorDiv($0, 86_400_000) == day } }),
                      state.withLock({ s in s.segments.filter { floorDiv($0, 86_400_000) == day }.count }) > 1 {
                // The newest day alone is over the bound: its oldest hour goes (the pages it
                // frees are reused; the day's buckets will show the gap in their coverage).
                let cut = floor(oldest, toMultipleOf: 3_600_000) + 3_600_000
                logger.warning("history over its size bound with one day of raw chunks; dropping its oldest hour",
                               metadata: ["from": "\(oldest)", "to": "\(cut)", "limit": "\(configuration.maxBytes)"])
                try drop(raw: day, before: cut)
            } else { break }
        }
        // Entities with no sample left anywhere are forgotten: retention drops whole days,
        // so an entity lives as long as the day of its last sample is kept.
        let horizon = min(bucketCutoff, rawCutoff) * 86_400_000
        let gone = state.withLock { s in s.entities.filter { $0.family != EntityInfo.vacantFamily && $0.last != .min && $0.last < horizon && s.head[$0.id] == nil }.map(\.id) }
        if !gone.isEmpty {
            try pool.write { db in
                let statement = try db.cachedStatement(sql: "DELETE FROM entities WHERE id = ?")
                for id in gone { try statement.execute(arguments: [Int64(id.raw)]) }
            }
            state.withLock { s in
                for id in gone {
                    let info = s.entities[Int(id.raw) - 1]
                    s.byKey[info.family]?[info.keyHash] = nil
                    s.entities[Int(id.raw) - 1] = .vacant(id)
                }
                s.counters.entitiesForgotten += UInt64(gone.count)
            }
        }
    }

    func drop(raw day: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "DROP TABLE IF EXISTS \(Self.rawTable(day: day))")
            try db.execute(sql: "DELETE FROM segments WHERE start >= ? AND start < ?", arguments: [day * 86_400_000, (day + 1) * 86_400_000])
        }
        state.withLock { s in
            s.rawDays.remove(day)
            s.segments.removeAll { floorDiv($0, 86_400_000) == day }
            s.spans = s.spans.filter { floorDiv($0.key, 86_400_000) != day }
            s.counters.tablesDropped += 1
        }
    }

    /// Deletes a raw day's chunks keyed before `cut` (the size bound's last resort).
    func drop(raw day: Int64, before cut: Int64) throws {
        let keys = state.withLock { s in s.segments.filter { floorDiv($0, 86_400_000) == day && $0 < cut } }
        try pool.write { db in
            try db.execute(sql: "DELETE FROM \(Self.rawTable(day: day)) WHERE start < ?", arguments: [cut])
            try db.execute(sql: "DELETE FROM segments WHERE start >= ? AND start < ?", arguments: [day * 86_400_000, cut])
        }
        state.withLock { s in
            s.segments.removeAll { keys.contains($0) }
            for key in keys { s.spans[key] = nil }
            s.counters.tablesDropped += 1
        }
    }

    func drop(hours day: Int64) throws {
        try pool.write { db in
            try db.execute(sql: "DROP TABLE IF EXISTS \(Self.hourTable(day: day))")
            try db.execute(sql: "DELETE FROM rolled WHERE day = ?", arguments: [day])
            try db.execute(sql: "DELETE FROM summaries WHERE day = ?", arguments: [day])
        }
        state.withLock { s in
            s.rolledDays.remove(day)
            s.summarizedDays.remove(day)
            s.counters.tablesDropped += 1
        }
    }

    /// Bytes in the database's used pages.
    public func liveBytes() throws -> Int64 {
        try pool.read { db in
            let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            return (pages - free) * pageSize
        }
    }

    public var counters: StoreCounters { state.withLock { $0.counters } }
    /// Entities forgotten by retention since the store opened: an id a caller kept from
    /// before may no longer be valid when this moved.
    public var entitiesForgotten: UInt64 { state.withLock { $0.counters.entitiesForgotten } }

    /// Unix milliseconds from which `maintain` seals the head's oldest segment (its end and
    /// the grace after it); nil while the head holds no rows. A maintenance loop that wakes
    /// then, instead of at its next round, holds up to a round's rows less in the head.
    public var nextSealDue: Int64? {
        state.withLock { s in s.headSegment.map { $0 + configuration.segment + configuration.grace } }
    }

    /// Series in the head (entities with rows in memory x their metrics) and the head's bytes.
    public func headFootprint() -> (series: Int, bytes: Int) {
        state.withLock { s in
            var series = 0, bytes = 0
            for head in s.head.values {
                series += head.width
                bytes += head.byteCount + 48
            }
            return (series, bytes)
        }
    }

    // MARK: - The log

    /// A log record's first byte: an entity's registration (1); rows (4, as `Block` encodes
    /// them); rows as logs written before hold them (2: before the bitmap encoding; 3:
    /// before time-tracking metrics were predicted; both replayed, no longer written).
    static let registrationRecord: UInt8 = 1, legacyRowsRecord: UInt8 = 2, rowsRecord: UInt8 = 3, trackedRowsRecord: UInt8 = 4

    static func registration(_ info: EntityInfo, _ text: EntityText) -> [UInt8] {
        var payload: [UInt8] = [registrationRecord]
        appendVarint(UInt64(info.id.raw), to: &payload)
        payload.append(info.family)
        appendString(text.key, to: &payload)
        appendString(text.labels, to: &payload)
        return payload
    }

    /// The log files (`<path>.log.<generation>`), oldest first.
    func logFiles() -> [(generation: UInt64, path: String)] {
        let directory = (logPath as NSString).deletingLastPathComponent
        let prefix = (logPath as NSString).lastPathComponent + "."
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (UInt64, String)? in
            guard name.hasPrefix(prefix), let generation = UInt64(name.dropFirst(prefix.count)) else { return nil }
            return (generation, (directory as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }
    }

    /// Replays every log file: rows newer than their entity's newest sealed row come back to
    /// the head (older ones were sealed before the files could go). The files stay until a
    /// seal covers their rows; appends go to a new one.
    func replay() throws {
        var replayed = 0, torn = false
        let files = logFiles()
        try state.withLock { s in
            // A row is relative to the previous row of its entity, across files in order.
            var previous: [EntityID: [UInt64]] = [:]
            for (_, path) in files {
                guard let (_, records, wasTorn) = WriteAheadLog.read(path) else { continue }
                torn = torn || wasTorn
                var newest = Int64.min
                for record in records {
                    try record.withUnsafeBufferPointer { buffer throws in
                        var cursor = ByteCursor(buffer)
                        let kind = try cursor.byte()
                        switch kind {
                        case Self.registrationRecord:
                            let id = EntityID(UInt32(truncatingIfNeeded: try cursor.varint()))
                            let family = try cursor.byte()
                            let key = try Self.readString(&cursor)
                            let labels = try Self.readString(&cursor)
                            if s.byKey[family]?[KeyHash(key)] == nil, families[family] != nil {
                                s.place(EntityInfo(id: id, family: family, key: key, first: .max, last: .min))
                                s.unsaved.insert(id)
                                s.texts[id] = EntityText(key: key, labels: labels)
                            }
                        case Self.legacyRowsRecord, Self.rowsRecord, Self.trackedRowsRecord:
                            let legacy = kind == Self.legacyRowsRecord
                            let count = try cursor.count()
                            for _ in 0..<count {
                                let id = EntityID(UInt32(truncatingIfNeeded: try cursor.varint()))
                                guard id.raw >= 1, Int(id.raw) <= s.entities.count, let family = families[s.entities[Int(id.raw) - 1].family] else {
                                    throw StoreError.notThisFormat("history log names entity \(id.raw), which is not registered")
                                }
                                var words = previous[id] ?? []
                                if legacy { try Block.decodeLegacy(&cursor, previous: &words, width: family.metrics.count) }
                                else {
                                    try Block.decode(&cursor, previous: &words, width: family.metrics.count,
                                                     tracking: kind == Self.trackedRowsRecord ? family.timeTracking : 0)
                                }
                                previous[id] = words
                                let time = Int64(bitPattern: words[0])
                                newest = max(newest, time)
                                let index = Int(id.raw) - 1
                                if s.entities[index].last != .min && s.entities[index].last >= time { continue }  // sealed already
                                let row = SampleRow(time: time, present: words[1], values: Array(words[2..<(2 + family.metrics.count)]))
                                let segment = floor(time, toMultipleOf: configuration.segment)
                                var head = s.head.removeValue(forKey: id) ?? Head(width: family.metrics.count, tracking: family.timeTracking)
                                _ = head.append(row, segment: segment)
                                s.head[id] = head
                                if s.entities[index].first == .max { s.entities[index].first = time }
                                s.entities[index].last = time
                                if s.headSegment == nil || segment < s.headSegment! { s.headSegment = segment }
                                replayed += 1
                            }
                        default:
                            throw StoreError.notThisFormat("unknown history log record")
                        }
                    }
                }
                s.retired.append((path, newest))
            }
            if let sealedEnd = s.segments.last.map({ $0 + configuration.segment }), let head = s.headSegment, head < sealedEnd {
                s.headSegment = max(head, s.segments.last!)
            }
            let generation = (files.last?.generation ?? 0) + 1
            let log = try WriteAheadLog(creating: "\(logPath).\(generation)", generation: generation)
            for id in s.unsaved.sorted() { try log.append(Self.registration(s.entities[Int(id.raw) - 1], s.texts[id] ?? EntityText(key: "", labels: ""))) }
            log.sync()
            s.wal = log
        }
        if replayed > 0 || torn {
            logger.info("history log replayed", metadata: ["rows": "\(replayed)", "files": "\(files.count)", "torn_tail": "\(torn)"])
        }
    }

    // MARK: - Names and formats

    static func rawTable(day: Int64) -> String { "raw_\(day)" }
    /// SQLite's SQLITE_TRANSIENT: it copies a bound text before the call returns.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Runs a bound statement that returns no rows, then resets it and clears its bindings
    /// (a blob bound in place must not outlive its bytes).
    static func step(_ handle: OpaquePointer, _ db: Database) throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard code == SQLITE_DONE else { throw failure(code, db) }
    }

    /// SQLite's error for a result code of its C API, with its message.
    static func failure(_ code: Int32, _ db: Database) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
    static func hourTable(day: Int64) -> String { "hour_\(day)" }

    /// `k=v` lines, sorted; `=` and newlines in values escaped.
    static func formatLabels(_ labels: [String: String]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\(escape($0.key))=\(escape($0.value))" }.joined(separator: "\n")
    }

    static func escape(_ text: String) -> String {
        guard text.contains(where: { $0 == "=" || $0 == "\n" || $0 == "\\" }) else { return text }
        return text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "=", with: "\\e")
    }

    static func unescape(_ text: Substring) -> String {
        guard text.contains("\\") else { return String(text) }
        var result = ""
        var escaped = false
        for character in text {
            if escaped {
                result.append(character == "n" ? "\n" : character == "e" ? "=" : character)
                escaped = false
            } else if character == "\\" { escaped = true } else { result.append(character) }
        }
        return result
    }

    static func parseLabels(_ text: String) -> [String: String] {
        var labels: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            labels[unescape(line[..<equals])] = unescape(line[line.index(after: equals)...])
        }
        return labels
    }

    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        let utf8 = Array(text.utf8)
        appendVarint(UInt64(utf8.count), to: &bytes)
        bytes.append(contentsOf: utf8)
    }

    static func readString(_ cursor: inout ByteCursor) throws -> String {
        let length = try cursor.count()
        return String(decoding: try cursor.bytes(length), as: UTF8.self)
    }
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

/// The largest multiple of `step` at or below `value` (times before 1970 included).
@inline(__always) public func floor(_ value: Int64, toMultipleOf step: Int64) -> Int64 { floorDiv(value, step) * step }


extension Array {
    subscript(safe index: Int) -> Element? { index >= 0 && index < count ? self[index] : nil }
}

extension Chunk.Columns {
    /// A head block's rows, decoded into these columns (no row of its own each).
    mutating func appendRows(of block: TimeSeriesStore.Block) {
        let width = Int(block.width)
        block.forEach { row in
            append(time: Int64(bitPattern: row[0]), present: row[1]) { column in column < width ? row[column + 2] : 0 }
        }
    }
}
