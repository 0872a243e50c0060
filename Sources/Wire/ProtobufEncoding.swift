// Hand-written (not generated): protobuf binary encoding with each nested message sized once.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// Protobuf binary encoding, byte for byte what swift-protobuf's `serializedBytes()` writes,
/// in two passes over the message instead of one per nesting level.
///
/// swift-protobuf writes a nested message's length prefix by sizing that message again, so
/// a message at depth d is sized d times and encoding the agent's batch (batch, pod,
/// container, usage) walks its leaves five times. Here one pass records the size of every
/// nested message (and map entry) in visiting order, and the writing pass, which visits in
/// the same order, takes the lengths from that list. Map entries are visited in the
/// dictionary's own order, as `serializedBytes()` does without deterministic ordering.
public enum ProtobufEncoding {
    /// The message's binary encoding.
    public static func serializedBytes(_ message: some Message) throws -> [UInt8] {
        guard message.isInitialized else { throw BinaryEncodingError.missingRequiredFields }
        var sizer = SizingVisitor()
        try message.traverse(visitor: &sizer)
        let total = sizer.size
        if total == 0 { return [] }
        return try [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            var writer = WritingVisitor(base: buffer.baseAddress!, capacity: total, sizes: sizer.sizes)
            try message.traverse(visitor: &writer)
            precondition(writer.position == total, "protobuf encoding wrote \(writer.position) of \(total) bytes")
            count = total
        }
    }

    /// The length of the message's binary encoding, in one pass.
    public static func serializedSize(_ message: some Message) throws -> Int {
        var sizer = SizingVisitor()
        try message.traverse(visitor: &sizer)
        return sizer.size
    }
}

// MARK: - Wire format arithmetic

@inline(__always) func varintSize(_ value: UInt64) -> Int {
    (64 - (value | 1).leadingZeroBitCount + 6) / 7
}

@inline(__always) func tagSize(_ fieldNumber: Int) -> Int {
    varintSize(UInt64(fieldNumber) << 3)
}

@inline(__always) func zigZag(_ value: Int32) -> UInt64 { UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))) }
@inline(__always) func zigZag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
/// int32 and enum values are written as sign-extended 64-bit varints (negative ones take 10 bytes).
@inline(__always) func signExtended(_ value: Int) -> UInt64 { UInt64(bitPattern: Int64(value)) }

enum WireType: UInt64 { case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5 }

/// The two passes share the field arithmetic; they differ in what they do with it.
protocol EncodingPass: Visitor {
    mutating func varint(_ fieldNumber: Int, _ value: UInt64)
    mutating func fixed32(_ fieldNumber: Int, _ value: UInt32)
    mutating func fixed64(_ fieldNumber: Int, _ value: UInt64)
    mutating func lengthDelimited(_ fieldNumber: Int, _ bytes: UnsafeRawBufferPointer)
    /// A packed field of `length` bytes whose elements `writeElements` writes.
    mutating func packed(_ fieldNumber: Int, length: Int, _ writeElements: (inout Self) -> Void)
    /// A nested message or map entry whose fields `visitFields` visits.
    mutating func nested(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows
    mutating func group(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows
    mutating func raw(_ bytes: UnsafeRawBufferPointer)
    /// Writes a bare element of a packed field (sizing passes ignore it).
    mutating func element(varint value: UInt64)
    mutating func element(fixed32 value: UInt32)
    mutating func element(fixed64 value: UInt64)
}

extension EncodingPass {
    mutating func visitSingularFloatField(value: Float, fieldNumber: Int) throws { fixed32(fieldNumber, value.bitPattern) }
    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws { fixed64(fieldNumber, value.bitPattern) }
    mutating func visitSingularInt32Field(value: Int32, fieldNumber: Int) throws { varint(fieldNumber, signExtended(Int(value))) }
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws { varint(fieldNumber, UInt64(bitPattern: value)) }
    mutating func visitSingularUInt32Field(value: UInt32, fieldNumber: Int) throws { varint(fieldNumber, UInt64(value)) }
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws { varint(fieldNumber, value) }
    mutating func visitSingularSInt32Field(value: Int32, fieldNumber: Int) throws { varint(fieldNumber, zigZag(value)) }
    mutating func visitSingularSInt64Field(value: Int64, fieldNumber: Int) throws { varint(fieldNumber, zigZag(value)) }
    mutating func visitSingularFixed32Field(value: UInt32, fieldNumber: Int) throws { fixed32(fieldNumber, value) }
    mutating func visitSingularFixed64Field(value: UInt64, fieldNumber: Int) throws { fixed64(fieldNumber, value) }
    mutating func visitSingularSFixed32Field(value: Int32, fieldNumber: Int) throws { fixed32(fieldNumber, UInt32(bitPattern: value)) }
    mutating func visitSingularSFixed64Field(value: Int64, fieldNumber: Int) throws { fixed64(fieldNumber, UInt64(bitPattern: value)) }
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws { varint(fieldNumber, value ? 1 : 0) }
    mutating func visitSingularEnumField<E: Enum>(value: E, fieldNumber: Int) throws { varint(fieldNumber, signExtended(value.rawValue)) }

    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws {
        var value = value
        value.withUTF8 { lengthDelimited(fieldNumber, UnsafeRawBufferPointer($0)) }
    }

    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws {
        value.withUnsafeBytes { lengthDelimited(fieldNumber, $0) }
    }

    mutating func visitSingularMessageField<M: Message>(value: M, fieldNumber: Int) throws {
        try nested(fieldNumber) { try value.traverse(visitor: &$0) }
    }

    mutating func visitSingularGroupField<G: Message>(value: G, fieldNumber: Int) throws {
        try group(fieldNumber) { try value.traverse(visitor: &$0) }
    }

    mutating func visitUnknown(bytes: Data) throws {
        bytes.withUnsafeBytes { raw($0) }
    }

    // Packed repeated fields: one length-delimited run of bare elements.
    mutating func visitPackedFloatField(value: [Float], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 4) { pass in for v in value { pass.element(fixed32: v.bitPattern) } }
    }
    mutating func visitPackedDoubleField(value: [Double], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 8) { pass in for v in value { pass.element(fixed64: v.bitPattern) } }
    }
    mutating func visitPackedInt32Field(value: [Int32], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { signExtended(Int($0)) }
    }
    mutating func visitPackedInt64Field(value: [Int64], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { UInt64(bitPattern: $0) }
    }
    mutating func visitPackedUInt32Field(value: [UInt32], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { UInt64($0) }
    }
    mutating func visitPackedUInt64Field(value: [UInt64], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { $0 }
    }
    mutating func visitPackedSInt32Field(value: [Int32], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { zigZag($0) }
    }
    mutating func visitPackedSInt64Field(value: [Int64], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { zigZag($0) }
    }
    mutating func visitPackedFixed32Field(value: [UInt32], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 4) { pass in for v in value { pass.element(fixed32: v) } }
    }
    mutating func visitPackedFixed64Field(value: [UInt64], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 8) { pass in for v in value { pass.element(fixed64: v) } }
    }
    mutating func visitPackedSFixed32Field(value: [Int32], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 4) { pass in for v in value { pass.element(fixed32: UInt32(bitPattern: v)) } }
    }
    mutating func visitPackedSFixed64Field(value: [Int64], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count * 8) { pass in for v in value { pass.element(fixed64: UInt64(bitPattern: v)) } }
    }
    mutating func visitPackedBoolField(value: [Bool], fieldNumber: Int) throws {
        packed(fieldNumber, length: value.count) { pass in for v in value { pass.element(varint: v ? 1 : 0) } }
    }
    mutating func visitPackedEnumField<E: Enum>(value: [E], fieldNumber: Int) throws {
        packedVarints(fieldNumber, value) { signExtended($0.rawValue) }
    }

    private mutating func packedVarints<T>(_ fieldNumber: Int, _ values: [T], _ encode: (T) -> UInt64) {
        var length = 0
        for v in values { length += varintSize(encode(v)) }
        packed(fieldNumber, length: length) { pass in for v in values { pass.element(varint: encode(v)) } }
    }

    // Maps: each entry is a nested message of key (field 1) and value (field 2).
    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type,
        value: _ProtobufMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {
        try mapEntries(value, fieldNumber) { pass, k, v in
            try KeyType.visitSingular(value: k, fieldNumber: 1, with: &pass)
            try ValueType.visitSingular(value: v, fieldNumber: 2, with: &pass)
        }
    }

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type,
        value: _ProtobufEnumMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws where ValueType.RawValue == Int {
        try mapEntries(value, fieldNumber) { pass, k, v in
            try KeyType.visitSingular(value: k, fieldNumber: 1, with: &pass)
            try pass.visitSingularEnumField(value: v, fieldNumber: 2)
        }
    }

    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type,
        value: _ProtobufMessageMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws {
        try mapEntries(value, fieldNumber) { pass, k, v in
            try KeyType.visitSingular(value: k, fieldNumber: 1, with: &pass)
            try pass.visitSingularMessageField(value: v, fieldNumber: 2)
        }
    }

    /// Each entry of `map`, in the dictionary's order, as a nested message whose key and
    /// value `visitEntry` visits.
    private mutating func mapEntries<K, V>(_ map: [K: V], _ fieldNumber: Int, _ visitEntry: (inout Self, K, V) throws -> Void) throws {
        for (k, v) in map {
            try nested(fieldNumber) { try visitEntry(&$0, k, v) }
        }
    }
}

/// First pass: the total size, and the size of each nested message and map entry in the
/// order they are visited.
struct SizingVisitor: EncodingPass {
    var size = 0
    var sizes: [Int] = []

    mutating func varint(_ fieldNumber: Int, _ value: UInt64) { size += tagSize(fieldNumber) + varintSize(value) }
    mutating func fixed32(_ fieldNumber: Int, _ value: UInt32) { size += tagSize(fieldNumber) + 4 }
    mutating func fixed64(_ fieldNumber: Int, _ value: UInt64) { size += tagSize(fieldNumber) + 8 }
    mutating func lengthDelimited(_ fieldNumber: Int, _ bytes: UnsafeRawBufferPointer) {
        size += tagSize(fieldNumber) + varintSize(UInt64(bytes.count)) + bytes.count
    }
    mutating func packed(_ fieldNumber: Int, length: Int, _ writeElements: (inout Self) -> Void) {
        size += tagSize(fieldNumber) + varintSize(UInt64(length)) + length
    }
    mutating func nested(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows {
        let index = sizes.count
        sizes.append(0)
        let outer = size
        size = 0
        try visitFields(&self)
        let inner = size
        sizes[index] = inner
        size = outer + tagSize(fieldNumber) + varintSize(UInt64(inner)) + inner
    }
    mutating func group(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows {
        size += 2 * tagSize(fieldNumber)
        try visitFields(&self)
    }
    mutating func raw(_ bytes: UnsafeRawBufferPointer) { size += bytes.count }
    mutating func element(varint value: UInt64) {}
    mutating func element(fixed32 value: UInt32) {}
    mutating func element(fixed64 value: UInt64) {}
}

/// Second pass: writes into a buffer of exactly the size the first pass found, taking each
/// nested length from the first pass's list. Every write checks the capacity, so passes
/// that disagreed would stop the process instead of writing past the buffer.
struct WritingVisitor: EncodingPass {
    let base: UnsafeMutablePointer<UInt8>
    let capacity: Int
    let sizes: [Int]
    var next = 0
    var position = 0

    init(base: UnsafeMutablePointer<UInt8>, capacity: Int, sizes: [Int]) {
        self.base = base
        self.capacity = capacity
        self.sizes = sizes
    }

    @inline(__always) private func reserve(_ count: Int) {
        precondition(position + count <= capacity, "protobuf encoding overran its \(capacity)-byte buffer")
    }

    @inline(__always) private mutating func putVarint(_ value: UInt64) {
        reserve(varintSize(value))
        var value = value
        while value >= 0x80 {
            base[position] = UInt8(truncatingIfNeeded: value) | 0x80
            position += 1
            value >>= 7
        }
        base[position] = UInt8(value)
        position += 1
    }

    @inline(__always) private mutating func putTag(_ fieldNumber: Int, _ wireType: WireType) {
        putVarint(UInt64(fieldNumber) << 3 | wireType.rawValue)
    }

    @inline(__always) private mutating func putLittleEndian<T: FixedWidthInteger>(_ value: T) {
        let count = MemoryLayout<T>.size
        reserve(count)
        UnsafeMutableRawPointer(base + position).storeBytes(of: value.littleEndian, as: T.self)
        position += count
    }

    mutating func varint(_ fieldNumber: Int, _ value: UInt64) { putTag(fieldNumber, .varint); putVarint(value) }
    mutating func fixed32(_ fieldNumber: Int, _ value: UInt32) { putTag(fieldNumber, .fixed32); putLittleEndian(value) }
    mutating func fixed64(_ fieldNumber: Int, _ value: UInt64) { putTag(fieldNumber, .fixed64); putLittleEndian(value) }
    mutating func lengthDelimited(_ fieldNumber: Int, _ bytes: UnsafeRawBufferPointer) {
        putTag(fieldNumber, .lengthDelimited)
        putVarint(UInt64(bytes.count))
        raw(bytes)
    }
    mutating func packed(_ fieldNumber: Int, length: Int, _ writeElements: (inout Self) -> Void) {
        putTag(fieldNumber, .lengthDelimited)
        putVarint(UInt64(length))
        writeElements(&self)
    }
    mutating func nested(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows {
        precondition(next < sizes.count, "protobuf encoding visited more nested messages than it sized")
        let length = sizes[next]
        next += 1
        putTag(fieldNumber, .lengthDelimited)
        putVarint(UInt64(length))
        try visitFields(&self)
    }
    mutating func group(_ fieldNumber: Int, _ visitFields: (inout Self) throws -> Void) rethrows {
        putTag(fieldNumber, .startGroup)
        try visitFields(&self)
        putTag(fieldNumber, .endGroup)
    }
    mutating func raw(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + position).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        position += bytes.count
    }
    mutating func element(varint value: UInt64) { putVarint(value) }
    mutating func element(fixed32 value: UInt32) { putLittleEndian(value) }
    mutating func element(fixed64 value: UInt64) { putLittleEndian(value) }
}
