/// Windows of any length and alignment cut into pieces the store can answer exactly: whole
/// hours (read from a rolled-up day's hourly buckets, or from raw samples) and, at edges
/// that fall inside an hour, the part-hours on either side (raw samples only). Each piece's
/// figures follow the store's pair-splitting rule, so that the pieces of a window add up to
/// the window and adjacent windows add up to their union.
public enum WindowPieces {
    /// [start, end) in pieces, in time order.
    /// - Parameter hour: the store's bucket width.
    public static func pieces(_ start: Int64, _ end: Int64, hour: Int64 = 3_600_000) -> [(start: Int64, end: Int64)] {
        precondition(start < end, "an empty window")
        let firstHour = floor(start + hour - 1, toMultipleOf: hour), lastHour = floor(end, toMultipleOf: hour)
        guard firstHour < lastHour else { return [(start, end)] }
        var pieces: [(start: Int64, end: Int64)] = []
        if start < firstHour { pieces.append((start, firstHour)) }
        var cursor = firstHour
        while cursor < lastHour { pieces.append((cursor, cursor + hour)); cursor += hour }
        if lastHour < end { pieces.append((lastHour, end)) }
        return pieces
    }
}

extension TimeSeriesStore {
    /// The given metrics of the given entities over each of `pieces` (`WindowPieces.pieces`
    /// of one or more windows): one dictionary per metric, one `BucketStats` per piece. Runs
    /// of whole hours are read as one hourly grid (rolled-up days from their stored
    /// buckets); each part-hour from raw samples.
    public func pieces(_ entities: [EntityID], metrics: [Int], pieces: ArraySlice<(start: Int64, end: Int64)>) throws -> [[EntityID: [BucketStats]]] {
        let hour = configuration.bucketWidth
        let pieces = Array(pieces)
        let count = pieces.count
        var result = [[EntityID: [BucketStats]]](repeating: [:], count: metrics.count)
        func add(_ found: [[EntityID: [BucketStats]]], into first: Int, _ take: (Int) -> Int) {
            for slot in metrics.indices {
                for (id, buckets) in found[slot] {
                    var list = result[slot][id] ?? [BucketStats](repeating: BucketStats(), count: count)
                    for (index, stats) in buckets.enumerated() where !stats.isEmpty { list[first + take(index)].merge(stats) }
                    result[slot][id] = list
                }
            }
        }
        var index = 0
        while index < count {
            let piece = pieces[index]
            if piece.end - piece.start == hour && piece.start % hour == 0 {
                // A run of consecutive whole hours.
                var end = index + 1
                while end < count, pieces[end].start == pieces[end - 1].end, pieces[end].end - pieces[end].start == hour {
                    end += 1
                }
                let grid = BucketGrid(start: piece.start, step: hour, count: end - index, gapLimit: configuration.gapLimit)
                add(try buckets(entities, metrics: metrics, grid: grid, preferStored: true), into: index) { $0 }
                index = end
            } else {
                let grid = BucketGrid(start: piece.start, step: piece.end - piece.start, count: 1, gapLimit: configuration.gapLimit)
                add(try buckets(entities, metrics: metrics, grid: grid), into: index) { $0 }
                index += 1
            }
        }
        return result
    }
}
