import CSnappy

/// Prometheus remote write 1.0 bodies, written by hand: a `WriteRequest` of `TimeSeries`
/// (sorted labels, one sample each), cut every `maxSamples` samples, each body snappy
/// block-compressed. The wire (prometheus/prompb `remote.proto`, `types.proto`):
///
///     WriteRequest { repeated TimeSeries timeseries = 1; }
///     TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
///     Label        { string name = 1; string value = 2; }
///     Sample       { double value = 1; int64 timestamp = 2; }   // ms
public struct WriteRequestEncoder {
    /// A finished request: the compressed body and how many samples it carries.
    public struct Request: Sendable {
        public var body: [UInt8]
        public var samples: Int
    }

    public let maxSamples: Int
    private var current: [UInt8] = []
    private var count = 0
    private var series: [UInt8] = []
    public private(set) var requests: [Request] = []

    public init(maxSamples: Int = 5_000) {
        self.maxSamples = max(1, maxSamples)
        current.reserveCapacity(1 << 16)
        series.reserveCapacity(512)
    }

    /// One series with one sample. `labels` must be sorted by name (`__name__` sorts first);
    /// labels with an empty value are left out (they mean "absent" to Prometheus).
    public mutating func append(labels: [(name: String, value: String)], value: Double, timestampMs: Int64) {
        series.removeAll(keepingCapacity: true)
        for label in labels where !label.value.isEmpty {
            let nameLength = label.name.utf8.count, valueLength = label.value.utf8.count
            let labelLength = 1 + Self.varintSize(UInt64(nameLength)) + nameLength + 1 + Self.varintSize(UInt64(valueLength)) + valueLength
            series.append(0x0A)
            Self.varint(UInt64(labelLength), &series)
            series.append(0x0A)
            Self.varint(UInt64(nameLength), &series)
            series += label.name.utf8
            series.append(0x12)
            Self.varint(UInt64(valueLength), &series)
            series += label.value.utf8
        }
        let timestamp = UInt64(bitPattern: timestampMs)
        let sampleLength = 1 + 8 + 1 + Self.varintSize(timestamp)
        series.append(0x12)
        Self.varint(UInt64(sampleLength), &series)
        series.append(0x09)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { series += $0 }
        series.append(0x10)
        Self.varint(timestamp, &series)

        current.append(0x0A)
        Self.varint(UInt64(series.count), &current)
        current += series
        count += 1
        if count >= maxSamples { cut() }
    }

    /// Closes the request being written (if any) and returns every finished one.
    public mutating func finish() -> [Request] {
        cut()
        defer { requests = [] }
        return requests
    }

    private mutating func cut() {
        guard count > 0 else { return }
        requests.append(Request(body: Self.snappy(current), samples: count))
        current.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Snappy's block format (not the framed one), as remote write wants it.
    public static func snappy(_ input: [UInt8]) -> [UInt8] {
        var length = snappy_max_compressed_length(input.count)
        var output = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                source.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(source.count, 1)) { from in
                    target.baseAddress!.withMemoryRebound(to: CChar.self, capacity: target.count) { to in
                        snappy_compress(from, source.count, to, &length)
                    }
                }
            }
        }
        // Compression cannot fail with a buffer of snappy_max_compressed_length bytes.
        precondition(status == SNAPPY_OK, "snappy_compress: \(status)")
        output.removeSubrange(length...)
        return output
    }

    /// Snappy's block format back to bytes; nil for a corrupt input.
    public static func unsnappy(_ input: [UInt8]) -> [UInt8]? {
        var length = 0
        let sized = input.withUnsafeBufferPointer { source in
            source.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: source.count) { snappy_uncompressed_length($0, source.count, &length) }
            } ?? SNAPPY_INVALID_INPUT
        }
        guard sized == SNAPPY_OK else { return nil }
        var output = [UInt8](repeating: 0, count: length)
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                source.baseAddress!.withMemoryRebound(to: CChar.self, capacity: source.count) { from in
                    target.baseAddress.map { to in
                        to.withMemoryRebound(to: CChar.self, capacity: target.count) { snappy_uncompress(from, source.count, $0, &length) }
                    } ?? SNAPPY_OK
                }
            }
        }
        return status == SNAPPY_OK ? output : nil
    }

    static func varintSize(_ value: UInt64) -> Int {
        var value = value, size = 1
        while value >= 0x80 { value >>= 7; size += 1 }
        return size
    }

    static func varint(_ value: UInt64, _ bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
