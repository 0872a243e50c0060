/// Integers (counters, bytes, times) as delta-of-delta, zigzag-mapped, in a bit-level prefix
/// code: a steady counter or a constant costs one bit per sample, any 64-bit value stays
/// exact (differences wrap, so counters near 2^64 and resets decode to the same bits).
///
/// First value: 64 bits. Then each value's delta-of-delta `d` (the first delta is taken
/// against 0), zigzag-mapped to `z`:
///
/// | prefix | payload | z below |
/// |---|---|---|
/// | `0` | — | 1 (d = 0) |
/// | `10` | 7 bits | 2^7 |
/// | `110` | 14 bits | 2^14 |
/// | `1110` | 21 bits | 2^21 |
/// | `11110` | 35 bits | 2^35 |
/// | `11111` | 64 bits | any |
public struct IntegerEncoder: Sendable {
    private var previous: UInt64 = 0
    private var delta: UInt64 = 0
    private var count = 0

    public init() {}

    public mutating func append(_ value: UInt64, to writer: inout BitWriter) {
        defer { count += 1 }
        if count == 0 {
            writer.writeBits(value, count: 64)
            previous = value
            return
        }
        let newDelta = value &- previous
        let dod = Int64(bitPattern: newDelta &- delta)
        previous = value
        delta = newDelta
        Self.write(zigzag(dod), to: &writer)
    }

    static func write(_ z: UInt64, to writer: inout BitWriter) {
        switch z {
        case 0: writer.writeBit(false)
        case ..<(1 << 7): writer.writeBits(0b10, count: 2); writer.writeBits(z, count: 7)
        case ..<(1 << 14): writer.writeBits(0b110, count: 3); writer.writeBits(z, count: 14)
        case ..<(1 << 21): writer.writeBits(0b1110, count: 4); writer.writeBits(z, count: 21)
        case ..<(1 << 35): writer.writeBits(0b11110, count: 5); writer.writeBits(z, count: 35)
        default: writer.writeBits(0b11111, count: 5); writer.writeBits(z, count: 64)
        }
    }
}

public struct IntegerDecoder {
    private var previous: UInt64 = 0
    private var delta: UInt64 = 0
    private var count = 0

    public init() {}

    public mutating func next(from reader: inout BitReader) throws(ChunkError) -> UInt64 {
        defer { count += 1 }
        if count == 0 {
            previous = try reader.readBits(64)
            return previous
        }
        var ones = 0
        while ones < 5, try reader.readBit() { ones += 1 }
        let z: UInt64
        switch ones {
        case 0: z = 0
        case 1: z = try reader.readBits(7)
        case 2: z = try reader.readBits(14)
        case 3: z = try reader.readBits(21)
        case 4: z = try reader.readBits(35)
        default: z = try reader.readBits(64)
        }
        delta = delta &+ UInt64(bitPattern: unzigzag(z))
        previous = previous &+ delta
        return previous
    }
}

@inline(__always) func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
@inline(__always) func unzigzag(_ z: UInt64) -> Int64 { Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1) }
