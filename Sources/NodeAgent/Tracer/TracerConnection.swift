import Kubernetes

/// One connection as the network tracer reports it (REFERENCE.md §2). `local` is always
/// this node's end, also for incoming connections.
public struct TracerConnection: Sendable, Equatable {
    public enum Kind: Int, Sendable { case tcp = 0, udp = 1 }
    public enum Direction: Int, Sendable { case unknown = 0, incoming = 1, outgoing = 2, local = 3 }

    public var pid: UInt32 = 0
    public var kind: Kind = .tcp
    public var netns: UInt64 = 0
    public var local = IPAddress(bytes: [0, 0, 0, 0])
    public var localPort: UInt16 = 0
    public var remote = IPAddress(bytes: [0, 0, 0, 0])
    public var remotePort: UInt16 = 0
    public var direction: Direction = .unknown
    /// Cumulative totals; the feed's `last_*` deltas are per client and not used: rates
    /// come from cumulative counters at the aggregator.
    public var sentBytes: UInt64 = 0
    public var recvBytes: UInt64 = 0
    public var retransmits: UInt64 = 0
    /// Smoothed round-trip time and its variance, when the tracer reports them.
    public var rttMicros: UInt32?
    public var rttVarMicros: UInt32?
    /// Kernel monotonic nanoseconds of the last update (not Unix time).
    public var lastUpdateMonotonicNanos: UInt64 = 0

    public init() {}

    /// Decodes `{"connections":[...]}`; `null` is an empty list. The family follows from
    /// the address text, so the `family` field is not read. A row with an address that
    /// does not parse is a decode error (it names the offset).
    public static func decodeList(_ bytes: some JSONBytes) throws -> [TracerConnection] {
        try JSONScanner.decode(bytes) { s in
            var result: [TracerConnection] = []
            try s.forEachMember { s, key in
                if key == "connections" { result = try s.array(decode) }
            }
            return result
        }
    }

    static func decode(_ s: inout JSONScanner) throws -> TracerConnection {
        var c = TracerConnection()
        try s.forEachMember { s, key in
            if key == "pid" { c.pid = UInt32(truncatingIfNeeded: try s.uint64()) }
            else if key == "type" { c.kind = Kind(rawValue: Int(clamping: try s.uint64())) ?? .tcp }
            else if key == "net_ns" { c.netns = try s.uint64() }
            else if key == "source" { c.local = try address(&s) }
            else if key == "dest" { c.remote = try address(&s) }
            else if key == "sport" { c.localPort = UInt16(truncatingIfNeeded: try s.uint64()) }
            else if key == "dport" { c.remotePort = UInt16(truncatingIfNeeded: try s.uint64()) }
            else if key == "direction" { c.direction = Direction(rawValue: Int(clamping: try s.uint64())) ?? .unknown }
            else if key == "monotonic_sent_bytes" { c.sentBytes = try s.uint64() }
            else if key == "monotonic_recv_bytes" { c.recvBytes = try s.uint64() }
            else if key == "monotonic_retransmits" { c.retransmits = try s.uint64() }
            else if key == "last_update_epoch" { c.lastUpdateMonotonicNanos = try s.uint64() }
            else if key == "rtt" { c.rttMicros = try s.optionalUInt64().map { UInt32(clamping: $0) } }
            else if key == "rtt_var" { c.rttVarMicros = try s.optionalUInt64().map { UInt32(clamping: $0) } }
        }
        return c
    }

    private static func address(_ s: inout JSONScanner) throws -> IPAddress {
        let at = s.offset
        return try s.withStringBytes { bytes in
            guard let address = IPAddress(utf8: bytes) else {
                throw JSONError(offset: at, "expected an IP address, found \"\(String(decoding: bytes, as: UTF8.self))\"")
            }
            return address
        }
    }
}
