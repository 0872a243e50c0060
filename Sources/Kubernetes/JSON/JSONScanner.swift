#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON syntax error, with the byte offset where it was found.
public struct JSONError: Error, CustomStringConvertible, Equatable {
    public var offset: Int
    public var message: String

    public init(offset: Int, _ message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// A pull scanner over JSON bytes that decodes only what its caller asks for.
///
/// Decoders walk objects with `forEachMember`, read the keys they know and let the scanner
/// skip every other value without allocating: unknown keys (new kubelet fields such as
/// `psi`, `io`, `swap`) cost one pass over their bytes. This is what makes a 110-pod
/// kubelet summary decode in about a millisecond, where Foundation's JSONDecoder needs ~20.
public struct JSONScanner {
    let base: UnsafePointer<UInt8>
    let end: Int
    var index: Int = 0
    /// Where repeated values are shared, when decoding objects to keep (an informer's cache).
    public var interner: Interner?

    public init(_ buffer: UnsafeRawBufferPointer) {
        let bytes = buffer.bindMemory(to: UInt8.self)
        // An empty buffer has no base address; point at a static byte that is never read.
        base = bytes.baseAddress ?? JSONScanner.emptyBase
        end = bytes.count
    }

    nonisolated(unsafe) private static let emptyBase: UnsafePointer<UInt8> = {
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()

    /// Runs `body` with a scanner over `bytes`, and checks that nothing but whitespace follows
    /// the value it read.
    public static func decode<R>(_ bytes: some JSONBytes, _ body: (inout JSONScanner) throws -> R) throws -> R {
        try bytes.withJSONBytes { buffer in
            var scanner = JSONScanner(buffer)
            let result = try body(&scanner)
            try scanner.expectEnd()
            return result
        }
    }

    public var offset: Int { index }

    // MARK: Structure

    /// Calls `body` for each member of an object, positioned at the member's value. A value
    /// the body does not read is skipped. `null` counts as an empty object.
    public mutating func forEachMember(_ body: (inout JSONScanner, JSONKey) throws -> Void) throws {
        if try readNull() { return }
        try expect(UInt8(ascii: "{"), "an object")
        if try peek() == UInt8(ascii: "}") { index += 1; return }
        while true {
            guard try peek() == UInt8(ascii: "\"") else { throw error("a member name in quotes") }
            let key = try rawString()
            try expect(UInt8(ascii: ":"), "':' after a member name")
            _ = try peek()
            let valueStart = index
            try body(&self, key)
            if index == valueStart { try skipValue() }
            switch try next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return
            default: index -= 1; throw error("',' or '}' in an object")
            }
        }
    }

    /// Calls `body` for each element of an array; an element it does not read is skipped.
    /// `null` counts as an empty array.
    public mutating func forEachElement(_ body: (inout JSONScanner) throws -> Void) throws {
        if try readNull() { return }
        try expect(UInt8(ascii: "["), "an array")
        if try peek() == UInt8(ascii: "]") { index += 1; return }
        while true {
            _ = try peek()
            let valueStart = index
            try body(&self)
            if index == valueStart { try skipValue() }
            switch try next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "]"): return
            default: index -= 1; throw error("',' or ']' in an array")
            }
        }
    }

    /// Reads an array of elements decoded by `element`.
    public mutating func array<T>(_ element: (inout JSONScanner) throws -> T) throws -> [T] {
        var result: [T] = []
        try forEachElement { result.append(try element(&$0)) }
        return result
    }

    /// Reads an object of string values as a dictionary (labels, selectors); with an
    /// interner, the keys, values and the dictionary itself are shared.
    public mutating func stringMap() throws -> [String: String] {
        var result: [String: String] = [:]
        try forEachMember { scanner, key in
            if let value = try scanner.optionalSharedString() { result[scanner.interner?.string(key.string) ?? key.string] = value }
        }
        return shared(result)
    }

    /// A string that repeats across objects (a namespace, an image, an owner), shared through
    /// the interner when there is one.
    public mutating func sharedString() throws -> String {
        let value = try string()
        return interner?.string(value) ?? value
    }

    public mutating func optionalSharedString() throws -> String? {
        guard let value = try optionalString() else { return nil }
        return interner?.string(value) ?? value
    }

    /// `value`, or the equal value the interner already holds.
    public func shared<T: Hashable>(_ value: T) -> T {
        guard let interner else { return value }
        return interner.value(value)
    }

    // MARK: Scalars

    /// Consumes `null` if it is next; true if it was.
    public mutating func readNull() throws -> Bool {
        guard try peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    public mutating func string() throws -> String {
        guard try peek() == UInt8(ascii: "\"") else { throw error("a string") }
        return try rawString().string
    }

    /// Calls `body` with the bytes of a string token, unescaped ones read in place (no
    /// String is built); a string with escapes is decoded first.
    public mutating func withStringBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        guard try peek() == UInt8(ascii: "\"") else { throw error("a string") }
        let key = try rawString()
        if !key.hasEscapes { return try body(UnsafeBufferPointer(start: key.base, count: key.count)) }
        var decoded = key.string
        return try decoded.withUTF8(body)
    }

    /// A string, or nil for `null`.
    public mutating func optionalString() throws -> String? {
        try readNull() ? nil : string()
    }

    public mutating func bool() throws -> Bool {
        switch try peek() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw error("true or false")
        }
    }

    /// A non-negative integer. A number with a fraction or exponent is rounded down; a
    /// negative one is an error (the kubelet's counters are unsigned).
    public mutating func uint64() throws -> UInt64 {
        _ = try peek()
        var value: UInt64 = 0
        let start = index
        while index < end, case let digit = base[index] &- UInt8(ascii: "0"), digit < 10 {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { throw JSONError(offset: start, "number larger than 64 bits") }
            value = sum
            index += 1
        }
        if index == start { throw error("a non-negative number") }
        if index < end, base[index] == UInt8(ascii: ".") || base[index] | 0x20 == UInt8(ascii: "e") {
            index = start
            let double = try self.double()
            guard double >= 0, double < 1.8e19 else { throw JSONError(offset: start, "number out of range") }
            return UInt64(double)
        }
        return value
    }

    /// A non-negative integer, or nil for `null`.
    public mutating func optionalUInt64() throws -> UInt64? {
        try readNull() ? nil : uint64()
    }

    public mutating func int64() throws -> Int64 {
        guard try peek() == UInt8(ascii: "-") else {
            let value = try uint64()
            guard value <= UInt64(Int64.max) else { throw error("number out of range") }
            return Int64(value)
        }
        index += 1
        let magnitude = try uint64()
        guard magnitude <= UInt64(Int64.max) + 1 else { throw error("number out of range") }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }

    public mutating func double() throws -> Double {
        _ = try peek()
        let start = index
        while index < end, Self.isNumberByte(base[index]) { index += 1 }
        guard index > start,
              let value = Double(String(decoding: UnsafeBufferPointer(start: base + start, count: index - start), as: UTF8.self))
        else { index = start; throw error("a number") }
        return value
    }

    /// Skips one value of any kind. Inside a skipped object or array only nesting and
    /// strings are checked, not every comma: skipping is the hot path, and a truncated or
    /// unbalanced document is still an error.
    public mutating func skipValue() throws {
        switch try peek() {
        case UInt8(ascii: "\""):
            _ = try rawString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try skipContainer()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case let byte where byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")):
            while index < end, Self.isNumberByte(base[index]) { index += 1 }
        default:
            throw error("a value")
        }
    }

    /// Skips one value and returns the byte range it occupied (to keep it as sent).
    public mutating func rawValue() throws -> Range<Int> {
        _ = try peek()
        let start = index
        try skipValue()
        return start..<index
    }

    /// Fails unless only whitespace is left.
    public mutating func expectEnd() throws {
        skipWhitespace()
        if index < end { throw error("end of input") }
    }

    // MARK: Internals

    mutating func skipWhitespace() {
        while index < end {
            switch base[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    public mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard index < end else { throw JSONError(offset: index, "unexpected end of input") }
        return base[index]
    }

    mutating func next() throws -> UInt8 {
        let byte = try peek()
        index += 1
        return byte
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws {
        guard try peek() == byte else { throw error(what) }
        index += 1
    }

    func error(_ expected: String) -> JSONError {
        if index >= end { return JSONError(offset: index, "unexpected end of input, expected \(expected)") }
        let found = base[index] >= 0x20 && base[index] < 0x7F ? "'\(Character(UnicodeScalar(base[index])))'" : "byte \(base[index])"
        return JSONError(offset: index, "expected \(expected), found \(found)")
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard end - index >= count, memcmp(base + index, word.utf8Start, count) == 0 else { throw error("'\(word)'") }
        index += count
    }

    /// Reads a string token; the key keeps the raw bytes (escapes undecoded).
    mutating func rawString() throws -> JSONKey {
        let open = index
        index += 1
        let start = index
        var escaped = false
        while index < end {
            let byte = base[index]
            if byte == UInt8(ascii: "\"") {
                let key = JSONKey(base: base + start, count: index - start, hasEscapes: escaped)
                index += 1
                return key
            }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
                continue
            }
            if byte < 0x20 { throw JSONError(offset: index, "control character in a string") }
            index += 1
        }
        throw JSONError(offset: open, "unterminated string")
    }

    private mutating func skipContainer() throws {
        let start = index
        var depth = 0
        while index < end {
            switch base[index] {
            case UInt8(ascii: "\""):
                _ = try rawString()
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { index += 1; return }
            default:
                break
            }
            index += 1
        }
        throw JSONError(offset: start, "unterminated object or array")
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }
}

/// A member name or string token, pointing into the scanned bytes (valid only inside
/// the member callback).
public struct JSONKey {
    let base: UnsafePointer<UInt8>
    let count: Int
    let hasEscapes: Bool

    /// Compares with a literal key without allocating.
    public static func == (key: JSONKey, literal: StaticString) -> Bool {
        key.count == literal.utf8CodeUnitCount && memcmp(key.base, literal.utf8Start, key.count) == 0
    }

    /// The decoded string (escapes resolved; invalid escapes kept as they are).
    public var string: String {
        let bytes = UnsafeBufferPointer(start: base, count: count)
        guard hasEscapes else { return String(decoding: bytes, as: UTF8.self) }
        return JSONKey.unescape(bytes)
    }

    static func unescape(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[at..<at + 4] {
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while i < bytes.count {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < bytes.count else { out.append(byte); i += 1; continue }
            let escape = bytes[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(i) else { out += [UInt8(ascii: "\\"), escape]; continue }
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u"),
                   let low = hex4(i + 2), (0xDC00..<0xE000).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                out += Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default: out.append(escape)  // \" \\ \/
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
