/// Floats as in Gorilla (Pelkonen et al., VLDB 2015): each value XOR the previous one; `0`
/// when equal, `10` + the meaningful bits when they fit the previous window of leading and
/// trailing zeros, else `11` + 5 bits of leading zeros + 6 bits of length (0 meaning 64) +
/// the bits. Exact for every bit pattern: NaN payloads, infinities and -0 included.
public struct FloatEncoder: Sendable {
    private var previous: UInt64 = 0
    private var leading: UInt8 = 0xFF
    private var trailing: UInt8 = 0
    private var count = 0

    public init() {}

    public mutating func append(_ bits: UInt64, to writer: inout BitWriter) {
        defer { count += 1; previous = bits }
        if count == 0 { writer.writeBits(bits, count: 64); return }
        let xor = bits ^ previous
        if xor == 0 { writer.writeBit(false); return }
        writer.writeBit(true)
        let lead = UInt8(min(xor.leadingZeroBitCount, 31))
        let trail = UInt8(xor.trailingZeroBitCount)
        if leading != 0xFF, lead >= leading, trail >= trailing {
            writer.writeBit(false)
            let significant = 64 - Int(leading) - Int(trailing)
            writer.writeBits(xor >> UInt64(trailing), count: significant)
        } else {
            leading = lead
            trailing = trail
            writer.writeBit(true)
            writer.writeBits(UInt64(lead), count: 5)
            let significant = 64 - Int(lead) - Int(trail)
            writer.writeBits(UInt64(significant & 63), count: 6)  // 64 is written as 0
            writer.writeBits(xor >> UInt64(trail), count: significant)
        }
    }
}

public struct FloatDecoder {
    private var previous: UInt64 = 0
    private var leading = 0
    private var trailing = 0
    private var hasWindow = false
    private var count = 0

    public init() {}

    public mutating func next(from reader: inout BitReader) throws(ChunkError) -> UInt64 {
        defer { count += 1 }
        if count == 0 {
            previous = try reader.readBits(64)
            return previous
        }
        guard try reader.readBit() else { return previous }
        if try reader.readBit() {
            leading = Int(try reader.readBits(5))
            var significant = Int(try reader.readBits(6))
            if significant == 0 { significant = 64 }
            guard leading + significant <= 64 else { throw .malformed("XOR window of \(leading)+\(significant) bits") }
            trailing = 64 - leading - significant
            hasWindow = true
        } else if !hasWindow {
            throw .malformed("XOR window reused before one was written")
        }
        let significant = 64 - leading - trailing
        let xor = try reader.readBits(significant) << UInt64(trailing)
        previous ^= xor
        return previous
    }
}
