import Testing
import TestSupport
@testable import TimeSeries

/// A deterministic generator, so that a failure can be replayed.
func roundTripIntegers(_ values: [UInt64]) throws -> [UInt64] {
    var writer = BitWriter()
    var encoder = IntegerEncoder()
    for value in values { encoder.append(value, to: &writer) }
    let bytes = writer.bytes
    return try bytes.withUnsafeBufferPointer { buffer in
        var reader = BitReader(buffer)
        var decoder = IntegerDecoder()
        return try values.map { _ in try decoder.next(from: &reader) }
    }
}

func roundTripFloats(_ values: [Double]) throws -> [UInt64] {
    var writer = BitWriter()
    var encoder = FloatEncoder()
    for value in values { encoder.append(value.bitPattern, to: &writer) }
    let bytes = writer.bytes
    return try bytes.withUnsafeBufferPointer { buffer in
        var reader = BitReader(buffer)
        var decoder = FloatDecoder()
        return try values.map { _ in try decoder.next(from: &reader) }
    }
}

@Suite struct EncodingTests {
    @Test func bitsRoundTripAtEveryWidth() throws {
        var writer = BitWriter()
        var rng = SplitMix(seed: 1)
        var written: [(UInt64, Int)] = []
        for width in 0...64 {
            let value = width == 0 ? 0 : rng.next() >> UInt64(64 - width)
            writer.writeBits(value, count: width)
            written.append((value, width))
        }
        let bytes = writer.bytes
        let read = try bytes.withUnsafeBufferPointer { buffer in
            var reader = BitReader(buffer)
            return try written.map { try reader.readBits($0.1) }
        }
        #expect(read == written.map(\.0))
    }

    @Test func countersNearTheTopOfUInt64AndResetsAreExact() throws {
        let values: [UInt64] = [UInt64.max - 10, UInt64.max - 5, UInt64.max, 3, 7, 0, UInt64.max, 1 << 63, (1 << 63) - 1, 0, 0, 12]
        #expect(try roundTripIntegers(values) == values)
    }

    @Test func randomAndSteadyIntegersAreExact() throws {
        var rng = SplitMix(seed: 42)
        let random = (0..<2000).map { _ in rng.next() >> (rng.next() % 64) }
        #expect(try roundTripIntegers(random) == random)
        let steady = (0..<1000).map { UInt64($0) * 10_000_000_000 + UInt64($0 % 3) }
        #expect(try roundTripIntegers(steady) == steady)
    }

    @Test func aSteadyCounterCostsAboutABitPerSample() {
        var writer = BitWriter()
        var encoder = IntegerEncoder()
        for i in 0..<1000 { encoder.append(UInt64(i) * 80_000_000_000, to: &writer) }
        // 64 bits, the first delta (64 bits), then one bit per sample.
        #expect(writer.bytes.count <= 8 + 9 + 125)
    }

    @Test func floatsKeepEveryBitPattern() throws {
        let special: [Double] = [0, -0.0, .nan, -.nan, Double(bitPattern: 0x7FF8_0000_0000_1234), .infinity, -.infinity,
                                 .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1, 1, 1, 0.1, 0.2, 0.30000000000000004, -5]
        #expect(try roundTripFloats(special) == special.map(\.bitPattern))
        var rng = SplitMix(seed: 7)
        let noisy = (0..<2000).map { i in Double(i % 50) * 1.5 + Double(rng.next() % 1000) / 1000 }
        #expect(try roundTripFloats(noisy) == noisy.map(\.bitPattern))
        let random = (0..<500).map { _ in Double(bitPattern: rng.next()) }
        #expect(try roundTripFloats(random) == random.map(\.bitPattern))
    }

    @Test func chunksDecodeOneColumnWithGaps() throws {
        let rows = (0..<50).map { (i: Int) -> SampleRow in
            let sparse: UInt64? = i % 7 == 0 ? nil : UInt64(1 << 30)
            let values: [UInt64?] = [UInt64(i) * 1_000_000_007, sparse, Double(i).squareRoot().bitPattern]
            return SampleRow(time: 1_700_000_000_000 + Int64(i) * 10_000 + Int64(i % 4), values: values)
        }
        let encodings: [ValueEncoding] = [.integer, .integer, .float]
        let bytes = Chunk.encode(rows[...], encodings: encodings)
        var second: [(Int64, UInt64)] = []
        try Chunk.decode(bytes, column: 1, encoding: .integer) { second.append(($0, $1)) }
        let expectedTimes = rows.filter { $0.value(1) != nil }.map { $0.time }
        #expect(second.map { $0.0 } == expectedTimes)
        #expect(second.allSatisfy { $0.1 == 1 << 30 })
        #expect(try Chunk.decodeRows(bytes, encodings: encodings) == rows)
        // A metric added to the family later reads as absent.
        var none = 0
        try Chunk.decode(bytes, column: 5, encoding: .integer) { _, _ in none += 1 }
        #expect(none == 0)
    }

    /// What queries read through: a chunk's times once, then each column's samples of a
    /// window written beside them; every cut of the bytes an error, never a crash.
    @Test func aChunkViewWritesAColumnsSamplesInTheWindow() throws {
        let rows = (0..<40).map { (i: Int) -> SampleRow in
            SampleRow(time: 1_700_000_000_000 + Int64(i) * 10_000, values: [
                UInt64.max - UInt64(i) * 3, i % 3 == 0 ? nil : UInt64(i * i), (Double(i) / 7).bitPattern,
            ])
        }
        let encodings: [ValueEncoding] = [.integer, .integer, .float]
        let bytes = Chunk.encode(rows[...], encodings: encodings)
        let (from, to) = (rows[5].time, rows[30].time)
        try bytes.withUnsafeBufferPointer { buffer in
            let view = try Chunk.View(buffer)
            #expect(view.rows == 40 && view.columns == 3)
            var times = [Int64](repeating: 0, count: view.rows), outTimes = times
            var outValues = [UInt64](repeating: 0, count: view.rows)
            try times.withUnsafeMutableBufferPointer { try view.times(into: $0.baseAddress!) }
            #expect(times == rows.map(\.time))
            for column in 0..<4 {
                let count = try outTimes.withUnsafeMutableBufferPointer { outTimes in
                    try outValues.withUnsafeMutableBufferPointer { outValues in
                        try view.column(column, encoding: column == 2 ? .float : .integer, times: times, from: from, to: to,
                                        outTimes: outTimes.baseAddress!, outValues: outValues.baseAddress!)
                    }
                }
                let expected = rows.filter { $0.time >= from && $0.time <= to }.compactMap { row in row.value(column).map { (row.time, $0) } }
                #expect(count == expected.count, "column \(column)")
                #expect(Array(outTimes.prefix(count)) == expected.map(\.0) && Array(outValues.prefix(count)) == expected.map(\.1))
            }
        }
        for cut in 0..<bytes.count {
            let prefix = Array(bytes.prefix(cut))
            #expect(throws: ChunkError.self, "cut at \(cut)") {
                try prefix.withUnsafeBufferPointer { buffer in
                    let view = try Chunk.View(buffer)
                    var times = [Int64](repeating: 0, count: view.rows)
                    try times.withUnsafeMutableBufferPointer { try view.times(into: $0.baseAddress!) }
                }
            }
        }
    }

    /// An hour's merge: chunks one after the other are joined as columns, byte for byte the
    /// chunk of all their rows; chunks that overlap keep the later chunk's row of a time.
    @Test func mergedChunksAreTheirRowsInTimeOrder() throws {
        var random = SplitMix(seed: 11)
        let encodings: [ValueEncoding] = [.integer, .integer, .float]
        var time: Int64 = 1_700_000_000_000
        let rows = (0..<360).map { i -> SampleRow in
            time += 9_000 + Int64(random.next() % 2_000)
            let sparse: UInt64? = random.next() % 5 == 0 ? nil : random.next() >> (random.next() % 64)
            return SampleRow(time: time, values: [UInt64(i) * 1_000_000_007, sparse, (Double(random.next() % 1000) / 7).bitPattern])
        }
        let parts = stride(from: 0, to: rows.count, by: 30).map { Chunk.encode(rows[$0..<min($0 + 30, rows.count)], encodings: encodings) }
        let merged = try Chunk.merge(parts, encodings: encodings)
        #expect(merged == Chunk.encode(rows[...], encodings: encodings))
        #expect(try Chunk.decodeRows(merged, encodings: encodings) == rows)
        let columns = try Chunk.decodeColumns(parts[3], encodings: encodings)
        #expect(columns.times == rows[90..<120].map(\.time))
        #expect((0..<columns.count).allSatisfy { r in (0..<3).allSatisfy { c in columns.value(r, c) == (rows[90 + r].value(c) ?? 0) } })
        // Overlapping: the second chunk's rows of the same times win.
        var changed = Array(rows[20..<40])
        for index in changed.indices { changed[index].values[0] += 1 }
        let overlapping = try Chunk.merge([Chunk.encode(rows[0..<30], encodings: encodings), Chunk.encode(changed[...], encodings: encodings)], encodings: encodings)
        #expect(try Chunk.decodeRows(overlapping, encodings: encodings) == Array(rows[0..<20]) + changed)
    }

    @Test func singleRowChunk() throws {
        let rows = [SampleRow(time: -5, values: [UInt64.max, nil])]
        let bytes = Chunk.encode(rows[...], encodings: [.integer, .float])
        #expect(try Chunk.decodeRows(bytes, encodings: [.integer, .float]) == rows)
    }

    @Test func truncatedOrCorruptChunksAreErrorsNeverCrashes() throws {
        let rows = (0..<30).map { SampleRow(time: Int64($0) * 5000, values: [UInt64($0 * $0), Double($0).bitPattern]) }
        let bytes = Chunk.encode(rows[...], encodings: [.integer, .float])
        for cut in 0..<bytes.count {
            #expect(throws: ChunkError.self) { _ = try Chunk.decodeRows(Array(bytes[0..<cut]), encodings: [.integer, .float]) }
        }
        var rng = SplitMix(seed: 3)
        for _ in 0..<500 {
            var corrupt = bytes
            corrupt[Int(rng.next() % UInt64(corrupt.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            _ = try? Chunk.decodeRows(corrupt, encodings: [.integer, .float])
        }
    }
}

/// The bytes of chunks and bit streams do not depend on how the writer gathers its bits:
/// chunks on disk are read by every later version.
@Suite struct EncodingFormatTests {
    /// Bits as a plain list, packed most significant first: what `BitWriter` must write.
    struct ReferencePacker {
        var bits: [Bool] = []
        mutating func write(_ value: UInt64, count: Int) {
            for index in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> UInt64(index)) & 1 == 1) }
        }
        mutating func align() { while bits.count % 8 != 0 { bits.append(false) } }
        var bytes: [UInt8] {
            stride(from: 0, to: bits.count, by: 8).map { start in
                (0..<8).reduce(UInt8(0)) { byte, offset in
                    byte << 1 | (start + offset < bits.count && bits[start + offset] ? 1 : 0)
                }
            }
        }
    }

    @Test func theWriterPacksBitsAsABitByBitPackerDoes() {
        var rng = SplitMix(seed: 7)
        for round in 0..<200 {
            var writer = BitWriter()
            var reference = ReferencePacker()
            for _ in 0..<(round % 40) {
                switch rng.next() % 4 {
                case 0:
                    let bit = rng.next() & 1 == 1
                    writer.writeBit(bit)
                    reference.write(bit ? 1 : 0, count: 1)
                case 1:
                    writer.align()
                    reference.align()
                default:
                    let width = Int(rng.next() % 65)
                    let value = rng.next()
                    writer.writeBits(value, count: width)
                    reference.write(value, count: width)
                }
                #expect(writer.bitCount == reference.bits.count)
            }
            #expect(writer.bytes == reference.bytes, "round \(round)")
            var appended: [UInt8] = [9]
            writer.append(to: &appended)
            #expect(appended == [9] + reference.bytes)
        }
    }

    @Test func aChunksBytesAreTheFormatsOwn() {
        var columns = Chunk.Columns(width: 3, capacity: 5)
        let rows: [(Int64, UInt64, [UInt64])] = [
            (1_700_000_000_000, 0b111, [UInt64.max - 3, 5, Double(1.5).bitPattern]),
            (1_700_000_010_000, 0b101, [UInt64.max - 1, 0, Double(2.25).bitPattern]),
            (1_700_000_020_500, 0b111, [2, 7, Double.nan.bitPattern]),
            (1_700_000_030_500, 0b011, [9, 1 << 40, 0]),
            (1_700_000_040_000, 0b111, [9, 12, Double(-0.0).bitPattern]),
        ]
        for (time, present, values) in rows { columns.append(time: time, present: present) { values[$0] } }
        let bytes = Chunk.encode(columns, encodings: [.integer, .integer, .float])
        #expect(bytes == EncodingFormatTests.golden)
    }

    /// What the encoder wrote before the writer gathered bits in words (2026-12-04).
    static let golden: [UInt8] = [
        1, 5, 3, 18, 13, 28, 18, 0, 0, 1, 139, 207, 229, 104, 0, 224, 39, 16, 96, 250, 48, 124, 248, 62, 112, 127, 255, 255, 255, 255, 255,
        255, 254, 65, 32, 144, 104, 104, 220, 0, 0, 0, 0, 0, 0, 0, 22, 9, 240, 0, 0, 31, 255, 255, 255, 254, 239, 128, 0, 1, 255, 255, 255,
        255, 236, 128, 244, 255, 224, 0, 0, 0, 0, 0, 3, 9, 223, 254, 207, 254, 224, 55, 255, 224,
    ]
}
