/// How a metric's values behave over time.
public enum MetricKind: UInt8, Sendable {
    /// A level (bytes in use, a limit): averaged, integrated over time.
    case gauge
    /// A cumulative total (core-nanoseconds, bytes sent): its increase is the usage; a
    /// decrease is a reset (the counter started again from 0).
    case counter
}

/// How a metric's values are stored.
public enum ValueEncoding: UInt8, Sendable {
    /// Unsigned 64-bit integers, exact (delta-of-delta).
    case integer
    /// IEEE doubles, exact bit patterns (Gorilla XOR).
    case float
}

public struct MetricDefinition: Sendable, Equatable {
    public var name: String
    public var kind: MetricKind
    public var encoding: ValueEncoding
    /// A counter that starts at 0 when its entity starts (a container's CPU time): the
    /// first sample's value counts as usage at its time.
    public var startsAtZero: Bool
    /// A value that grows by the time between two samples (an uptime in milliseconds): the
    /// head stores it as a difference from that prediction, a bit per sample while it holds.
    public var tracksTime: Bool

    public init(_ name: String, _ kind: MetricKind, _ encoding: ValueEncoding = .integer, startsAtZero: Bool = false, tracksTime: Bool = false) {
        self.name = name
        self.kind = kind
        self.encoding = encoding
        self.startsAtZero = startsAtZero
        self.tracksTime = tracksTime
    }
}

/// Entities of one kind (nodes, pods, ...) and the metrics each of them reports together,
/// one row per sample: the row's time is stored once for all of them. Metrics may be added
/// at the end of a family later (older chunks read them as absent), never removed or moved.
public struct Family: Sendable {
    public var id: UInt8
    public var name: String
    public var metrics: [MetricDefinition]
    public var encodings: [ValueEncoding]
    /// Metrics whose finished days are also kept as day summaries (`DaySummary`).
    public var summarized: [Int]
    /// A bit per metric that `tracksTime`.
    public var timeTracking: UInt64

    public init(id: UInt8, name: String, metrics: [MetricDefinition], summarize: [String] = []) {
        precondition(metrics.count <= 64, "a family holds at most 64 metrics")
        self.id = id
        self.name = name
        self.metrics = metrics
        encodings = metrics.map(\.encoding)
        summarized = summarize.map { name in metrics.firstIndex { $0.name == name }! }
        timeTracking = metrics.enumerated().reduce(0) { mask, metric in metric.element.tracksTime ? mask | 1 << UInt64(metric.offset) : mask }
    }

    public func index(of metric: String) -> Int? { metrics.firstIndex { $0.name == metric } }
}

/// One sample of an entity: its time (Unix milliseconds) and a value per metric of its
/// family (`values[i]` holds metric i's bits when `present` has bit i set).
public struct SampleRow: Sendable, Equatable {
    public var time: Int64
    public var present: UInt64
    public var values: [UInt64]

    public init(time: Int64, values: [UInt64?]) {
        self.time = time
        self.values = values.map { $0 ?? 0 }
        var mask: UInt64 = 0
        for (index, value) in values.enumerated() where value != nil { mask |= 1 << UInt64(index) }
        present = mask
    }

    public init(time: Int64, present: UInt64, values: [UInt64]) {
        self.time = time
        self.present = present
        self.values = values
    }

    public func value(_ index: Int) -> UInt64? {
        index < values.count && present & (1 << UInt64(index)) != 0 ? values[index] : nil
    }
}

/// A value as a Double: integers converted, floats from their bits.
@inline(__always) public func number(_ bits: UInt64, _ encoding: ValueEncoding) -> Double {
    encoding == .float ? Double(bitPattern: bits) : Double(bits)
}
