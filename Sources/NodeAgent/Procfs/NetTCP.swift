/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible, Comparable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let parsed = IPAddress.parseIPv6(text) else { return nil }
            bytes = parsed
        } else {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4 else { return nil }
            var out: [UInt8] = []
            for part in parts {
                guard let value = UInt8(part) else { return nil }
                out.append(value)
            }
            bytes = out
        }
    }

    /// Parses `a.b.c.d` or an IPv6 address from text bytes; dotted quads without a String.
    public init?(utf8 text: UnsafeBufferPointer<UInt8>) {
        var octets: [UInt8] = []
        octets.reserveCapacity(4)
        var value = 0, digits = 0
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, octets.count < 3 else { octets = []; break }
                octets.append(UInt8(value))
                value = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") && digits < 3 {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                guard value <= 255 else { octets = []; break }
                digits += 1
            } else {
                octets = []
                digits = -1
                break
            }
        }
        if digits > 0 && octets.count == 3 {
            octets.append(UInt8(value))
            self.init(bytes: octets)
        } else {
            self.init(String(decoding: text, as: UTF8.self))
        }
    }

    public var isIPv4: Bool { bytes.count == 4 }
    public var isUnspecified: Bool { bytes.allSatisfy { $0 == 0 } }
    public var isLoopback: Bool {
        if isIPv4 { return bytes[0] == 127 }
        if bytes.count == 16, let mapped = ipv4Mapped { return mapped.isLoopback }
        return bytes.count == 16 && bytes.dropLast().allSatisfy { $0 == 0 } && bytes.last == 1
    }

    /// The IPv4 address inside `::ffff:a.b.c.d`, as dual-stack sockets report IPv4 peers.
    public var ipv4Mapped: IPAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
        return IPAddress(bytes: Array(bytes[12...]))
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public var description: String {
        if isIPv4 { return bytes.map(String.init).joined(separator: ".") }
        guard bytes.count == 16 else { return "invalid" }
        var groups: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { groups.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
        // Compress the longest run of two or more zero groups (RFC 5952).
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else { run = (-1, 0) }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return "\(head)::\(tail)"
    }

    private static func split(_ text: String, on separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    private static func parseIPv6(_ text: String) -> [UInt8]? {
        let halves = IPAddress.split(text, on: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                if piece.contains("."), let v4 = IPAddress(String(piece)), v4.isIPv4 {
                    result += [UInt16(v4.bytes[0]) << 8 | UInt16(v4.bytes[1]), UInt16(v4.bytes[2]) << 8 | UInt16(v4.bytes[3])]
                } else {
                    guard piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                    result.append(value)
                }
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// One row of /proc/net/tcp or /proc/net/tcp6.
public struct TCPSocket: Sendable, Equatable {
    public enum State: UInt8, Sendable {
        case established = 0x01, synSent, synReceived, finWait1, finWait2, timeWait, close, closeWait, lastAck, listen, closing
    }

    public var localAddress: IPAddress
    public var localPort: UInt16
    public var remoteAddress: IPAddress
    public var remotePort: UInt16
    public var state: State?
    public var uid: UInt32
    public var inode: UInt64

    /// Parses the rows; the header line and malformed rows (a file truncated mid-read) are
    /// skipped, and how many were malformed is returned with them.
    public static func parse(_ bytes: [UInt8]) -> (sockets: [TCPSocket], malformed: Int) {
        var sockets: [TCPSocket] = []
        var malformed = 0
        for line in ProcText.lines(bytes) {
            let fields = ProcText.fields(line)
            guard fields.count >= 10, fields[0].last == UInt8(ascii: ":") else {
                if !(fields.first.map { $0.elementsEqual("sl".utf8) } ?? true) { malformed += 1 }
                continue
            }
            guard let local = endpoint(fields[1]), let remote = endpoint(fields[2]),
                  let state = ProcText.hex(fields[3]), let uid = ProcText.decimal(fields[7]), let inode = ProcText.decimal(fields[9])
            else { malformed += 1; continue }
            sockets.append(TCPSocket(localAddress: local.0, localPort: local.1, remoteAddress: remote.0, remotePort: remote.1,
                                     state: State(rawValue: UInt8(truncatingIfNeeded: state)), uid: UInt32(truncatingIfNeeded: uid), inode: inode))
        }
        return (sockets, malformed)
    }

    /// `0100007F:0016`: the address as the kernel's 32-bit words in host (little-endian)
    /// order, the port big-endian hex.
    static func endpoint(_ field: ArraySlice<UInt8>) -> (IPAddress, UInt16)? {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")), let port = ProcText.hex(field[(colon + 1)...]), port <= 0xFFFF else { return nil }
        let hex = field[..<colon]
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let word = ProcText.hex(hex[index..<index + 8]) else { return nil }
            let w = UInt32(word)
            bytes += [UInt8(w & 0xFF), UInt8(w >> 8 & 0xFF), UInt8(w >> 16 & 0xFF), UInt8(w >> 24)]
            index += 8
        }
        return (IPAddress(bytes: bytes), UInt16(port))
    }
}

/// The inode of a namespace link's target, `net:[4026531992]`.
public enum NamespaceLink {
    public static func inode(_ target: String) -> UInt64? {
        guard let open = target.firstIndex(of: "["), target.hasSuffix("]") else { return nil }
        return UInt64(target[target.index(after: open)..<target.index(before: target.endIndex)])
    }
}
