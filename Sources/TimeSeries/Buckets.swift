/// What a bucket keeps of one metric of one entity, so that every coarser answer is exact:
/// averages (sum / count), extremes, the newest value, the counter's increase and the
/// gauge's integral over the time the bucket had samples (`covered`).
public struct BucketStats: Sendable, Equatable {
    public var count: UInt64 = 0
    public var sum: Double = 0
    public var min: Double = .infinity
    public var max: Double = -.infinity
    public var last: Double = .nan
    public var lastTime: Int64 = .min
    /// Counters: the reset-aware increase, in the counter's unit, exact.
    public var increase: UInt64 = 0
    /// Gauges: value x seconds over the covered time (each sample holds until the next).
    public var integral: Double = 0
    /// Milliseconds between consecutive samples no further apart than the gap limit.
    public var covered: Int64 = 0

    public init() {}

    public var isEmpty: Bool { count == 0 && increase == 0 && covered == 0 }
    public var average: Double? { count > 0 ? sum / Double(count) : nil }

    mutating func add(point value: Double, at time: Int64) {
        count += 1
        sum += value
        if value < min { min = value }
        if value > max { max = value }
        if time >= lastTime { last = value; lastTime = time }
    }

    /// Adds an adjacent or overlapping bucket's figures: the result is the union's.
    public mutating func merge(_ other: BucketStats) {
        count += other.count
        sum += other.sum
        if other.min < min { min = other.min }
        if other.max > max { max = other.max }
        if other.count > 0, other.lastTime >= lastTime { last = other.last; lastTime = other.lastTime }
        increase &+= other.increase
        integral += other.integral
        covered += other.covered
    }
}

/// Cuts samples into buckets of a fixed grid. A pair of consecutive samples at most
/// `gapLimit` apart is split between buckets in proportion to time (integers rounded so
/// that the pieces of one pair always add up to its whole: adjacent windows add up exactly
/// to their union); a pair further apart is a gap: a counter's increase across it lands
/// entirely at the later sample, and a gauge is not integrated over it.
public struct BucketGrid: Sendable {
    public var start: Int64
    public var step: Int64
    public var count: Int
    public var gapLimit: Int64

    public init(start: Int64, step: Int64, count: Int, gapLimit: Int64) {
        precondition(step > 0 && count >= 0)
        self.start = start
        self.step = step
        self.count = count
        self.gapLimit = gapLimit
    }

    public var end: Int64 { start + step * Int64(count) }

    /// The grid's buckets cut to [lower, upper): a partial first bucket, the whole ones, a
    /// partial last bucket, each as (index of its first bucket in this grid, its grid).
    func clipped(_ lower: Int64, _ upper: Int64) -> [(Int, BucketGrid)] {
        let low = max(lower, start), high = min(upper, end)
        guard low < high else { return [] }
        func bucketStart(_ index: Int) -> Int64 { start + step * Int64(index) }
        var first = Int((low - start) / step)
        var last = Int((high - 1 - start) / step)
        var parts: [(Int, BucketGrid)] = []
        if bucketStart(first) < low {
            parts.append((first, BucketGrid(start: low, step: min(bucketStart(first + 1), high) - low, count: 1, gapLimit: gapLimit)))
            first += 1
        }
        var tail: (Int, BucketGrid)?
        if first <= last, bucketStart(last + 1) > high {
            tail = (last, BucketGrid(start: bucketStart(last), step: high - bucketStart(last), count: 1, gapLimit: gapLimit))
            last -= 1
        }
        if first <= last { parts.append((first, BucketGrid(start: bucketStart(first), step: step, count: last - first + 1, gapLimit: gapLimit))) }
        if let tail { parts.append(tail) }
        return parts
    }

    @inline(__always) func bucket(_ time: Int64) -> Int? {
        guard time >= start, time < end else { return nil }
        return Int((time - start) / step)
    }

    /// Buckets of one metric from its samples in time order; `samples` may reach beyond the
    /// grid on both sides (the pairs that cross its edges need them). `origin`: the time of
    /// the entity's very first sample, when a counter that starts at zero counts its first
    /// value as usage there.
    public func accumulate(_ samples: [(time: Int64, value: UInt64)], metric: MetricDefinition,
                           origin: Int64? = nil) -> [BucketStats] {
        var buckets = [BucketStats](repeating: BucketStats(), count: count)
        accumulate(samples, metric: metric, origin: origin, into: &buckets)
        return buckets
    }

    public func accumulate(_ samples: [(time: Int64, value: UInt64)], metric: MetricDefinition,
                           origin: Int64?, into buckets: inout [BucketStats]) {
        let counter = metric.kind == .counter
        var previous: (time: Int64, value: UInt64)? = nil
        for sample in samples {
            defer { previous = sample }
            if let index = bucket(sample.time) {
                buckets[index].add(point: number(sample.value, metric.encoding), at: sample.time)
            }
            guard let before = previous else {
                if counter, metric.startsAtZero, let origin, sample.time == origin, let index = bucket(sample.time) {
                    buckets[index].increase &+= sample.value
                }
                continue
            }
            let gap = sample.time - before.time
            guard gap > 0 else { continue }
            if counter {
                let delta = sample.value >= before.value ? sample.value - before.value : sample.value
                if gap > gapLimit {
                    if let index = bucket(sample.time) { buckets[index].increase &+= delta }
                } else {
                    split(from: before.time, to: sample.time) { index, lower, upper in
                        buckets[index].increase &+= Self.share(delta, lower - before.time, upper - before.time, gap)
                    }
                }
            }
            if gap <= gapLimit {
                let level = metric.kind == .gauge ? number(before.value, metric.encoding) : 0
                split(from: before.time, to: sample.time) { index, lower, upper in
                    buckets[index].covered += upper - lower
                    if metric.kind == .gauge { buckets[index].integral += level * Double(upper - lower) / 1000 }
                }
            }
        }
    }

    /// Calls `body` for each bucket that [from, to) overlaps, with the overlap.
    @inline(__always) func split(from: Int64, to: Int64, _ body: (Int, Int64, Int64) -> Void) {
        let lower = Swift.max(from, start), upper = Swift.min(to, end)
        guard lower < upper else { return }
        var index = Int((lower - start) / step)
        var cursor = lower
        while cursor < upper {
            let bucketEnd = Swift.min(start + step * Int64(index + 1), upper)
            body(index, cursor, bucketEnd)
            cursor = bucketEnd
            index += 1
        }
    }

    /// floor(delta x b / gap) - floor(delta x a / gap), in 128-bit arithmetic: the piece of
    /// `delta` that falls in [a, b) of a pair `gap` long (0 <= a <= b <= gap).
    @inline(__always) static func share(_ delta: UInt64, _ a: Int64, _ b: Int64, _ gap: Int64) -> UInt64 {
        cumulative(delta, b, gap) - cumulative(delta, a, gap)
    }

    @inline(__always) static func cumulative(_ delta: UInt64, _ offset: Int64, _ gap: Int64) -> UInt64 {
        if offset >= gap { return delta }
        if offset <= 0 { return 0 }
        let product = delta.multipliedFullWidth(by: UInt64(offset))
        return UInt64(gap).dividingFullWidth(product).quotient
    }
}
