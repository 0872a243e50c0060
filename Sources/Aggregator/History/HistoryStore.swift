import Foundation
import Kubernetes
import Logging
import Metrics
import Synchronization
import TimeSeries
import Wire

/// How finely a history query's points are spaced: raw samples, or buckets.
public enum Resolution: String, Sendable, CaseIterable {
    case raw, oneMinute = "1m", fiveMinutes = "5m", fifteenMinutes = "15m", oneHour = "1h"

    /// The bucket width in seconds (0 for raw points).
    public var seconds: Int64 {
        switch self {
        case .raw: 0
        case .oneMinute: 60
        case .fiveMinutes: 300
        case .fifteenMinutes: 900
        case .oneHour: 3600
        }
    }

    /// The Cluster Monitor's choice by span: <=1h raw, <=6h 1m, <=24h 5m, <=7d 15m, else 1h.
    public static func automatic(span: Int64) -> Resolution {
        span <= 3600 ? .raw : span <= 6 * 3600 ? .oneMinute : span <= 24 * 3600 ? .fiveMinutes : span <= 7 * 86400 ? .fifteenMinutes : .oneHour
    }
}

/// How a bucket's samples become one value.
public enum Aggregation: String, Sendable, CaseIterable {
    case avg, min, max, sum, last, increase
}

/// Which entities a query reads, by their display keys (a node's name, `<namespace>/<pod>`,
/// `<namespace>/<pod>/<container>`, an edge's id).
public enum SeriesSelection: Sendable {
    case all
    case keys([String])
    /// Keys starting with this text (`<namespace>/` selects a namespace's pods).
    case prefix(String)
    /// The entities of the namespaces the predicate admits.
    case namespaces(@Sendable (String) -> Bool)
    /// The entities of the namespaces the first predicate admits whose keys the second admits.
    case filtered(namespaces: @Sendable (String) -> Bool, keys: @Sendable (String) -> Bool)
}

public struct HistoryConfiguration: Sendable {
    /// How long raw samples are kept.
    public var rawRetention: Duration = .seconds(8 * 86400)
    /// How long hourly buckets are kept.
    public var retention: Duration = .seconds(100 * 86400)
    /// The database's live size is kept under this: beyond it the oldest days go first.
    public var maxBytes: Int64 = 8 << 30
    /// Rows are sealed into chunks per segment of this length.
    public var segment: Duration = .seconds(300)
    /// Consecutive samples further apart than this are a gap (not integrated, not covered).
    public var gapLimit: Duration = .seconds(300)
    public init() {}
}

/// One point of the Cluster Monitor's history shape.
public struct HistoryPoint: Sendable, Equatable {
    public var time: Int64
    public var cpu: Double
    public var memory: Double
    public var disk: Double
}

/// One point of a catalog metric (Unix seconds).
public struct MetricPoint: Sendable, Equatable {
    public var time: Int64
    public var value: Double
}

/// The aggregator's history: every agent snapshot's node, pod and container figures and the
/// graph's edge counters, in a `TimeSeriesStore` under the metric catalog's names.
public final class HistoryStore: Sendable {
    public let store: TimeSeriesStore
    public let configuration: HistoryConfiguration
    /// Each node's entities of its previous snapshot, in its order. The next snapshot of a
    /// node is nearly always the same pods and containers: it takes their ids by comparing
    /// keys in place, instead of building each container's key and looking it up among
    /// 300,000 (a sixth of recording a snapshot at 150,000 pods).
    private let remembered = Mutex<[String: RememberedNode]>([:])

    /// A pod as its node's last snapshot had it: its key's hash, its entity, and where its
    /// containers are in the node's list. Hashes, not the batch's strings: 150,000 pods' uids
    /// and container ids (~260 bytes a pod, taken anew from every snapshot) held between
    /// snapshots for a comparison. Two keys or container ids with one 64-bit hash in the same
    /// place of consecutive snapshots (one chance in 2^64 per change) would keep the earlier
    /// entity until the next change.
    struct RememberedPod: Sendable {
        var key: UInt64
        var id: EntityID
        var containers: Range<Int32>
    }

    struct RememberedNode: Sendable {
        /// `TimeSeriesStore.entitiesForgotten` when these ids were taken.
        var forgotten: UInt64
        var node: EntityID?
        var pods: [RememberedPod]
        /// The pods' containers, pod after pod: each one's runtime id's hash and entity.
        var containers: [(runtimeID: UInt64, id: EntityID)]
    }

    /// The in-memory hash `RememberedPod` compares by (this process's seed).
    @inline(__always) static func hash(_ text: String) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(text)
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }
    let logger: Logger
    private let appended = Counter(label: "clustermon_history_samples_appended_total")
    private let rejected = Counter(label: "clustermon_history_rows_rejected_total")
    private let failures = Counter(label: "clustermon_history_failures_total")
    /// When a failed append was last logged (a full disk fails every snapshot: one line a minute).
    private let lastFailureLogged = Mutex<ContinuousClock.Instant?>(nil)
    private let recordTimer = Timer(label: "clustermon_history_record_seconds")
    private let queryTimer = Timer(label: "clustermon_history_query_seconds")
    private let maintenanceTimer = Timer(label: "clustermon_history_maintenance_seconds")
    private let chunksSealed = Counter(label: "clustermon_history_chunks_sealed_total")
    private let seals = Counter(label: "clustermon_history_seals_total")
    private let rollups = Counter(label: "clustermon_history_rollups_total")
    private let tablesDropped = Counter(label: "clustermon_history_tables_dropped_total")
    private let sealFailures = Counter(label: "clustermon_history_seal_failures_total")
    private let compactions = Counter(label: "clustermon_history_hours_merged_total")
    private let bytesPerSample = Gauge(label: "clustermon_history_sealed_bytes_per_sample")
    private let headSeries = Gauge(label: "clustermon_history_head_series")
    private let headBytes = Gauge(label: "clustermon_history_head_bytes")
    private let databaseBytes = Gauge(label: "clustermon_history_bytes")
    private let logBytes = Gauge(label: "clustermon_history_log_bytes")
    /// The store's counters as last reported to /metrics.
    private let reported = Mutex(StoreCounters())
    /// Entities by family, namespace and display key (queries read only what they name).
    private let index = Mutex(HistoryIndex())
    /// Pod and container entities' properties as accounting reads them, parsed from their
    /// labels once (entities never change their labels).
    let accountingProperties = Mutex(AccountingCache())
    /// Seals, merges, rollups and retention run here, off the threads that serve requests.
    private let worker = BackgroundThread(name: "clustermon-history")

    /// Opens (or creates) the store at `path`. A database of the earlier per-row format is
    /// moved aside to `<path>.v1` with one log line, and a new store starts.
    public init(path: String, configuration: HistoryConfiguration = .init(), logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        var store = StoreConfiguration()
        store.rawRetention = configuration.rawRetention.components.seconds * 1000
        store.bucketRetention = configuration.retention.components.seconds * 1000
        store.maxBytes = configuration.maxBytes
        store.segment = max(configuration.segment.components.seconds, 1) * 1000
        store.gapLimit = max(configuration.gapLimit.components.seconds, 1) * 1000
        do {
            self.store = try TimeSeriesStore(path: path, families: HistoryCatalog.families, configuration: store, logger: logger)
        } catch StoreError.notThisFormat(let why) {
            let aside = path + ".v1"
            for suffix in ["", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: aside + suffix)
                if FileManager.default.fileExists(atPath: path + suffix) { try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix) }
            }
            logger.warning("history of the earlier format moved aside; a new history starts (the old file can be read with sqlite3)",
                           metadata: ["reason": "\(why)", "moved_to": "\(aside)"])
            self.store = try TimeSeriesStore(path: path, families: HistoryCatalog.families, configuration: store, logger: logger)
        }
        rebuildIndex()
    }

    deinit { worker.stop() }

    /// Indexes every entity the store knows (at open, and after retention forgot some).
    func rebuildIndex() {
        var fresh = HistoryIndex()
        for family in HistoryFamily.allCases {
            // In slices: the labels of saved entities are read from the database, and 150,000
            // dictionaries at once would be a peak of their own. In id order, so that the
            // look-ups walk the entities table's pages in order.
            let ids = store.entities(family: family.rawValue).map(\.id).sorted()
            for start in stride(from: 0, to: ids.count, by: 10_000) {
                let slice = Array(ids[start..<min(start + 10_000, ids.count)])
                do {
                    for (id, labels) in zip(slice, try store.labels(slice)) { fresh.add(family, id, labels: labels) }
                } catch {
                    failures.increment()
                    logger.error("history entities could not be indexed; their series are not found until the next start",
                                 metadata: ["family": "\(family)", "entities": "\(slice.count)", "error": "\(error)"])
                }
            }
        }
        fresh.forgotten = store.counters.entitiesForgotten
        index.withLock { $0 = fresh }
        // Forgotten entities' ids may be given to new ones.
        accountingProperties.withLock { $0 = AccountingCache() }
    }

    // MARK: - Recording

    /// The entity of that key, registered (and indexed by namespace) when it is new.
    func register(_ family: HistoryFamily, key: String, labels: () -> [String: String]) throws -> EntityID {
        var created: [String: String]?
        let id = try store.register(family: family.rawValue, key: key) {
            let made = labels()
            created = made
            return made
        }
        if let created { index.withLock { $0.add(family, id, labels: created) } }
        return id
    }

    /// Forgets what nodes whose agents went silent last recorded.
    public func forget(nodes names: [String]) {
        remembered.withLock { for name in names { $0[name] = nil } }
    }

    /// Records one agent snapshot: the node, its pods and their containers, at the time the
    /// agent collected it.
    public func record(_ batch: Agent_V1_Batch, cluster: (any ClusterView)?) {
        let started = ContinuousClock.now
        let time = batch.collectedAt.seconds * 1000 + Int64(batch.collectedAt.nanos / 1_000_000)
        var rows: [(entity: EntityID, row: SampleRow)] = []
        rows.reserveCapacity(1 + batch.pods.count * 2)
        // The node's previous snapshot's entities, unless retention forgot entities since.
        let forgotten = store.entitiesForgotten
        let previous = remembered.withLock { $0.removeValue(forKey: batch.nodeName) }.flatMap { $0.forgotten == forgotten ? $0 : nil }
        var next = RememberedNode(forgotten: forgotten, pods: [], containers: [])
        next.pods.reserveCapacity(batch.pods.count)
        next.containers.reserveCapacity(previous?.containers.count ?? batch.pods.count)
        do {
            let nodeObject = cluster?.node(named: batch.nodeName)
            let nodeID = try previous?.node ?? register(.node, key: batch.nodeName) { ["node": batch.nodeName] }
            next.node = nodeID
            rows.append((nodeID, HistoryRows.node(batch, object: nodeObject, time: time)))
            for (place, pod) in batch.pods.enumerated() {
                let podKey = pod.uid.isEmpty ? "\(pod.namespace)/\(pod.name)" : pod.uid
                let keyHash = Self.hash(podKey)
                // The pod in the same place last time, if it is the same pod.
                let before = previous.flatMap { place < $0.pods.count && $0.pods[place].key == keyHash ? $0.pods[place] : nil }
                let podID = try before?.id ?? register(.pod, key: podKey) {
                    HistoryRows.podLabels(pod, node: batch.nodeName, cluster: cluster)
                }
                let first = Int32(next.containers.count)
                rows.append((podID, HistoryRows.pod(pod, time: time)))
                for container in pod.containers where !container.init_p && !container.id.isEmpty {
                    let slot = Int32(next.containers.count) - first
                    let runtimeID = Self.hash(container.id)
                    // The container in the same place of the same pod last time, if it is the same.
                    let same = before.flatMap { pod -> EntityID? in
                        guard slot < Int32(pod.containers.count), let kept = previous?.containers[Int(pod.containers.lowerBound + slot)] else { return nil }
                        return kept.runtimeID == runtimeID ? kept.id : nil
                    }
                    let id = try same ?? register(.container, key: "\(podKey)/\(container.id)") {
                        var labels = HistoryRows.podLabels(pod, node: batch.nodeName, cluster: cluster)
                        labels["container"] = container.name
                        labels["container_id"] = container.id
                        labels["image"] = container.image
                        // What it requests, or that it used a GPU without asking (the
                        // accounting reads GPU figures of these containers only).
                        if !container.gpuRequests.isEmpty {
                            labels["gpu"] = container.gpuRequests.map { "\($0.name)=\($0.count)" }.joined(separator: ",")
                        } else if !container.gpus.isEmpty {
                            labels["gpu"] = "unrequested"
                        }
                        HistoryRows.gpuDevices(container, node: batch.node, into: &labels)
                        return labels
                    }
                    next.containers.append((runtimeID, id))
                    rows.append((id, HistoryRows.container(container, time: time, podPhase: pod.phase)))
                }
                let kept = RememberedPod(key: keyHash, id: podID, containers: first..<Int32(next.containers.count))
                next.pods.append(kept)
            }
            remembered.withLock { $0[batch.nodeName] = next }
            try append(rows)
        } catch {
            failures.increment()
            let now = ContinuousClock.now
            let log = lastFailureLogged.withLock { last in
                guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
                last = now
                return true
            }
            if log {
                logger.error("history append failed (the rows stay in memory and are sealed once the disk takes them again; counted in clustermon_history_failures_total)",
                             metadata: ["node": "\(batch.nodeName)", "error": "\(error)"])
            }
        }
        recordTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
    }

    /// Records the graph's edges: cumulative counters since the edge was first seen.
    public func recordEdges(time seconds: Int64, edges: [EdgeHistory]) throws {
        let time = seconds * 1000
        var rows: [(entity: EntityID, row: SampleRow)] = []
        rows.reserveCapacity(edges.count)
        for edge in edges {
            let id = try register(.edge, key: edge.key.id) { ["id": edge.key.id] }
            rows.append((id, SampleRow(time: time, values: [edge.totals.toServer, edge.totals.toClient, edge.totals.opened,
                                                            edge.totals.retransmits, UInt64(max(edge.active, 0))])))
        }
        try append(rows)
    }

    /// Appends and counts on /metrics what this append did (snapshots and edges alike).
    private func append(_ rows: [(entity: EntityID, row: SampleRow)]) throws {
        let done = try store.append(rows)
        appended.increment(by: done.samples)
        if done.rejected > 0 { rejected.increment(by: done.rejected) }
    }

    /// Seals, merges, rolls up and expires, on the history's own thread (seconds of work at
    /// scale, never on the threads that answer requests).
    public func maintain(now: Int64) async throws {
        let store = self.store
        let started = ContinuousClock.now
        defer { report() }
        let outcome = await worker.run { Result { try store.maintain(now: now * 1000) } }
        try outcome.get()
        if index.withLock({ $0.forgotten }) != store.counters.entitiesForgotten { rebuildIndex() }
        maintenanceTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
        databaseBytes.record(try store.liveBytes())
    }

    /// Unix seconds (rounded up) from which the next maintenance seals a segment; nil while
    /// the head is empty.
    public var nextSealDue: Int64? { store.nextSealDue.map { ($0 + 999) / 1000 } }

    /// Brings /metrics up to the store's counters.
    func report() {
        let now = store.counters
        let before = reported.withLock { previous in
            defer { previous = now }
            return previous
        }
        chunksSealed.increment(by: Int(now.chunksSealed - before.chunksSealed))
        seals.increment(by: Int(now.seals - before.seals))
        rollups.increment(by: Int(now.rollups - before.rollups))
        tablesDropped.increment(by: Int(now.tablesDropped - before.tablesDropped))
        sealFailures.increment(by: Int(now.sealFailures - before.sealFailures))
        compactions.increment(by: Int(now.compactions - before.compactions))
        if now.sealedSamples > 0 { bytesPerSample.record(Double(now.sealedBytes) / Double(now.sealedSamples)) }
        let head = store.headFootprint()
        headSeries.record(head.series)
        headBytes.record(head.bytes)
        logBytes.record(Int(now.walBytes))
    }

    /// Seals the head (a graceful stop).
    public func close() {
        do { try store.close() } catch { logger.error("history could not be sealed at stop", metadata: ["error": "\(error)"]) }
        worker.stop()
    }

    // MARK: - Reading

    /// The selected entities, grouped by display key: only the namespaces a selection names
    /// are looked at.
    public func entities(_ family: HistoryFamily, _ selection: SeriesSelection) -> [String: EntityIDs] {
        index.withLock { index in
            let namespaces = index.entries[family] ?? [:]
            var groups: [String: EntityIDs] = [:]
            func take(_ keys: [String: EntityIDs], _ include: (String) -> Bool = { _ in true }) {
                for (key, ids) in keys where include(key) { groups[key, default: []].append(contentsOf: ids) }
            }
            switch selection {
            case .all:
                for keys in namespaces.values { take(keys) }
            case .keys(let wanted):
                for key in wanted {
                    if let ids = namespaces[HistoryIndex.namespace(of: key, family)]?[key] { groups[key, default: []].append(contentsOf: ids) }
                }
            case .prefix(let prefix):
                let namespace = HistoryIndex.namespace(of: prefix, family)
                if (family == .pod || family == .container) && prefix.utf8.count == namespace.utf8.count + 1 && prefix.hasSuffix("/") {
                    // A whole namespace (a user's usual query): its table as it is.
                    return namespaces[namespace] ?? [:]
                } else if prefix.contains("/") || family == .node || family == .edge {
                    take(namespaces[namespace] ?? [:]) { $0.hasPrefix(prefix) }
                } else {
                    for (name, keys) in namespaces where name.hasPrefix(prefix) { take(keys) { $0.hasPrefix(prefix) } }
                }
            case .namespaces(let admits):
                for (namespace, keys) in namespaces where !namespace.isEmpty && admits(namespace) { take(keys) }
            case .filtered(let admits, let include):
                for (namespace, keys) in namespaces where !namespace.isEmpty && admits(namespace) { take(keys, include) }
            }
            return groups
        }
    }

    /// The ids of the entities of the namespaces `admits` allows (pods and containers), in
    /// id order, without building display keys.
    public func entityIDs(_ family: HistoryFamily, namespaces admits: (String) -> Bool) -> [EntityID] {
        var ids: [EntityID] = []
        index.withLock { index in
            for (namespace, keys) in index.entries[family] ?? [:] where !namespace.isEmpty && admits(namespace) {
                for list in keys.values { ids.append(contentsOf: list) }
            }
        }
        return ids.sorted()
    }

    /// Kube-App's groups of the entities of the namespaces `admits` allows: per namespace, or
    /// per namespace and pod (from the display keys `<namespace>/<pod>[/...]`), and each
    /// entity's group (by raw id, + 1; 0: none).
    func kubeAppGroups(_ family: HistoryFamily, namespaces admits: (String) -> Bool, byPod: Bool) -> (groups: [(namespace: String, pod: String?)], groupByRaw: [Int32]) {
        var groups: [(namespace: String, pod: String?)] = []
        var groupByRaw: [Int32] = []
        index.withLock { index in
            for (namespace, keys) in index.entries[family] ?? [:] where !namespace.isEmpty && admits(namespace) {
                var podGroups: [Substring: Int32] = [:]
                let namespaceGroup = Int32(groups.count + 1)
                if !byPod { groups.append((namespace, nil)) }
                for (key, ids) in keys {
                    var group = namespaceGroup
                    if byPod {
                        let rest = key.dropFirst(namespace.utf8.count + 1)
                        let pod = rest.prefix { $0 != "/" }
                        if let known = podGroups[pod] { group = known } else {
                            groups.append((namespace, String(pod)))
                            group = Int32(groups.count)
                            podGroups[pod] = group
                        }
                    }
                    for id in ids {
                        let raw = Int(id.raw)
                        if raw >= groupByRaw.count { groupByRaw.append(contentsOf: repeatElement(0, count: raw + 1 - groupByRaw.count)) }
                        groupByRaw[raw] = group
                    }
                }
            }
        }
        return (groups, groupByRaw)
    }

    /// Whether an entity of that display key has been recorded (and not yet forgotten).
    public func knows(_ family: HistoryFamily, key: String) -> Bool { !entities(family, .keys([key])).isEmpty }

    public func seriesCount(_ family: HistoryFamily, _ selection: SeriesSelection) -> Int { entities(family, selection).count }

    /// A catalog metric's points for the selected entities in [start, end] (Unix seconds):
    /// raw samples when `step` is nil, else one point per bucket of `step` seconds.
    public func series(_ family: HistoryFamily, _ formula: HistoryCatalog.Formula, _ selection: SeriesSelection,
                       start: Int64, end: Int64, step: Int64?, aggregation: Aggregation?, alignToStep: Bool = true) async throws -> [String: [MetricPoint]] {
        try await series(family, [(formula, aggregation)], selection, start: start, end: end, step: step, alignToStep: alignToStep)[0]
    }

    /// Several formulas over the same entities and window; raw samples are read once for all.
    public func series(_ family: HistoryFamily, _ formulas: [(HistoryCatalog.Formula, Aggregation?)], _ selection: SeriesSelection,
                       start: Int64, end: Int64, step: Int64?, alignToStep: Bool = true) async throws -> [[String: [MetricPoint]]] {
        let groups = entities(family, selection)
        if groups.isEmpty { return formulas.map { _ in [:] } }
        let store = self.store
        let started = ContinuousClock.now
        defer { queryTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6) }
        let gapLimit = store.configuration.gapLimit
        return try await Task.detached(priority: .userInitiated) {
            let ids = groups.values.flatMap { $0 }
            var evaluated: [[EntityID: [MetricPoint]]] = []
            if let step {
                let first = alignToStep ? floor(start, toMultipleOf: step) : start
                let grid = BucketGrid(start: first * 1000, step: step * 1000, count: Int((end - first) / step + 1), gapLimit: gapLimit)
                for (formula, aggregation) in formulas {
                    evaluated.append(try Self.bucketed(store, ids, formula, grid: grid, aggregation: aggregation))
                }
            } else {
                // Every stored metric the formulas read, fetched in one pass.
                let needed = Array(Set(formulas.flatMap { Self.metrics(of: $0.0) })).sorted()
                let from = start * 1000, to = end * 1000
                let fetched = try store.samples(ids, metrics: needed, from: from - gapLimit, to: to)
                let byMetric = Dictionary(uniqueKeysWithValues: zip(needed, fetched))
                let encodings = ids.first.flatMap { store.info($0) }.flatMap { store.family($0.family)?.encodings } ?? []
                for (formula, _) in formulas {
                    evaluated.append(Self.raw(formula, from: from, to: to, gapLimit: gapLimit, encodings: encodings) { byMetric[$0] ?? [:] })
                }
            }
            return zip(formulas, evaluated).map { pair, values in
                var result: [String: [MetricPoint]] = [:]
                result.reserveCapacity(groups.count)
                for (key, members) in groups {
                    // Most keys are one entity: its list as it is, not a copy.
                    var points = members.count == 1 ? values[members[0]] ?? [] : members.flatMap { values[$0] ?? [] }
                    if points.isEmpty { continue }
                    if members.count > 1 { points = Self.combine(points.sorted { $0.time < $1.time }, formula: pair.0, aggregation: pair.1) }
                    result[key] = points
                }
                return result
            }
        }.value
    }

    /// The stored metrics a formula reads.
    static func metrics(of formula: HistoryCatalog.Formula) -> [Int] {
        switch formula {
        case .stored(let metric), .rate(let metric, _): [metric]
        case .ratio(let top, let bottom): metrics(of: top) + metrics(of: bottom)
        }
    }

    /// Points of one key from several entities (a pod recreated under its name): at equal
    /// times, rates and increases add up; other values keep the newest entity's.
    static func combine(_ points: [MetricPoint], formula: HistoryCatalog.Formula, aggregation: Aggregation?) -> [MetricPoint] {
        var result: [MetricPoint] = []
        let additive: Bool = if case .rate = formula { true } else { aggregation == .increase || aggregation == .sum }
        for point in points {
            if let last = result.last, last.time == point.time {
                result[result.count - 1].value = additive ? last.value + point.value : point.value
            } else {
                result.append(point)
            }
        }
        return result
    }

    /// A formula's raw points from the fetched samples (`samples(metric)`: a stored metric's,
    /// from `from - gapLimit` on, so that the first rate has its previous sample).
    /// `millisecondTimes`: points keep the samples' milliseconds (else Unix seconds).
    static func raw(_ formula: HistoryCatalog.Formula, from: Int64, to: Int64, gapLimit: Int64, encodings: [ValueEncoding],
                    millisecondTimes: Bool = false, samples: (Int) -> [EntityID: [(time: Int64, value: UInt64)]]) -> [EntityID: [MetricPoint]] {
        let unit: Int64 = millisecondTimes ? 1 : 1000
        switch formula {
        case .stored(let metric):
            let encoding = metric < encodings.count ? encodings[metric] : .integer
            return samples(metric).mapValues { list in
                var points: [MetricPoint] = []
                storedPoints(count: list.count, { list[$0] }, encoding: encoding, from: from, unit: unit, into: &points)
                return points
            }.filter { !$0.value.isEmpty }
        case .rate(let metric, let scale):
            return samples(metric).mapValues { list in
                var points: [MetricPoint] = []
                ratePoints(count: list.count, { list[$0] }, from: from, gapLimit: gapLimit, scale: scale, unit: unit, into: &points)
                return points
            }.filter { !$0.value.isEmpty }
        case .ratio(let numerator, let denominator):
            let top = raw(numerator, from: from, to: to, gapLimit: gapLimit, encodings: encodings, millisecondTimes: millisecondTimes, samples: samples)
            let bottom = raw(denominator, from: from, to: to, gapLimit: gapLimit, encodings: encodings, millisecondTimes: millisecondTimes, samples: samples)
            return ratio(top, bottom)
        }
    }

    /// A stored metric's points from `from` on (samples in time order).
    @inline(__always)
    static func storedPoints(count: Int, _ sample: (Int) -> (time: Int64, value: UInt64), encoding: ValueEncoding, from: Int64, unit: Int64,
                             into points: inout [MetricPoint]) {
        for index in 0..<count {
            let (time, value) = sample(index)
            if time >= from { points.append(MetricPoint(time: time / unit, value: number(value, encoding))) }
        }
    }

    /// A counter's rate per second times `scale`: each pair of consecutive samples within the
    /// gap limit gives the rate at the later one (a reset counts from 0).
    @inline(__always)
    static func ratePoints(count: Int, _ sample: (Int) -> (time: Int64, value: UInt64), from: Int64, gapLimit: Int64, scale: Double, unit: Int64,
                           into points: inout [MetricPoint]) {
        guard count > 1 else { return }
        var before = sample(0)
        for index in 1..<count {
            let after = sample(index)
            defer { before = after }
            guard after.time >= from else { continue }
            let gap = after.time - before.time
            guard gap > 0, gap <= gapLimit else { continue }
            let delta = after.value >= before.value ? after.value - before.value : after.value
            points.append(MetricPoint(time: after.time / unit, value: Double(delta) / (Double(gap) / 1000) * scale))
        }
    }

    static func ratio(_ top: [EntityID: [MetricPoint]], _ bottom: [EntityID: [MetricPoint]]) -> [EntityID: [MetricPoint]] {
        var result: [EntityID: [MetricPoint]] = [:]
        for (id, points) in top {
            let denominators = Dictionary((bottom[id] ?? []).map { ($0.time, $0.value) }, uniquingKeysWith: { _, b in b })
            let list = points.compactMap { point in denominators[point.time].flatMap { $0 > 0 ? MetricPoint(time: point.time, value: point.value / $0) : nil } }
            if !list.isEmpty { result[id] = list }
        }
        return result
    }

    static func bucketed(_ store: TimeSeriesStore, _ ids: [EntityID], _ formula: HistoryCatalog.Formula, grid: BucketGrid,
                         aggregation: Aggregation?) throws -> [EntityID: [MetricPoint]] {
        switch formula {
        case .stored(let metric):
            let buckets = try store.buckets(ids, metric: metric, grid: grid)
            let counter = ids.first.flatMap { store.info($0) }.flatMap { store.family($0.family) }?.metrics[metric].kind == .counter
            let chosen = aggregation ?? (counter ? .last : .avg)
            return buckets.mapValues { list in
                list.enumerated().compactMap { index, stats -> MetricPoint? in
                    let time = (grid.start + grid.step * Int64(index)) / 1000
                    let value: Double?
                    switch chosen {
                    case .avg: value = stats.average
                    case .min: value = stats.count > 0 ? stats.min : nil
                    case .max: value = stats.count > 0 ? stats.max : nil
                    case .sum: value = stats.count > 0 ? stats.sum : nil
                    case .last: value = stats.count > 0 ? stats.last : nil
                    case .increase: value = stats.isEmpty ? nil : Double(stats.increase)
                    }
                    return value.map { MetricPoint(time: time, value: $0) }
                }
            }
        case .rate(let metric, let scale):
            let buckets = try store.buckets(ids, metric: metric, grid: grid)
            return buckets.mapValues { list in
                list.enumerated().compactMap { index, stats -> MetricPoint? in
                    guard !stats.isEmpty else { return nil }
                    let time = (grid.start + grid.step * Int64(index)) / 1000
                    if aggregation == .increase { return MetricPoint(time: time, value: Double(stats.increase)) }
                    // Per second of the time the bucket had samples (a gap is no usage).
                    let seconds = Double(stats.covered > 0 ? stats.covered : grid.step) / 1000
                    return MetricPoint(time: time, value: Double(stats.increase) / seconds * scale)
                }
            }
        case .ratio(let numerator, let denominator):
            let top = try bucketed(store, ids, numerator, grid: grid, aggregation: .avg)
            let bottom = try bucketed(store, ids, denominator, grid: grid, aggregation: .avg)
            return ratio(top, bottom)
        }
    }

    /// The Cluster Monitor's node history: cpu, memory and disk in percent.
    public func nodePoints(_ selection: SeriesSelection, start: Int64, end: Int64, resolution: Resolution) async throws -> [String: [HistoryPoint]] {
        let node = HistoryFamily.node
        func f(_ name: String) -> HistoryCatalog.Formula { HistoryCatalog.formula(name, in: node)! }
        let three = try await series(node, [(.ratio(f("cpu/usage_rate"), f("cpu/node_capacity")), nil),
                                            (.ratio(f("memory/working_set"), f("memory/node_capacity")), .avg),
                                            (.ratio(f("filesystem/usage"), f("filesystem/limit")), .avg)],
                                     selection, start: start, end: end, step: resolution == .raw ? nil : resolution.seconds)
        return Self.merge(cpu: three[0], memory: three[1], disk: three[2]) { ($0 * 10_000).rounded() / 100 }
    }

    /// The Cluster Monitor's pod history: cpu in nanocores, memory and disk in bytes.
    public func podPoints(_ selection: SeriesSelection, start: Int64, end: Int64, resolution: Resolution) async throws -> [String: [HistoryPoint]] {
        let pod = HistoryFamily.pod
        let three = try await series(pod, [(.rate(HistoryCatalog.index(pod, "cpu/usage"), scale: 1), nil),
                                           (.stored(HistoryCatalog.index(pod, "memory/working_set")), .avg),
                                           (.stored(HistoryCatalog.index(pod, "filesystem/usage")), .avg)],
                                     selection, start: start, end: end, step: resolution == .raw ? nil : resolution.seconds)
        return Self.merge(cpu: three[0], memory: three[1], disk: three[2]) { $0.rounded() }
    }

    /// The Cluster Monitor's pod history at raw resolution, key by key in key order, without
    /// holding the answer's points: `body` gets each pod's points in a buffer reused for the
    /// next. `expect` is told first how many samples were read (to size the answer). The
    /// same points as `podPoints(_:start:end:resolution: .raw)`, read as columns.
    public func podPointsRaw(_ selection: SeriesSelection, start: Int64, end: Int64, expect: (Int) -> Void,
                             _ body: (String, [HistoryPoint]) -> Void) throws {
        let groups = entities(.pod, selection)
        if groups.isEmpty { return expect(0) }
        let started = ContinuousClock.now
        defer { queryTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6) }
        let keys = groups.keys.sorted()
        var ids: [EntityID] = [], ends: [Int] = []
        ids.reserveCapacity(groups.count)
        ends.reserveCapacity(keys.count)
        for key in keys {
            ids.append(contentsOf: groups[key]!)
            ends.append(ids.count)
        }
        let pod = HistoryFamily.pod
        let metrics = [HistoryCatalog.index(pod, "cpu/usage"), HistoryCatalog.index(pod, "memory/working_set"), HistoryCatalog.index(pod, "filesystem/usage")]
        let encodings = pod.definition.encodings
        let gapLimit = store.configuration.gapLimit
        let from = start * 1000
        let columns = try store.columns(ids, metrics: metrics, from: from - gapLimit, to: end * 1000)
        expect(metrics.indices.map { columns.count($0) }.max() ?? 0)
        var cpu: [MetricPoint] = [], memory: [MetricPoint] = [], disk: [MetricPoint] = [], points: [HistoryPoint] = []
        var member = 0
        for (index, key) in keys.enumerated() {
            cpu.removeAll(keepingCapacity: true)
            memory.removeAll(keepingCapacity: true)
            disk.removeAll(keepingCapacity: true)
            let first = member
            while member < ends[index] {
                columns.withSamples(0, member) { count, sample in
                    Self.ratePoints(count: count, sample, from: from, gapLimit: gapLimit, scale: 1, unit: 1000, into: &cpu)
                }
                columns.withSamples(1, member) { count, sample in
                    Self.storedPoints(count: count, sample, encoding: encodings[metrics[1]], from: from, unit: 1000, into: &memory)
                }
                columns.withSamples(2, member) { count, sample in
                    Self.storedPoints(count: count, sample, encoding: encodings[metrics[2]], from: from, unit: 1000, into: &disk)
                }
                member += 1
            }
            if member - first > 1 {
                // A pod recreated under its name: rates add up, other values keep the newest.
                cpu = Self.combine(cpu.sorted { $0.time < $1.time }, formula: .rate(metrics[0], scale: 1), aggregation: nil)
                memory = Self.combine(memory.sorted { $0.time < $1.time }, formula: .stored(metrics[1]), aggregation: .avg)
                disk = Self.combine(disk.sorted { $0.time < $1.time }, formula: .stored(metrics[2]), aggregation: .avg)
            }
            points.removeAll(keepingCapacity: true)
            Self.merge(cpu, memory, disk, { $0.rounded() }, into: &points)
            if !points.isEmpty { body(key, points) }
        }
    }

    /// One point per time any of the three has; a figure missing at that time is 0 (each
    /// list is in time order: merged in one pass; of equal times in one list the last wins).
    static func merge(cpu: [String: [MetricPoint]], memory: [String: [MetricPoint]], disk: [String: [MetricPoint]],
                    _ round: (Double) -> Double) -> [String: [HistoryPoint]] {
        var result: [String: [HistoryPoint]] = [:]
        result.reserveCapacity(max(cpu.count, memory.count, disk.count))
        func add(_ key: String) {
            guard result[key] == nil else { return }
            var points: [HistoryPoint] = []
            merge(cpu[key] ?? [], memory[key] ?? [], disk[key] ?? [], round, into: &points)
            result[key] = points
        }
        for key in cpu.keys { add(key) }
        for key in memory.keys { add(key) }
        for key in disk.keys { add(key) }
        return result
    }

    /// One key's three lists merged into `points` (see above).
    static func merge(_ cpu: [MetricPoint], _ memory: [MetricPoint], _ disk: [MetricPoint], _ round: (Double) -> Double,
                      into points: inout [HistoryPoint]) {
        func ordered(_ list: [MetricPoint]) -> [MetricPoint] {
            zip(list, list.dropFirst()).contains { $0.time > $1.time } ? list.sorted { $0.time < $1.time } : list
        }
        let lists = (ordered(cpu), ordered(memory), ordered(disk))
        var positions = (0, 0, 0)
        points.reserveCapacity(points.count + max(cpu.count, memory.count, disk.count))
        while true {
            var time = Int64.max
            if positions.0 < lists.0.count { time = min(time, lists.0[positions.0].time) }
            if positions.1 < lists.1.count { time = min(time, lists.1[positions.1].time) }
            if positions.2 < lists.2.count { time = min(time, lists.2[positions.2].time) }
            if time == .max { break }
            var point = HistoryPoint(time: time, cpu: 0, memory: 0, disk: 0)
            while positions.0 < lists.0.count && lists.0[positions.0].time == time { point.cpu = round(lists.0[positions.0].value); positions.0 += 1 }
            while positions.1 < lists.1.count && lists.1[positions.1].time == time { point.memory = round(lists.1[positions.1].value); positions.1 += 1 }
            while positions.2 < lists.2.count && lists.2[positions.2].time == time { point.disk = round(lists.2[positions.2].value); positions.2 += 1 }
            points.append(point)
        }
    }

    /// Bytes the store's database holds.
    public func liveBytes() throws -> Int64 { try store.liveBytes() }
}

/// One graph edge's cumulative counters, for the history.
public struct EdgeHistory: Sendable {
    public var key: EdgeKey
    public var totals: EdgeCounters
    public var active: Int
}

/// Rows of the catalog's families from an agent batch.
enum HistoryRows {
    static func opt(_ has: Bool, _ value: UInt64) -> UInt64? { has ? value : nil }

    static func node(_ batch: Agent_V1_Batch, object: Node?, time: Int64) -> SampleRow {
        let node = batch.node
        let usage = node.usage
        let capacityCPU = object?.capacity["cpu"].map { UInt64(max($0.milliValue, 0)) } ?? UInt64(node.cpuCount) * 1000
        let allocatableCPU = object?.allocatable["cpu"].map { UInt64(max($0.milliValue, 0)) } ?? capacityCPU
        let capacityMemory = object?.capacity["memory"].map { UInt64(max($0.value, 0)) } ?? node.memoryTotalBytes
        let allocatableMemory = object?.allocatable["memory"].map { UInt64(max($0.value, 0)) } ?? capacityMemory
        var cpuRequest: UInt64 = 0, cpuLimit: UInt64 = 0, memoryRequest: UInt64 = 0, memoryLimit: UInt64 = 0
        for pod in batch.pods {
            for container in pod.containers where !container.init_p {
                cpuRequest += container.cpuRequestMillicores
                cpuLimit += container.cpuLimitMillicores
                memoryRequest += container.memoryRequestBytes
                memoryLimit += container.memoryLimitBytes
            }
        }
        var workingSet = opt(usage.hasMemoryWorkingSetBytes, usage.memoryWorkingSetBytes)
        if workingSet == nil, usage.hasMemoryAvailableBytes, node.memoryTotalBytes >= usage.memoryAvailableBytes {
            workingSet = node.memoryTotalBytes - usage.memoryAvailableBytes
        }
        let fs = node.filesystems.first { $0.name == "nodefs" } ?? node.filesystems.first
        let interfaces = node.interfaces
        let boot = node.hasBootTime ? node.bootTime.seconds * 1000 : 0
        return SampleRow(time: time, values: [
            node.cpuTotalNanoseconds > 0 ? node.cpuBusyNanoseconds : nil,
            capacityCPU, allocatableCPU, cpuRequest, cpuLimit,
            opt(usage.hasMemoryUsageBytes, usage.memoryUsageBytes), workingSet, opt(usage.hasMemoryRssBytes, usage.memoryRssBytes),
            capacityMemory, allocatableMemory, memoryRequest, memoryLimit,
            opt(usage.hasMemoryPageFaults, usage.memoryPageFaults), opt(usage.hasMemoryMajorPageFaults, usage.memoryMajorPageFaults),
            fs.flatMap { opt($0.hasUsedBytes, $0.usedBytes) }, fs.flatMap { opt($0.hasCapacityBytes, $0.capacityBytes) },
            fs.flatMap { opt($0.hasAvailableBytes, $0.availableBytes) }, fs.flatMap { opt($0.hasInodes, $0.inodes) },
            fs.flatMap { opt($0.hasInodesFree, $0.inodesFree) },
            interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.rxBytes }, interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.txBytes },
            interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.rxErrors }, interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.txErrors },
            boot > 0 && time > boot ? UInt64(time - boot) : nil,
        ] + gpuNode(batch))
    }

    /// The node's GPU metrics; none (a shorter row) on a node without GPUs and requests.
    static func gpuNode(_ batch: Agent_V1_Batch) -> [UInt64?] {
        var requested = 0.0
        for pod in batch.pods {
            guard holdsDevices(pod.phase) else { continue }
            for container in pod.containers where !container.init_p { requested += gpuRequest(container) ?? 0 }
        }
        let gpu = NodeGPU(batch.node.gpus)
        guard gpu != nil || requested > 0 else { return [] }
        let used = gpu?.memoryUsedBytes ?? 0
        return [
            UInt64(gpu?.count ?? 0), gpu?.memoryTotalBytes ?? 0, used, used >> 20,
            gpu?.utilizationPercent.map { UInt64($0) },   // the mean, whole percents down
            requested.bitPattern,
        ]
    }

    /// GPUs a container requests, a MIG profile counted as its share of one; nil for none.
    static func gpuRequest(_ container: Agent_V1_Container) -> Double? {
        guard !container.gpuRequests.isEmpty else { return nil }
        return container.gpuRequests.reduce(0.0) { $0 + Double($1.count) * GPUResource.gpuFraction($1.name) }
    }

    static func pod(_ pod: Agent_V1_Pod, time: Int64) -> SampleRow {
        let usage = pod.usage
        var cpuRequest: UInt64 = 0, cpuLimit: UInt64 = 0, memoryRequest: UInt64 = 0, memoryLimit: UInt64 = 0
        for container in pod.containers where !container.init_p {
            cpuRequest += container.cpuRequestMillicores
            cpuLimit += container.cpuLimitMillicores
            memoryRequest += container.memoryRequestBytes
            memoryLimit += container.memoryLimitBytes
        }
        let interfaces = pod.interfaces
        let started = pod.hasStartTime ? pod.startTime.seconds * 1000 : 0
        return SampleRow(time: time, values: [
            opt(usage.hasCpuUsageCoreNanoseconds, usage.cpuUsageCoreNanoseconds),
            cpuRequest, cpuLimit,
            opt(usage.hasMemoryUsageBytes, usage.memoryUsageBytes), opt(usage.hasMemoryWorkingSetBytes, usage.memoryWorkingSetBytes),
            opt(usage.hasMemoryRssBytes, usage.memoryRssBytes), memoryRequest, memoryLimit,
            opt(usage.hasMemoryPageFaults, usage.memoryPageFaults), opt(usage.hasMemoryMajorPageFaults, usage.memoryMajorPageFaults),
            opt(pod.hasEphemeralStorageUsedBytes, pod.ephemeralStorageUsedBytes), opt(pod.hasEphemeralStorageCapacityBytes, pod.ephemeralStorageCapacityBytes),
            interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.rxBytes }, interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.txBytes },
            interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.rxErrors }, interfaces.isEmpty ? nil : interfaces.reduce(0) { $0 &+ $1.txErrors },
            started > 0 && time > started ? UInt64(time - started) : nil,
        ])
    }

    static func container(_ container: Agent_V1_Container, time: Int64, podPhase: String = "") -> SampleRow {
        let usage = container.usage
        let disk: UInt64? = container.hasRootfsUsedBytes || container.hasLogsUsedBytes ? container.rootfsUsedBytes &+ container.logsUsedBytes : nil
        let started = container.hasStartedAt ? container.startedAt.seconds * 1000 + Int64(container.startedAt.nanos / 1_000_000) : 0
        return SampleRow(time: time, values: [
            opt(usage.hasCpuUsageCoreNanoseconds, usage.cpuUsageCoreNanoseconds),
            opt(container.hasCpuRequestMillicores, container.cpuRequestMillicores), opt(container.hasCpuLimitMillicores, container.cpuLimitMillicores),
            opt(usage.hasMemoryUsageBytes, usage.memoryUsageBytes), opt(usage.hasMemoryWorkingSetBytes, usage.memoryWorkingSetBytes),
            opt(usage.hasMemoryRssBytes, usage.memoryRssBytes),
            opt(container.hasMemoryRequestBytes, container.memoryRequestBytes), opt(container.hasMemoryLimitBytes, container.memoryLimitBytes),
            opt(usage.hasMemoryPageFaults, usage.memoryPageFaults), opt(usage.hasMemoryMajorPageFaults, usage.memoryMajorPageFaults),
            disk,
            started > 0 && time >= started ? UInt64(time - started) : nil,
        ] + gpuContainer(container, podPhase: podPhase))
    }

    /// A pod holds the devices it was given until it ends: also while pending on the node or
    /// crash-looping; the kubelet gives them back once it has Succeeded or Failed.
    static func holdsDevices(_ phase: String) -> Bool { phase != "Succeeded" && phase != "Failed" }

    /// A container's GPU metrics; none (a shorter row) when it neither requests nor uses one.
    /// The request counts as held (`gpu/request`) until the pod ends, then as 0.
    static func gpuContainer(_ container: Agent_V1_Container, podPhase: String = "") -> [UInt64?] {
        var request = gpuRequest(container)
        if request != nil, !holdsDevices(podPhase) { request = 0 }
        guard request != nil || !container.gpus.isEmpty else { return [] }
        let used = container.gpus.reduce(UInt64(0)) { $0 &+ $1.memoryUsedBytes }
        let reported = container.gpus.filter(\.hasSmUtilizationPercent)
        return [
            (request ?? 0).bitPattern, used, used >> 20,
            reported.isEmpty ? nil : reported.reduce(0) { $0 + UInt64($1.smUtilizationPercent) },
        ]
    }

    /// A container's GPUs as labels: the devices the kubelet assigned it, else those its
    /// processes use; their UUIDs, models and indexes on the node, comma-separated.
    static func gpuDevices(_ container: Agent_V1_Container, node: Agent_V1_NodeStats, into labels: inout [String: String]) {
        let uuids = container.gpuDeviceIds.isEmpty ? container.gpus.map(\.deviceUuid) : container.gpuDeviceIds
        guard !uuids.isEmpty else { return }
        let devices = uuids.map { uuid in node.gpus.first { $0.uuid == uuid } }
        labels["gpu_uuid"] = uuids.joined(separator: ",")
        if devices.contains(where: { $0 != nil }) {
            labels["gpu_name"] = devices.map { $0?.name ?? "" }.joined(separator: ",")
            labels["gpu_index"] = devices.map { $0.map { String($0.index) } ?? "" }.joined(separator: ",")
        }
    }

    /// An entity label holding one of the pod's Kubernetes labels: `label:<key>`.
    static let labelPrefix = "label:"

    static func podLabels(_ pod: Agent_V1_Pod, node: String, cluster: (any ClusterView)?) -> [String: String] {
        var labels = ["namespace": pod.namespace, "pod": pod.name, "pod_uid": pod.uid, "node": node]
        for (key, value) in pod.labels { labels[labelPrefix + key] = value }
        let object = cluster?.pod(namespace: pod.namespace, name: pod.name)
        if let workload = object.flatMap({ cluster?.workload(of: $0) }) {
            labels["workload_kind"] = workload.kind
            labels["workload_name"] = workload.name
        } else if let owner = pod.owners.first(where: \.controller) {
            labels["workload_kind"] = owner.kind
            labels["workload_name"] = owner.name
        }
        return labels
    }
}

/// The history's entities by family, namespace (empty for nodes and edges) and display key.
struct HistoryIndex: Sendable {
    var entries: [HistoryFamily: [String: [String: EntityIDs]]] = [:]
    /// The store's count of forgotten entities when this index was built.
    var forgotten: UInt64 = 0

    mutating func add(_ family: HistoryFamily, _ id: EntityID, labels: [String: String]) {
        let key: String?
        switch family {
        case .node: key = labels["node"]
        case .pod: key = labels["namespace"].flatMap { ns in labels["pod"].map { "\(ns)/\($0)" } }
        case .container: key = labels["namespace"].flatMap { ns in labels["pod"].flatMap { pod in labels["container"].map { "\(ns)/\(pod)/\($0)" } } }
        case .edge: key = labels["id"]
        }
        guard let key else { return }
        entries[family, default: [:]][Self.namespace(of: key, family), default: [:]][key, default: EntityIDs()].append(id)
    }

    /// The namespace part of a display key (none for nodes and edges).
    static func namespace(of key: String, _ family: HistoryFamily) -> String {
        family == .pod || family == .container ? String(key.prefix { $0 != "/" }) : ""
    }
}

/// The entities of one display key, in the order they were recorded: one is the rule (a
/// second comes with a pod of the same name again, or a restarted container), so the first
/// is held inline and only further ones in an array (a one-element array per key was 48
/// bytes of its own at 305,000 keys).
public struct EntityIDs: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// Raw 0 when empty (ids start at 1).
    private var head = EntityID(0)
    private var rest: [EntityID] = []

    public init() {}

    public init(arrayLiteral ids: EntityID...) {
        for id in ids { append(id) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { head.raw == 0 ? 0 : 1 + rest.count }
    public subscript(position: Int) -> EntityID { position == 0 ? head : rest[position - 1] }

    public mutating func append(_ id: EntityID) {
        if head.raw == 0 { head = id } else { rest.append(id) }
    }

    public mutating func append(contentsOf ids: some Sequence<EntityID>) {
        for id in ids { append(id) }
    }
}
