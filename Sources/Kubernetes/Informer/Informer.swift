import Logging
import Messaging
import Metrics
import NIOCore
import ServiceLifecycle
import Synchronization

/// Tuning of one informer.
public struct InformerConfiguration: Sendable {
    /// Items per list page (`limit`).
    public var pageSize = 500
    /// A full re-list at this interval repairs what the watch missed (a DELETE that never
    /// arrived); 0 turns it off.
    public var verifyInterval: Duration = .seconds(300)
    /// Longest single watch request (`timeoutSeconds`); the server ends it, we watch again.
    public var watchTimeout: Duration = .seconds(300)
    public var initialBackoff: Duration = .milliseconds(500)
    public var maxBackoff: Duration = .seconds(30)
    /// How many changed keys the informer remembers for `changes(since:)` (readers further
    /// behind read the whole cache).
    public var changeLogLimit = 65_536

    public init() {}
}

/// An object's namespace and name; the strings are the object's own (no key string per
/// object).
public struct ObjectKey: Hashable, Sendable {
    public var namespace: String
    public var name: String
    public init(_ meta: ObjectMeta) { (namespace, name) = (meta.namespace, meta.name) }
    public init(_ namespace: String, _ name: String) { (self.namespace, self.name) = (namespace, name) }
}

/// The client-go informer shape for one resource kind: list (paginated), then watch from
/// the list's resourceVersion; bookmarks advance it; an in-band `410 Expired` or an expired
/// continue token means list again; errors back off; a periodic re-list repairs missed
/// events. The cache it keeps is shared by every reader.
public final class Informer<Object: KubernetesResource>: ServiceLifecycle.Service {
    /// One cached object. A class, so that the cache's hash table holds a reference per
    /// object rather than the whole decoded value.
    public final class Entry: Sendable {
        public let object: Object
        /// The object as the API server sent it (see `RawObject`), deflated.
        public let raw: StoredJSON

        public init(object: Object, raw: StoredJSON) {
            self.object = object
            self.raw = raw
        }
    }

    public typealias Key = ObjectKey

    private struct State {
        var store: [Key: Entry] = [:]
        var resourceVersion = ""
        /// Every change to `store` counts one; `changed` holds the keys of the newest ones,
        /// `changed[i]` being change `changedFrom + i + 1` (see `changes(since:)`).
        var changeCount = 0
        var changed: [Key] = []
        var changedFrom = 0

        mutating func recordChange(_ key: Key, limit: Int) {
            changeCount += 1
            if changed.count >= max(limit, 2) {
                // The older half goes: readers that far behind read the whole cache.
                let dropped = changed.count / 2
                changed.removeFirst(dropped)
                changedFrom += dropped
            }
            changed.append(key)
        }

        /// A list replaced the cache and its changes are not listed: no key list reaches
        /// back across it.
        mutating func recordReplacement() {
            changeCount += 1
            changed = []
            changedFrom = changeCount
        }
    }

    public let kind: ResourceKind
    private let client: APIClient
    private let configuration: InformerConfiguration
    private let logger: Logger
    private let state = Mutex(State())
    /// The interner and deflate dictionary of the current list (the watch that follows it
    /// uses them too); used by the informer's own loop, and by `apply`.
    private let codec = Mutex(InformerCodec())
    /// True once the first list is in; stays true through later re-lists.
    public let synced = Observed(false)
    /// Counts every change to the cache, so that readers can await one.
    public let revision = Observed(0)

    private let events: [WatchEvent<Object>.Kind: Counter]
    private let relists: Counter
    private let watchRestarts: Counter
    private let decodeErrors: Counter
    private let repaired: Counter
    private let delay: Timer
    private let objects: Gauge
    private let failingSeconds: Gauge
    /// Whether the current watch has delivered an event.
    private let delivered = Mutex(false)
    /// Since when the API server has failed this informer, how, and when it last seemed
    /// to answer again (a failure soon after that continues the same run).
    private let failing = Mutex<(since: ContinuousClock.Instant, error: String, answered: ContinuousClock.Instant?)?>(nil)

    public init(client: APIClient, configuration: InformerConfiguration = .init(), logger: Logger) {
        kind = Object.resource
        self.client = client
        self.configuration = configuration
        self.logger = logger
        let dimension = [("kind", Object.resource.plural)]
        events = Dictionary(uniqueKeysWithValues: [WatchEvent<Object>.Kind.added, .modified, .deleted, .bookmark, .error].map {
            ($0, Counter(label: "clustermon_informer_events_total", dimensions: dimension + [("type", $0.rawValue)]))
        })
        relists = Counter(label: "clustermon_informer_relists_total", dimensions: dimension)
        watchRestarts = Counter(label: "clustermon_informer_watch_restarts_total", dimensions: dimension)
        decodeErrors = Counter(label: "clustermon_informer_decode_errors_total", dimensions: dimension)
        repaired = Counter(label: "clustermon_informer_repaired_total", dimensions: dimension)
        delay = Timer(label: "clustermon_informer_stream_delay_seconds", dimensions: dimension)
        objects = Gauge(label: "clustermon_informer_objects", dimensions: dimension)
        failingSeconds = Gauge(label: "clustermon_informer_failing_seconds", dimensions: dimension)
    }

    /// How long the API server has failed this informer (errors, or expirations that
    /// listing again does not cure), and the last error; nil while it answers. The cache
    /// keeps serving what the last list and watch brought.
    public var failure: (duration: Duration, error: String)? {
        failing.withLock { state in
            guard let state, state.answered == nil else { return nil }
            return (ContinuousClock.now - state.since, state.error)
        }
    }

    private func recordFailure(_ error: String) {
        let since = failing.withLock { state -> ContinuousClock.Instant in
            let now = ContinuousClock.now
            var since = now
            if let state, state.answered.map({ now - $0 < .seconds(10) }) ?? true { since = state.since }
            state = (since, error, nil)
            return since
        }
        failingSeconds.record(Double((ContinuousClock.now - since) / .milliseconds(1)) / 1000)
    }

    private func recordHealthy() {
        let wasFailing = failing.withLock { state -> Bool in
            guard state != nil, state?.answered == nil else { return false }
            state?.answered = .now
            return true
        }
        if wasFailing {
            failingSeconds.record(0)
            logger.info("informer recovered", metadata: ["kind": "\(kind)"])
        }
    }

    // MARK: Reading the cache

    public var count: Int { state.withLock { $0.store.count } }
    public var resourceVersion: String { state.withLock { $0.resourceVersion } }

    public func get(namespace: String, name: String) -> Entry? {
        state.withLock { $0.store[Key(namespace, name)] }
    }

    /// The keys of the objects added, modified or deleted after change `revision` (a value
    /// this returned before; 0 at first), with the newest change's number. nil when the
    /// informer no longer remembers that far back, or a new list replaced the cache since:
    /// then every object may have changed. A key may repeat; read each one's object with
    /// `get` (nil: deleted).
    public func changes(since revision: Int) -> (revision: Int, keys: [Key])? {
        state.withLock { state in
            guard revision >= state.changedFrom, revision <= state.changeCount else { return nil }
            return (state.changeCount, Array(state.changed[(revision - state.changedFrom)...]))
        }
    }

    /// The number of the newest change (see `changes(since:)`).
    public var changeCount: Int { state.withLock { $0.changeCount } }

    /// Every cached object, in no particular order.
    public func entries() -> [Entry] { Array(storeSnapshot().values) }

    /// Every cached object's entry by key, taken by reference: no object is copied (a reader
    /// that looks up some keys of 150,000 pods need not copy them all; see `storeSnapshot`).
    public func entriesByKey() -> [Key: Entry] { storeSnapshot() }

    /// (A closure, not `map(\.object)`: a key path is projected through the runtime per
    /// element, a third of this copy's cost at 150,000 pods.)
    public func objectsList() -> [Object] { storeSnapshot().values.map { $0.object } }

    /// The store as of now, taken under the lock by reference (its buffer shared) and
    /// copied by the caller after it. A copy of 150,000 pods made under the lock held the
    /// watch's events for its whole length: on a busy machine, with the copier preempted,
    /// for seconds. The next event's change copies the dictionary once (milliseconds) while
    /// a reader holds it.
    func storeSnapshot() -> [Key: Entry] { state.withLock { $0.store } }

    // MARK: Running

    public func run() async throws {
        let clock = ContinuousClock()
        var backoff = configuration.initialBackoff
        var mustList = true
        var lastList = clock.now
        // Expirations since the last watch that delivered anything: the first lists again at
        // once (client-go's rule); more mean the API server cannot serve a watch from a
        // fresh list, and they back off like errors instead of listing in a loop.
        var expirations = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if mustList {
                    try await listAll()
                    lastList = clock.now
                    mustList = false
                    if expirations == 0 { recordHealthy() }
                }
                var watchFor = configuration.watchTimeout
                if configuration.verifyInterval > .zero {
                    watchFor = min(watchFor, max(.seconds(1), configuration.verifyInterval - (clock.now - lastList)))
                }
                let window = watchFor
                delivered.withLock { $0 = false }
                try await cancelWhenGracefulShutdown { try await self.watch(for: window) }
                backoff = configuration.initialBackoff
                expirations = 0
                recordHealthy()
                if configuration.verifyInterval > .zero && clock.now - lastList >= configuration.verifyInterval {
                    mustList = true  // verification: repair what the watch missed
                }
            } catch let error as APIError where error.isExpired && (expirations == 0 || delivered.withLock({ $0 })) {
                // The first expiration, or one after a watch that delivered events.
                logger.info("resourceVersion expired; listing again", metadata: ["kind": "\(kind)", "detail": "\(error.message)"])
                expirations = 1
                backoff = configuration.initialBackoff
                mustList = true
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                if let api = error as? APIError, api.isExpired {
                    expirations += 1
                    mustList = true
                }
                watchRestarts.increment()
                recordFailure("\(error)")
                logger.warning("informer error; retrying", metadata: ["kind": "\(kind)", "error": "\(error)", "retry_in": "\(backoff)"])
                let wait = backoff
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                } catch {
                    return
                }
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
    }

    /// Lists every page; an expired continue token starts the list again from the top. The
    /// cache is replaced only once the whole list is in: a failure leaves it as it was.
    func listAll() async throws {
        // A fresh interner and dictionary per list: values of objects that are gone are
        // dropped, and the dictionary follows what the cluster runs now.
        codec.withLock { $0 = InformerCodec() }
        var items: [Key: Entry] = [:]
        var continueToken = ""
        var listVersion = ""
        var restarts = 0
        while true {
            var query = "\(kind.path)?limit=\(configuration.pageSize)"
            if !continueToken.isEmpty { query += "&continue=\(PercentEncoding.encode(continueToken))" }
            let body: ByteBuffer
            do {
                body = try await client.get(query)
            } catch let error as APIError where error.isExpired && !continueToken.isEmpty && restarts < 3 {
                logger.info("list continue token expired; listing from the start", metadata: ["kind": "\(kind)"])
                restarts += 1
                items = [:]
                continueToken = ""
                continue
            }
            let page = try codec.withLock { try Self.decodePage(body, codec: &$0) }
            for entry in page.items { items[Key(entry.object.metadata)] = entry }
            if page.undecodable > 0 { decodeErrors.increment(by: page.undecodable) }
            continueToken = page.continueToken
            listVersion = page.resourceVersion
            if continueToken.isEmpty { break }
        }
        relists.increment()
        let limit = configuration.changeLogLimit
        let (removed, count) = state.withLock { state -> (Int, Int) in
            // The newer resourceVersion wins; what the list lacks was deleted.
            var merged = items
            var changed: [Key] = []
            var removed = 0
            for (key, cached) in state.store {
                guard let listed = items[key] else {
                    removed += 1
                    changed.append(key)
                    continue
                }
                if isNewer(cached.object.metadata.resourceVersion, than: listed.object.metadata.resourceVersion) {
                    merged[key] = cached
                } else if listed.object.metadata.resourceVersion != cached.object.metadata.resourceVersion {
                    changed.append(key)
                }
            }
            if !state.store.isEmpty { changed += items.keys.filter { state.store[$0] == nil } }
            if state.store.isEmpty || changed.count > limit {
                // The first list, or more changes than the log holds: readers read it all.
                state.recordReplacement()
            } else {
                // A verifying list (or one after an expired watch) logs what differs, usually
                // little: readers of the log go on from it instead of reading every object.
                for key in changed { state.recordChange(key, limit: limit) }
            }
            state.store = merged
            state.resourceVersion = listVersion
            return (removed, merged.count)
        }
        let wasSynced = synced.value
        if removed > 0 && wasSynced {
            repaired.increment(by: removed)
            logger.info("re-list removed objects whose deletion was missed", metadata: ["kind": "\(kind)", "removed": "\(removed)"])
        }
        objects.record(count)
        revision.update { $0 += 1 }
        if !wasSynced {
            synced.set(true)
            logger.info("informer synced", metadata: ["kind": "\(kind)", "objects": "\(count)", "resource_version": "\(listVersion)"])
        }
    }

    public struct Page: Sendable {
        public var items: [Entry] = []
        public var resourceVersion = ""
        public var continueToken = ""
        public var undecodable = 0
    }

    /// A list page: each item decoded and kept raw; an item that does not decode is counted
    /// and skipped, not fatal to the page.
    public static func decodePage(_ body: some JSONBytes) throws -> Page {
        var codec = InformerCodec()
        return try decodePage(body, codec: &codec)
    }

    /// A list page decoded with an informer's codec: repeated values shared, raw objects
    /// deflated (the first page of a list gives the deflate dictionary its samples).
    public static func decodePage(_ body: some JSONBytes, codec: inout InformerCodec) throws -> Page {
        let interner = codec.interner
        var decoded: [(object: Object, raw: [UInt8])] = []
        var page = try body.withJSONBytes { buffer in
            var page = Page()
            var scanner = JSONScanner(buffer)
            let all = buffer.bindMemory(to: UInt8.self)
            try scanner.forEachMember { s, key in
                if key == "metadata" {
                    try s.forEachMember { s, key in
                        if key == "resourceVersion" { page.resourceVersion = try s.optionalString() ?? "" }
                        else if key == "continue" { page.continueToken = try s.optionalString() ?? "" }
                    }
                } else if key == "items" {
                    try s.forEachElement { s in
                        let range = try s.rawValue()
                        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[range])
                        do {
                            var item = JSONScanner(bytes)
                            item.interner = interner
                            let object = try Object.decode(&item)
                            decoded.append((object, try RawObject.stripped(bytes)))
                        } catch {
                            page.undecodable += 1
                        }
                    }
                }
            }
            try scanner.expectEnd()
            return page
        }
        if codec.deflater.dictionary == nil {
            codec.deflater.dictionary = DeflateDictionary.sampled(decoded.map { (group: sampleGroup($0.object.metadata), json: $0.raw) })
        }
        page.items.reserveCapacity(decoded.count)
        for (object, raw) in decoded { page.items.append(Entry(object: object, raw: codec.deflater.compress(raw))) }
        return page
    }

    /// Objects of one group look alike: the replicas of one controller, in one namespace.
    static func sampleGroup(_ meta: ObjectMeta) -> String {
        "\(meta.namespace)/\(meta.controller?.name ?? meta.name)"
    }

    /// One watch request from the current resourceVersion, applied event by event, until
    /// the server ends it or `duration` passes.
    /// Watches for `duration`; each event applied marks the API server as serving again.
    func watch(for duration: Duration) async throws {
        let version = resourceVersion
        let seconds = max(1, duration.components.seconds)
        let path = "\(kind.path)?watch=1&allowWatchBookmarks=true&resourceVersion=\(PercentEncoding.encode(version))&timeoutSeconds=\(seconds)"
        let lines = try await client.watchLines(path, deadline: duration + .seconds(30))
        // The watch is open: the API server answers (an error in the stream says otherwise).
        recordHealthy()
        for try await line in lines {
            let event: WatchEvent<Object>
            do {
                event = try codec.withLock { try WatchEvent<Object>.decode(line, interner: $0.interner) }
            } catch {
                decodeErrors.increment()
                logger.warning("undecodable watch event skipped", metadata: ["kind": "\(kind)", "error": "\(error)"])
                continue
            }
            events[event.kind]?.increment()
            try apply(event)
            if event.kind != .error, !delivered.withLock({ $0 }) {
                delivered.withLock { $0 = true }
                recordHealthy()
            }
        }
    }

    /// Applies one watch event to the cache (the watch loop calls it for every line).
    public func apply(_ event: WatchEvent<Object>) throws {
        switch event.kind {
        case .error:
            let status = event.status ?? (0, "", "")
            throw APIError(path: kind.path, status: status.code, message: status.message.isEmpty ? status.reason : status.message)
        case .bookmark:
            state.withLock { $0.resourceVersion = event.resourceVersion }
        case .added, .modified:
            guard let object = event.object else { return }
            let key = Key(object.metadata)
            let raw = codec.withLock { codec -> StoredJSON in
                if codec.deflater.dictionary == nil {
                    codec.deflater.dictionary = DeflateDictionary.sampled([(group: "", json: event.raw)])
                }
                return codec.deflater.compress(event.raw)
            }
            let entry = Entry(object: object, raw: raw)
            let count = state.withLock { state -> Int in
                if let cached = state.store[key], isNewer(cached.object.metadata.resourceVersion, than: object.metadata.resourceVersion) {
                    return state.store.count  // an older copy replayed: keep the newer one
                }
                state.store[key] = entry
                state.resourceVersion = event.resourceVersion
                state.recordChange(key, limit: configuration.changeLogLimit)
                return state.store.count
            }
            if event.kind == .added, let created = object.metadata.creationTimestamp { recordDelay(since: created) }
            objects.record(count)
            revision.update { $0 += 1 }
        case .deleted:
            guard let object = event.object else { return }
            let count = state.withLock { state -> Int in
                let key = Key(object.metadata)
                if state.store.removeValue(forKey: key) != nil { state.recordChange(key, limit: configuration.changeLogLimit) }
                state.resourceVersion = event.resourceVersion
                return state.store.count
            }
            if let deleted = object.metadata.deletionTimestamp { recordDelay(since: deleted) }
            objects.record(count)
            revision.update { $0 += 1 }
        }
    }

    private func recordDelay(since time: UnixTime) {
        let now = UnixTime.wallClock()
        let nanos = (now.seconds - time.seconds) * 1_000_000_000 + Int64(now.nanoseconds - time.nanoseconds)
        if nanos >= 0 { delay.recordNanoseconds(nanos) }
    }
}

/// How an informer keeps what it decodes: values that repeat shared through one interner,
/// raw objects deflated against samples of the kind (see `StoredJSON`).
public struct InformerCodec: ~Copyable {
    public let interner = Interner()
    public var deflater = Deflater()
    public init() {}
}

#if canImport(Glibc)
import Glibc
#endif

extension UnixTime {
    /// Now, from the system's real-time clock.
    public static func wallClock() -> UnixTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UnixTime(seconds: Int64(spec.tv_sec), nanoseconds: Int32(spec.tv_nsec))
    }
}
