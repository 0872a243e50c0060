/// Windows of any length and alignment cut into pieces the store can answer exactly: whole
/// hours (read from a rolled-up day's hourly buckets, or from raw samples) and, at edges
/// that fall inside an hour, the part-hours on either side (raw samples only). Each piece's
/// figures follow the store's pair-splitting rule, so that the pieces of a window add up to
/// the window and adjacent windows add up to their union.
public struct WindowPieces: Sendable {
    /// The windows' edges, ascending: window `i` is [edges[i], edges[i + 1]).
    public let edges: [Int64]
    /// Every piece: its span and the window it belongs to, in time order.
    public let pieces: [(start: Int64, end: Int64, window: Int)]

    /// - Parameter hour: the store's bucket width.
    public init(edges: [Int64], hour: Int64 = 3_600_000) {
        precondition(edges.count >= 2 && zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 }, "edges must ascend")
        self.edges = edges
        var pieces: [(start: Int64, end: Int64, window: Int)] = []
        for window in 0..<(edges.count - 1) {
            let start = edges[window], end = edges[window + 1]
            let firstHour = floor(start + hour - 1, toMultipleOf: hour), lastHour = floor(end, toMultipleOf: hour)
            guard firstHour < lastHour else { pieces.append((start, end, window)); continue }
            if start < firstHour { pieces.append((start, firstHour, window)) }
            var cursor = firstHour
            while cursor < lastHour { pieces.append((cursor, cursor + hour, window)); cursor += hour }
            if lastHour < end { pieces.append((lastHour, end, window)) }
        }
        self.pieces = pieces
    }
}

extension TimeSeriesStore {
    /// The given metrics of the given entities over each of `pieces` (a run of
    /// `WindowPieces.pieces`): one dictionary per metric, one `BucketStats` per piece. Runs
    /// of whole hours are read as one hourly grid (rolled-up days from their stored
    /// buckets); each part-hour from raw samples.
    public func pieces(_ entities: [EntityID], metrics: [Int], pieces: ArraySlice<(start: Int64, end: Int64, window: Int)>) throws -> [[EntityID: [BucketStats]]] {
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
