/// /proc/meminfo in bytes.
public struct Meminfo: Sendable, Equatable {
    /// Every line, in bytes (`kB` values multiplied out; unit-less counts kept as they are).
    public var values: [String: UInt64] = [:]
    public init() {}

    public var totalBytes: UInt64? { values["MemTotal"] }
    public var freeBytes: UInt64? { values["MemFree"] }

    /// `MemAvailable`, or on kernels before 3.14 the usual estimate free + buffers + cached.
    public var availableBytes: UInt64? {
        if let available = values["MemAvailable"] { return available }
        guard let free = values["MemFree"] else { return nil }
        // Saturating: three sizes of a malformed file may add up past 64 bits.
        let (withBuffers, o1) = free.addingReportingOverflow(values["Buffers"] ?? 0)
        let (sum, o2) = withBuffers.addingReportingOverflow(values["Cached"] ?? 0)
        return o1 || o2 ? UInt64.max : sum
    }

    /// Used as the kubelet defines it for the node: total - available.
    public var usedBytes: UInt64? {
        guard let total = totalBytes, let available = availableBytes else { return nil }
        return total > available ? total - available : 0
    }

    public static func parse(_ bytes: [UInt8]) throws -> Meminfo {
        var info = Meminfo()
        for line in ProcText.lines(bytes) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let fields = ProcText.fields(line[(colon + 1)...])
            guard let number = fields.first.flatMap(ProcText.decimal) else { continue }
            let isKiB = fields.count > 1 && fields[1].elementsEqual("kB".utf8)
            // A size beyond 16 EiB is not a size (found by fuzzing: the product trapped).
            let (bytes, overflow) = isKiB ? number.multipliedReportingOverflow(by: 1024) : (number, false)
            guard !overflow else { continue }
            info.values[ProcText.string(line[..<colon])] = bytes
        }
        guard info.totalBytes != nil else { throw ProcParseError("/proc/meminfo", "no MemTotal line") }
        return info
    }
}
