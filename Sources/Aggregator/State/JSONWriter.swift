import Kubernetes

/// A small, allocation-light JSON writer: the live views are serialized once per refresh for
/// thousands of pods, which `JSONEncoder` makes a hundred times slower than it needs to be.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// The next value starts a new document in the same buffer (no comma before it): many
    /// small documents written back to back into one allocation.
    public mutating func nextDocument() {
        needsComma.removeAll(keepingCapacity: true)
        needsComma.append(false)
    }

    /// The bytes in a buffer of exactly their size (the writer's grows by doubling).
    public var compactBytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: bytes)
        }
    }

    private mutating func separator() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { needsComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { needsComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"key":`; the value written next belongs to it.
    public mutating func key(_ key: String) {
        separator()
        Self.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    public mutating func value(_ string: String) { separator(); Self.appendString(string, to: &bytes) }
    public mutating func value(_ number: Int64) { separator(); Self.appendInteger(number, to: &bytes) }
    public mutating func value(_ number: UInt64) { separator(); Self.appendDigits(number, to: &bytes) }

    /// `"name":"2026-01-02T15:04:05Z"` from Unix seconds, written byte by byte (history
    /// answers write one per point: a String per point cost more than the query).
    public mutating func field(_ name: String, time seconds: Int64) {
        key(name)
        separator()
        Self.appendTime(seconds, to: &bytes)
    }

    /// `"2026-01-02T15:04:05Z"` (quoted) from Unix seconds, formatted in a stack buffer and
    /// appended at once; years outside 0...9999 are clamped.
    public static func appendTime(_ seconds: Int64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 22) { buffer in
            var cursor = buffer.baseAddress!
            putTime(seconds, at: &cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// A quoted RFC 3339 time (22 bytes) written at `cursor`, which then points past it.
    @inline(__always)
    public static func putTime(_ seconds: Int64, at cursor: inout UnsafeMutablePointer<UInt8>) {
        let day = dayNumber(seconds)
        putDate(day, at: cursor)
        putClock(Int(seconds - day * 86400), at: cursor)
        cursor += 22
    }

    /// The day part of the times a writer wrote last (`"2026-12-04T`, 12 bytes), so that a
    /// run of times of one day (a history answer's points) works the date out once.
    public struct DayText {
        var day = Int64.min
        var text: (UInt64, UInt64) = (0, 0)
        public init() {}
    }

    /// `putTime` through a `DayText`: the same 22 bytes.
    @inline(__always)
    public static func putTime(_ seconds: Int64, at cursor: inout UnsafeMutablePointer<UInt8>, days: inout DayText) {
        let day = dayNumber(seconds)
        if day != days.day {
            putDate(day, at: cursor)
            let written = cursor
            withUnsafeMutableBytes(of: &days.text) { $0.baseAddress!.copyMemory(from: written, byteCount: 12) }
            days.day = day
        } else {
            withUnsafeBytes(of: days.text) { cursor.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 12) }
        }
        putClock(Int(seconds - day * 86400), at: cursor)
        cursor += 22
    }

    /// Days since 1970-01-01 (floored: times before 1970 are in the day before).
    @inline(__always) static func dayNumber(_ seconds: Int64) -> Int64 {
        seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
    }

    /// `"YYYY-MM-DDT`, the first 12 bytes of a time.
    @inline(__always) static func putDate(_ day: Int64, at buffer: UnsafeMutablePointer<UInt8>) {
        let (year, month, date) = UnixTime.civilFromDays(Int(day))
        let y = max(0, min(year, 9999))
        buffer[0] = UInt8(ascii: "\"")
        putPair(y / 100, at: buffer + 1); putPair(y % 100, at: buffer + 3)
        buffer[5] = UInt8(ascii: "-"); putPair(month, at: buffer + 6)
        buffer[8] = UInt8(ascii: "-"); putPair(date, at: buffer + 9)
        buffer[11] = UInt8(ascii: "T")
    }

    /// `HH:MM:SSZ"`, the last 10 bytes of a time (written at `buffer + 12`).
    @inline(__always) static func putClock(_ second: Int, at buffer: UnsafeMutablePointer<UInt8>) {
        putPair(second / 3600, at: buffer + 12)
        buffer[14] = UInt8(ascii: ":"); putPair(second / 60 % 60, at: buffer + 15)
        buffer[17] = UInt8(ascii: ":"); putPair(second % 60, at: buffer + 18)
        buffer[20] = UInt8(ascii: "Z")
        buffer[21] = UInt8(ascii: "\"")
    }

    /// Two digits of 0...99 from the table of pairs.
    @inline(__always) static func putPair(_ n: Int, at buffer: UnsafeMutablePointer<UInt8>) {
        let pairs = digitPairs.utf8Start
        buffer[0] = pairs[n &* 2]
        buffer[1] = pairs[n &* 2 &+ 1]
    }

    /// Bytes known at compile time written at `cursor`, which then points past them.
    @inline(__always)
    public static func put(_ text: StaticString, at cursor: inout UnsafeMutablePointer<UInt8>) {
        cursor.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
        cursor += text.utf8CodeUnitCount
    }


    /// A value the body appends as raw JSON bytes: hot loops writing many small objects of
    /// one fixed shape (history points) skip the writer's bookkeeping per key.
    public mutating func rawValue(_ body: (inout [UInt8]) -> Void) {
        separator()
        body(&bytes)
    }

    /// A double rounded to the nearest integer; beyond Int64's range clamped, not finite: 0.
    public static func appendInteger(rounding number: Double, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var cursor = buffer.baseAddress!
            putInteger(rounding: number, at: &cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: cursor - buffer.baseAddress!))
        }
    }

    /// The same written at `cursor` (at most 20 bytes), which then points past it.
    @inline(__always)
    public static func putInteger(rounding number: Double, at cursor: inout UnsafeMutablePointer<UInt8>) {
        let value: Int64
        if number.magnitude < 0x1p52 {
            // Half away from zero without libm's `round` (a call per number): below 2^52 the
            // fraction left by truncation is exact.
            let whole = Int64(number)
            let fraction = number - Double(whole)
            value = fraction >= 0.5 ? whole + 1 : fraction <= -0.5 ? whole - 1 : whole
        } else {
            let rounded = number.rounded()
            value = !rounded.isFinite ? 0 : rounded >= 0x1p63 ? .max : rounded < -0x1p63 ? .min : Int64(rounded)
        }
        if value < 0 {
            cursor.pointee = UInt8(ascii: "-")
            cursor += 1
        }
        putDigits(value.magnitude, at: &cursor)
    }

    /// A signed integer's digits.
    public static func appendInteger(_ number: Int64, to bytes: inout [UInt8]) {
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(number.magnitude, to: &bytes)
    }

    /// Bytes known at compile time (keys and punctuation), appended as they are.
    @inline(__always)
    public static func appendLiteral(_ literal: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Decimal digits without a String in between.
    public static func appendDigits(_ number: UInt64, to bytes: inout [UInt8]) {
        if number < 10 { bytes.append(UInt8(ascii: "0") + UInt8(number)); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var cursor = buffer.baseAddress!
            putDigits(number, at: &cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: cursor - buffer.baseAddress!))
        }
    }

    /// Decimal digits written at `cursor` (at most 20), which then points past them: for
    /// writers that fill memory they sized themselves (`/metrics/resource`).
    @inlinable @inline(__always)
    public static func putDigits(_ number: UInt64, at cursor: inout UnsafeMutablePointer<UInt8>) {
        // The length by comparisons, then two digits per division from a table of pairs.
        var digits = 1, power: UInt64 = 10
        while digits < 20 && number >= power {
            digits += 1
            power = power &* 10
        }
        let pairs = digitPairs.utf8Start
        var index = cursor + digits
        var rest = number
        while rest >= 100 {
            let pair = Int(rest % 100) &* 2
            rest /= 100
            index -= 2
            index[0] = pairs[pair]
            index[1] = pairs[pair + 1]
        }
        if rest >= 10 {
            let pair = Int(rest) &* 2
            index -= 2
            index[0] = pairs[pair]
            index[1] = pairs[pair + 1]
        } else {
            index -= 1
            index.pointee = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
        }
        cursor += digits
    }

    /// "00" "01" ... "99": 200 bytes in the binary (no lazy global, no reference count).
    @inlinable static var digitPairs: StaticString {
        """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """
    }
    public mutating func value(_ number: Int) { value(Int64(number)) }
    public mutating func value(_ flag: Bool) { separator(); bytes.append(contentsOf: (flag ? "true" : "false").utf8) }
    /// Doubles with at most two decimals (percents); non-finite values become 0.
    public mutating func value(_ number: Double) {
        separator()
        Self.appendHundredths(number, to: &bytes)
    }

    /// A double with at most two decimals; non-finite: 0.
    public static func appendHundredths(_ number: Double, to bytes: inout [UInt8]) {
        guard number.isFinite else { bytes.append(UInt8(ascii: "0")); return }
        let hundredths = (number * 100).rounded()
        if hundredths == hundredths.rounded(.towardZero), abs(hundredths) < 9e15 {
            let whole = Int64(hundredths)
            if whole < 0 { bytes.append(UInt8(ascii: "-")) }
            let magnitude = whole.magnitude
            let fraction = magnitude % 100
            appendDigits(magnitude / 100, to: &bytes)
            if fraction != 0 {
                bytes.append(UInt8(ascii: "."))
                bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10))
                if fraction % 10 != 0 { bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10)) }
            }
        } else {
            bytes.append(contentsOf: "\(number)".utf8)
        }
    }
    /// A double to its last digit (the shortest text that reads back as the same double:
    /// figures that bill, where two decimals would lose small windows); non-finite: 0.
    public mutating func value(exact number: Double) {
        separator()
        guard number.isFinite else { bytes.append(UInt8(ascii: "0")); return }
        if number == number.rounded(), abs(number) < 9e15 {
            if number < 0 { bytes.append(UInt8(ascii: "-")) }
            Self.appendDigits(UInt64(abs(number)), to: &bytes)
            return
        }
        bytes.append(contentsOf: number.description.utf8)
    }
    public mutating func null() { separator(); bytes.append(contentsOf: "null".utf8) }
    /// A string value already known to need no escaping, quoted.
    public mutating func rawString(_ utf8: [UInt8]) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: utf8)
        bytes.append(UInt8(ascii: "\""))
    }
    /// Already-serialized JSON (one value).
    public mutating func raw(_ json: [UInt8]) { separator(); bytes.append(contentsOf: json) }

    public mutating func field(_ name: String, _ string: String) { key(name); value(string) }
    public mutating func field(_ name: String, _ number: Int64) { key(name); value(number) }
    public mutating func field(_ name: String, _ number: UInt64) { key(name); value(number) }
    public mutating func field(_ name: String, exact number: Double) { key(name); value(exact: number) }
    public mutating func field(_ name: String, _ number: Int) { key(name); value(number) }
    public mutating func field(_ name: String, _ number: Double) { key(name); value(number) }
    public mutating func field(_ name: String, _ flag: Bool) { key(name); value(flag) }

    /// A JSON string literal, escaped as RFC 8259 requires. Names and keys rarely need
    /// escaping: those are copied in one go.
    public static func appendString(_ string: String, to bytes: inout [UInt8]) {
        var text = string
        let plain = text.withUTF8 { utf8 in
            guard !needsEscaping(utf8) else { return false }
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(ascii: "\""))
            return true
        }
        if plain { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: stringBound(text)) { buffer in
            var cursor = buffer.baseAddress!
            putString(text, at: &cursor)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress!, count: cursor - buffer.baseAddress!))
        }
    }

    /// The most bytes `putString` writes for a string (every byte a `\u00XX`, and the quotes).
    @inline(__always)
    public static func stringBound(_ string: String) -> Int { 6 * string.utf8.count + 2 }

    /// The same string literal written at `cursor` (at most `stringBound` bytes), which then
    /// points past it.
    @inline(__always)
    public static func putString(_ string: String, at cursor: inout UnsafeMutablePointer<UInt8>) {
        var text = string
        cursor.pointee = UInt8(ascii: "\"")
        cursor += 1
        text.withUTF8 { utf8 in
            if needsEscaping(utf8) {
                putEscaped(utf8, at: &cursor)
            } else {
                if let base = utf8.baseAddress { cursor.update(from: base, count: utf8.count) }
                cursor += utf8.count
            }
        }
        cursor.pointee = UInt8(ascii: "\"")
        cursor += 1
    }

    /// UTF-8 bytes escaped, written at `cursor` (at most 6 bytes each).
    static func putEscaped(_ utf8: UnsafeBufferPointer<UInt8>, at cursor: inout UnsafeMutablePointer<UInt8>) {
        @inline(__always) func put(_ a: UInt8, _ b: UInt8) {
            cursor[0] = a
            cursor[1] = b
            cursor += 2
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): put(92, 34)
            case UInt8(ascii: "\\"): put(92, 92)
            case 0x0A: put(92, UInt8(ascii: "n"))
            case 0x0D: put(92, UInt8(ascii: "r"))
            case 0x09: put(92, UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                put(92, UInt8(ascii: "u"))
                put(48, 48)
                put(hex.utf8Start[Int(byte >> 4)], hex.utf8Start[Int(byte & 15)])
            default:
                cursor.pointee = byte
                cursor += 1
            }
        }
    }

    /// Whether UTF-8 bytes need escaping in a JSON string (a quote, a backslash or a control byte).
    @inline(__always)
    static func needsEscaping(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
    }

    public static func quoted(_ string: String) -> String {
        var bytes: [UInt8] = []
        appendString(string, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
