import Testing
import TestSupport
@testable import TimeSeries

@Suite struct BucketTests {
    let cpu = MetricDefinition("cpu/usage", .counter, startsAtZero: true)
    let memory = MetricDefinition("memory/usage", .gauge)

    /// A container's CPU counter sampled every ~10 s with jitter, a reset, a long gap.
    func history() -> [(time: Int64, value: UInt64)] {
        var samples: [(time: Int64, value: UInt64)] = []
        var rng = SplitMix(seed: 11)
        var counter: UInt64 = 0
        var time: Int64 = 1_000_000
        for i in 0..<400 {
            time += 9_000 + Int64(rng.next() % 2_000)
            if i == 150 { time += 900_000 }            // 15 minutes without samples
            if i == 250 { counter = 0 }                  // the counter started again
            counter += 250_000_000 + rng.next() % 1_000_000_000
            samples.append((time, counter))
        }
        return samples
    }

    func total(_ buckets: [BucketStats]) -> BucketStats {
        buckets.reduce(into: BucketStats()) { $0.merge($1) }
    }

    @Test func adjacentWindowsAddUpExactlyToTheirUnion() {
        let samples = history()
        let start: Int64 = 1_000_000, end = samples.last!.time + 1
        let whole = BucketGrid(start: start, step: end - start, count: 1, gapLimit: 300_000).accumulate(samples, metric: cpu, origin: samples[0].time)[0]
        // Every way of cutting [start, end) into windows gives the same total.
        for step: Int64 in [1, 997, 10_000, 60_000, 300_000, 3_600_000] {
            let count = Int((end - start + step - 1) / step)
            let grid = BucketGrid(start: start, step: step, count: count, gapLimit: 300_000)
            let cut = total(grid.accumulate(samples, metric: cpu, origin: samples[0].time))
            #expect(cut.increase == whole.increase, "step \(step)")
            #expect(cut.covered == whole.covered, "step \(step)")
            #expect(cut.count == whole.count)
        }
        // Two arbitrary neighbours: [a, b) + [b, c) = [a, c).
        let a: Int64 = 1_234_567, b: Int64 = 2_345_678, c: Int64 = 4_000_001
        func window(_ from: Int64, _ to: Int64) -> BucketStats {
            BucketGrid(start: from, step: to - from, count: 1, gapLimit: 300_000).accumulate(samples, metric: cpu, origin: samples[0].time)[0]
        }
        #expect(window(a, b).increase + window(b, c).increase == window(a, c).increase)
    }

    @Test func theTotalIsTheCounterHistoryExactly() {
        let samples = history()
        // From 0 at the first sample (the counter starts at zero), plus every increase, a reset
        // counting its new value.
        var expected = samples[0].value
        for (before, after) in zip(samples, samples.dropFirst()) {
            expected += after.value >= before.value ? after.value - before.value : after.value
        }
        let grid = BucketGrid(start: 0, step: 600_000, count: 20, gapLimit: 300_000)
        #expect(total(grid.accumulate(samples, metric: cpu, origin: samples[0].time)).increase == expected)
        // Without the entity's first sample in view, its value is not usage.
        #expect(total(grid.accumulate(samples, metric: cpu, origin: nil)).increase == expected - samples[0].value)
    }

    @Test func aGapIsReportedAndItsIncreaseLandsAtTheLaterSample() {
        let samples: [(time: Int64, value: UInt64)] = [(0, 100), (10_000, 200), (1_000_000, 1200), (1_010_000, 1300)]
        let grid = BucketGrid(start: 0, step: 100_000, count: 11, gapLimit: 60_000)
        let buckets = grid.accumulate(samples, metric: cpu, origin: nil)
        #expect(buckets[0].increase == 100)
        #expect(buckets[10].increase == 1100)  // the 1000 across the gap, then 100
        #expect(buckets[0].covered == 10_000)
        #expect(buckets[5].covered == 0)
        #expect(buckets[10].covered == 10_000)
    }

    @Test func gaugesIntegrateOverCoveredTimeOnly() {
        let samples: [(time: Int64, value: UInt64)] = [(0, 1000), (30_000, 2000), (60_000, 2000), (500_000, 4000)]
        let grid = BucketGrid(start: 0, step: 60_000, count: 10, gapLimit: 60_000)
        let buckets = grid.accumulate(samples, metric: memory, origin: nil)
        // 1000 for 30 s, then 2000 for 30 s; the 440 s to the next sample is a gap.
        #expect(buckets[0].integral == 1000 * 30 + 2000 * 30)
        #expect(total(buckets).integral == 90_000)
        #expect(total(buckets).covered == 60_000)
        #expect(buckets[0].count == 2 && buckets[1].count == 1)
        #expect(buckets[0].average == 1500)
        #expect(buckets[8].max == 4000 && buckets[8].last == 4000)
    }

    @Test func aPodThatLivedTwentyFiveSecondsIsCounted() {
        let samples: [(time: Int64, value: UInt64)] = [(5_000, 2_000_000), (15_000, 9_000_000), (25_000, 12_000_000)]
        let grid = BucketGrid(start: 0, step: 3_600_000, count: 1, gapLimit: 300_000)
        #expect(grid.accumulate(samples, metric: cpu, origin: 5_000)[0].increase == 12_000_000)
    }

    @Test func piecesOfOnePairAlwaysAddUpToIt() {
        var rng = SplitMix(seed: 5)
        for _ in 0..<2000 {
            let delta = rng.next()
            let gap = Int64(rng.next() % 1_000_000) + 1
            let cut = Int64(rng.next() % UInt64(gap + 1))
            #expect(BucketGrid.share(delta, 0, cut, gap) &+ BucketGrid.share(delta, cut, gap, gap) == delta)
        }
    }
}
