/// Bits appended most significant first into bytes, as the chunk encodings write them.
public struct BitWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Bits still free in the last byte (0 when it is full or there is none).
    private var free = 0

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public var bitCount: Int { bytes.count * 8 - free }

    public mutating func writeBit(_ bit: Bool) {
        if free == 0 { bytes.append(0); free = 8 }
        free -= 1
        if bit { bytes[bytes.count - 1] |= 1 << UInt8(free) }
    }

    /// The low `count` bits of `value` (0...64), most significant first.
    public mutating func writeBits(_ value: UInt64, count: Int) {
        var remaining = count
        while remaining > 0 {
            if free == 0 { bytes.append(0); free = 8 }
            let take = min(free, remaining)
            let shifted = remaining - take
            let chunk = UInt8(truncatingIfNeeded: (value >> UInt64(shifted)) & ((1 << UInt64(take)) - 1))
            bytes[bytes.count - 1] |= chunk << UInt8(free - take)
            free -= take
            remaining = shifted
        }
    }

    /// Pads to a byte boundary.
    public mutating func align() { free = 0 }
}

/// Reads what a `BitWriter` wrote. Reading past the end is an error, never a crash.
public struct BitReader {
    let bytes: UnsafeBufferPointer<UInt8>
    private(set) var position = 0  // in bits
    let end: Int

    public init(_ bytes: UnsafeBufferPointer<UInt8>, bitOffset: Int = 0, bitEnd: Int? = nil) {
        self.bytes = bytes
        position = bitOffset
        end = bitEnd ?? bytes.count * 8
    }

    public var remaining: Int { end - position }

    public mutating func readBit() throws(ChunkError) -> Bool {
        guard position < end else { throw .truncated }
        let byte = bytes[position >> 3]
        let bit = (byte >> UInt8(7 - (position & 7))) & 1
        position += 1
        return bit == 1
    }

    public mutating func readBits(_ count: Int) throws(ChunkError) -> UInt64 {
        guard count <= end - position else { throw .truncated }
        var value: UInt64 = 0
        var remaining = count
        while remaining > 0 {
            let offset = position & 7
            let available = 8 - offset
            let take = min(available, remaining)
            let byte = UInt64(bytes[position >> 3])
            let chunk = (byte >> UInt64(available - take)) & ((1 << UInt64(take)) - 1)
            value = take == 64 ? chunk : (value << UInt64(take)) | chunk
            position += take
            remaining -= take
        }
        return value
    }

    /// Steps over `count` bits.
    public mutating func skip(_ count: Int) throws(ChunkError) {
        guard count <= end - position else { throw .truncated }
        position += count
    }

    /// Moves to the next byte boundary.
    public mutating func align() { position = (position + 7) & ~7 }
}

/// A chunk that cannot be decoded.
public enum ChunkError: Error, Equatable, CustomStringConvertible {
    case truncated
    case malformed(String)

    public var description: String {
        switch self {
        case .truncated: "chunk truncated"
        case .malformed(let why): "chunk malformed: \(why)"
        }
    }
}
