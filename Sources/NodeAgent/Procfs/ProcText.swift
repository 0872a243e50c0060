/// Line and field splitting over the raw bytes of a /proc file, without building Strings
/// for what is only compared or parsed as a number.
enum ProcText {
    /// The file's lines; a last line without its newline counts too.
    static func lines(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
    }

    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] { lines(bytes[...]) }

    /// Fields separated by runs of spaces or tabs (a stray `\r` of a CRLF copy too).
    static func fields(_ line: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") })
    }

    static func decimal(_ field: ArraySlice<UInt8>) -> UInt64? {
        guard !field.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in field {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit))
            guard !o1 && !o2 else { return nil }
            value = sum
        }
        return value
    }

    static func hex(_ field: ArraySlice<UInt8>) -> UInt64? {
        guard !field.isEmpty, field.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in field {
            guard let digit = hexDigit(byte) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func string(_ field: ArraySlice<UInt8>) -> String { String(decoding: field, as: UTF8.self) }

    static func starts(_ line: ArraySlice<UInt8>, with prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard line.count >= count else { return false }
        return zip(line.prefix(count), UnsafeBufferPointer(start: prefix.utf8Start, count: count)).allSatisfy { $0 == $1 }
    }
}

/// A /proc file that did not have the expected shape.
public struct ProcParseError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var message: String
    public init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}
