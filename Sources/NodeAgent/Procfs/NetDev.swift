/// One interface's cumulative counters from /proc/net/dev.
public struct NetDevCounters: Sendable, Equatable {
    public var name = ""
    public var rxBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var rxErrors: UInt64 = 0
    public var rxDropped: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var txErrors: UInt64 = 0
    public var txDropped: UInt64 = 0
    public init() {}

    /// Parses /proc/net/dev (two header lines, then `name: 16 numbers`).
    public static func parse(_ bytes: [UInt8]) throws -> [NetDevCounters] {
        var result: [NetDevCounters] = []
        for line in ProcText.lines(bytes) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = ProcText.fields(line[..<colon]).first.map(ProcText.string) ?? ""
            let numbers = ProcText.fields(line[(colon + 1)...]).compactMap(ProcText.decimal)
            guard !name.isEmpty, !name.contains("|") else { continue }
            guard numbers.count >= 16 else { throw ProcParseError("/proc/net/dev", "interface \(name) has \(numbers.count) counters, expected 16") }
            var c = NetDevCounters()
            c.name = name
            c.rxBytes = numbers[0]; c.rxPackets = numbers[1]; c.rxErrors = numbers[2]; c.rxDropped = numbers[3]
            c.txBytes = numbers[8]; c.txPackets = numbers[9]; c.txErrors = numbers[10]; c.txDropped = numbers[11]
            result.append(c)
        }
        return result
    }
}
