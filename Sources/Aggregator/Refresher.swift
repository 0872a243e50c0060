import Foundation
import Kubernetes
import Logging
import Messaging
import Metrics
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import Wire

/// The newest live view; followers get the current one, then each new one (a follower that
/// is slow skips to the newest: it never holds back anyone else or queues views).
public struct LiveFrame: Sendable, Equatable {
    public var view: LiveView
    public init(view: LiveView) { self.view = view }
    public static func == (a: LiveFrame, b: LiveFrame) -> Bool { a.view === b.view }
}

public struct RefreshConfiguration: Sendable {
    /// How often live views are rebuilt, history written and events published.
    public var interval: Duration = .seconds(5)
    /// A node silent this long is dropped from the live views.
    public var dropAfter: Duration = .seconds(300)
    /// The `source` of published events.
    public var source = "cluster-monitor"
    /// How often the history seals its head, rolls up finished days and applies retention.
    public var maintenanceInterval: Duration = .seconds(30)
    /// The largest event message (the NATS server's max_payload): a larger `cluster.pods`
    /// is published in parts.
    public var maxEventBytes = 1 << 20
    public init() {}
}

/// Every refresh: joins state with the API server's objects into a `LiveView`, hands it to
/// the live endpoints, writes it to the history and publishes the cluster events. Ticks are
/// aligned to multiples of the interval in wall-clock time, so replicas share tick numbers
/// (and message ids).
public final class Refresher: Service {
    public let live = Observed(LiveFrame(view: .empty))
    public let state: ClusterState
    let ingest: IngestService?
    let cluster: (any ClusterView)?
    let history: HistoryStore?
    let events: (any EventPublisher)?
    public let graph: ConnectionGraph?
    /// Remote write receivers, fed every refresh; nil without `--remote-write-url`.
    let remoteWrite: RemoteWriter?
    let configuration: RefreshConfiguration
    let builder = LiveViewBuilder()
    let logger: Logger
    let now: @Sendable () -> Double
    private let version = Mutex(0)
    private let buildTimer = Timer(label: "clustermon_refresh_seconds")
    private let historySkipped = Counter(label: "clustermon_history_skipped_total")
    private let historyFailures = Counter(label: "clustermon_history_failures_total")
    private let staleNodes = Gauge(label: "clustermon_stale_nodes")
    private let livePods = Gauge(label: "clustermon_live_pods")
    private let podEventParts = Gauge(label: "clustermon_pod_event_parts")
    private let releaseTimer = Timer(label: "clustermon_memory_release_seconds")

    public init(state: ClusterState, ingest: IngestService?, cluster: (any ClusterView)?, history: HistoryStore?, events: (any EventPublisher)?,
                graph: ConnectionGraph? = nil, remoteWrite: RemoteWriter? = nil, configuration: RefreshConfiguration = .init(), logger: Logger,
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.state = state
        self.ingest = ingest
        self.cluster = cluster
        self.history = history
        self.events = events
        self.graph = graph
        self.remoteWrite = remoteWrite
        self.configuration = configuration
        self.logger = logger
        self.now = now
    }

    var intervalSeconds: Double { Double(configuration.interval.nanosecondsClamped) / 1e9 }

    public func run() async throws {
        // The history writer gets the samples only, so that a view's serialized pods are
        // freed as soon as the next refresh replaces it.
        let (views, sink) = AsyncStream<EdgeBatch>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let worker = BackgroundThread(name: "clustermon-refresh")
        defer { worker.stop() }
        await withDiscardingTaskGroup { group in
            if let history {
                group.addTask { await self.writeHistory(history, views) }
                group.addTask { await self.maintainHistory(history) }
            }
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    let wall = self.now()
                    let next = (wall / self.intervalSeconds).rounded(.down) * self.intervalSeconds + self.intervalSeconds
                    try? await Task.sleep(for: .milliseconds(Int64((next - wall) * 1000)))
                    if Task.isCancelled { break }
                    // A refresh of a large cluster is hundreds of milliseconds of CPU: it runs
                    // on its own thread, never on the cooperative pool that serves requests.
                    let tick = Int64(next.rounded())
                    let (view, edges) = await worker.run {
                        let result = self.refreshAll(tick: tick)
                        // What the refresh freed (the previous view above all) goes back to
                        // the system now, not at some later peak.
                        self.releaseFreePages()
                        return result
                    }
                    if view.version > 0, !edges.isEmpty, case .dropped = sink.yield(EdgeBatch(time: view.timestamp, edges: edges)) {
                        self.historySkipped.increment()
                    }
                }
            }
            sink.finish()
            group.cancelAll()
        }
        // Seals the history's head: what is on disk after a stop is all in its compact form.
        history?.close()
    }

    /// Builds, serves and publishes one refresh; returns the new view.
    @discardableResult
    public func refresh(tick: Int64) -> LiveView { refreshAll(tick: tick).view }

    /// One refresh: the live view, then the dependency graph; returns the view and the
    /// graph's history samples.
    func refreshAll(tick: Int64) -> (view: LiveView, edges: [EdgeHistory]) {
        let started = ContinuousClock.now
        let wall = now()
        let gone = state.expire(receivedBefore: wall - Double(configuration.dropAfter.components.seconds))
        if !gone.isEmpty {
            ingest?.forget(nodes: gone)
            graph?.forget(nodes: gone)
            history?.forget(nodes: gone)
            logger.info("nodes dropped from live views: agents silent", metadata: ["nodes": "\(gone.joined(separator: ","))"])
        }
        let number = version.withLock { $0 += 1; return $0 }
        let nodes = state.snapshot()
        // The informers' lists copied once for the view and the graph.
        let cluster = self.cluster.map { RefreshClusterView($0) as any ClusterView }
        let view = builder.build(version: number, now: wall, nodes: nodes, cluster: cluster)
        _ = live.set(LiveFrame(view: view))
        staleNodes.record(view.nodes.filter(\.stale).count)
        livePods.record(view.pods.count)
        if let events { publishEvents(view, tick: tick, to: events) }
        let edges = graph?.refresh(now: wall, version: number, cluster: cluster).history ?? []
        remoteWrite?.enqueue(nodes: nodes, edges: edges, time: wall)
        buildTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
        return (view, edges)
    }

    /// Gives the allocator's free pages back (`FreePages`), timed: it walks every arena's
    /// free chunks, holding each arena's lock meanwhile.
    func releaseFreePages() {
        let started = ContinuousClock.now
        FreePages.release()
        releaseTimer.recordSeconds(Double((ContinuousClock.now - started) / .microseconds(1)) / 1e6)
    }

    func publishEvents(_ view: LiveView, tick: Int64, to events: any EventPublisher) {
        do {
            let metrics = try ProtobufEncoding.serializedBytes(ClusterEvents.clusterMetrics(view, tick: tick, source: configuration.source))
            events.publish(subject: ClusterEvents.metricsSubject, payload: metrics, messageID: ClusterEvents.messageID(subject: ClusterEvents.metricsSubject, tick: tick))
            let parts = try ClusterEvents.podStatusMessages(view, tick: tick, source: configuration.source, maxBytes: configuration.maxEventBytes)
            if parts.count > 1 { podEventParts.record(parts.count) }
            for part in parts {
                events.publish(subject: ClusterEvents.podsSubject, payload: part.payload, messageID: part.id)
            }
        } catch {
            logger.error("cluster events could not be encoded", metadata: ["error": "\(error)"])
        }
    }

    struct EdgeBatch: Sendable {
        var time: Int64
        var edges: [EdgeHistory]
    }

    func writeHistory(_ history: HistoryStore, _ batches: AsyncStream<EdgeBatch>) async {
        for await batch in batches {
            do {
                try history.recordEdges(time: batch.time, edges: batch.edges)
            } catch {
                historyFailures.increment()
                logger.error("history write of the graph's edges failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func maintainHistory(_ history: HistoryStore) async {
        while !Task.isCancelled {
            var failed = false
            do {
                try await history.maintain(now: Int64(now()))
            } catch {
                failed = true
                historyFailures.increment()
                logger.error("history maintenance failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: Self.untilNextMaintenance(interval: configuration.maintenanceInterval, now: now(),
                                                                 sealDue: failed ? nil : history.nextSealDue))
        }
    }

    /// The next round comes after `interval`, or once the head's oldest segment may be
    /// sealed if that is sooner: the head never holds a round's rows longer than it must
    /// (at 5,000 nodes, three snapshots of 300,000 series at a 10 s agent interval). At
    /// least a second apart (a seal that could not run yet is not retried in a loop); after
    /// a failed round (a full disk), the whole interval (a seal due since is not retried, nor
    /// logged, every second).
    static func untilNextMaintenance(interval: Duration, now: Double, sealDue: Int64?) -> Duration {
        guard let sealDue else { return interval }
        let wait = Duration.milliseconds(Int64((Double(sealDue) - now) * 1000))
        return max(min(interval, wait), .seconds(1))
    }
}
