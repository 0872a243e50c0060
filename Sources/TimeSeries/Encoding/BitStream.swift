/// Bits appended most significant first into bytes, as the chunk encodings write them.
/// Bits gather in a 64-bit word and reach the bytes eight at a time (a byte at a time, with
/// an append and a bounds check per byte, was most of a seal's encoding).
public struct BitWriter: Sendable {
    /// The whole words written so far, as bytes.
    private var storage: [UInt8] = []
    /// Bits not yet in `storage`, from the most significant down (`pending` of them).
    private var word: UInt64 = 0
    private var pending = 0

    public init(capacity: Int = 0) { storage.reserveCapacity(capacity) }

    /// Every bit written, the last byte padded with zeros.
    public var bytes: [UInt8] {
        var result = storage
        appendPending(to: &result)
        return result
    }

    public var bitCount: Int { storage.count * 8 + pending }

    /// Appends `bytes` (without a copy in between).
    public func append(to bytes: inout [UInt8]) {
        bytes.append(contentsOf: storage)
        appendPending(to: &bytes)
    }

    private func appendPending(to bytes: inout [UInt8]) {
        var rest = word
        for _ in 0..<((pending + 7) >> 3) {
            bytes.append(UInt8(truncatingIfNeeded: rest >> 56))
            rest <<= 8
        }
    }

    @inline(__always) private mutating func flush() {
        withUnsafeBytes(of: word.bigEndian) { storage.append(contentsOf: $0) }
        word = 0
        pending = 0
    }

    @inline(__always) public mutating func writeBit(_ bit: Bool) {
        if bit { word |= 1 &<< UInt64(63 - pending) }
        pending += 1
        if pending == 64 { flush() }
    }

    /// The low `count` bits of `value` (0...64), most significant first.
    @inline(__always) public mutating func writeBits(_ value: UInt64, count: Int) {
        guard count > 0 else { return }
        let bits = count >= 64 ? value : value & ((1 &<< UInt64(count)) &- 1)
        let room = 64 - pending
        if count < room {
            word |= bits &<< UInt64(room - count)
            pending += count
        } else {
            // Fills the word; what does not fit starts the next one.
            let rest = count - room
            word |= rest == 0 ? bits : bits &>> UInt64(rest)
            flush()
            if rest > 0 {
                word = bits &<< UInt64(64 - rest)
                pending = rest
            }
        }
    }

    /// Pads to a byte boundary.
    public mutating func align() {
        pending = (pending + 7) & ~7
        if pending == 64 { flush() }
    }
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
