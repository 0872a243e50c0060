#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Metrics
import Synchronization

/// Names for external addresses, looked up in the background: `name(for:)` never blocks,
/// it answers from the cache and queues a lookup for an address it has not seen. The cache
/// and the queue are bounded; a lookup slower than the time-out is cached as unresolved.
public final class ReverseDNS: Sendable {
    public struct Configuration: Sendable {
        /// Addresses remembered (resolved or not).
        public var capacity = 10_000
        /// Lookups waiting at most; more are dropped (and retried when asked again).
        public var queueLimit = 512
        /// Threads doing lookups.
        public var workers = 2
        /// A lookup slower than this is cached as unresolved.
        public var timeout: Duration = .seconds(2)
        public var positiveTTL: Duration = .seconds(3600)
        public var negativeTTL: Duration = .seconds(600)
        public init() {}
    }

    struct Entry {
        var name: String?
        var expires: Double
        var pending: Bool
    }

    private struct State {
        var cache: [NetworkAddress: Entry] = [:]
        var queue: [NetworkAddress] = []
        var stopped = false
    }

    let configuration: Configuration
    let lookup: @Sendable (NetworkAddress) -> String?
    let now: @Sendable () -> Double
    private let state = Mutex(State())
    private let wakeUp = NSCondition()
    private let lookups = Counter(label: "clustermon_graph_dns_lookups_total", dimensions: [("outcome", "resolved")])
    private let misses = Counter(label: "clustermon_graph_dns_lookups_total", dimensions: [("outcome", "unresolved")])
    private let timeouts = Counter(label: "clustermon_graph_dns_lookups_total", dimensions: [("outcome", "timeout")])
    private let dropped = Counter(label: "clustermon_graph_dns_dropped_total")

    public init(configuration: Configuration = .init(), lookup: @escaping @Sendable (NetworkAddress) -> String? = ReverseDNS.system,
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.configuration = configuration
        self.lookup = lookup
        self.now = now
        for index in 0..<max(configuration.workers, 1) {
            let thread = Thread { [self] in self.work() }
            thread.name = "clustermon-dns-\(index)"
            thread.start()
        }
    }

    /// Stops the workers (a lookup in progress finishes first); the owner calls it once.
    public func stop() {
        state.withLock { $0.stopped = true }
        wakeUp.lock()
        wakeUp.broadcast()
        wakeUp.unlock()
    }

    /// The cached name, or nil (then a lookup is queued unless one is pending or cached).
    public func name(for address: NetworkAddress) -> String? {
        enum Answer { case cached(String?), queued, full }
        let time = now()
        let answer = state.withLock { state -> Answer in
            if let entry = state.cache[address], entry.pending || entry.expires > time { return .cached(entry.name) }
            guard !state.stopped, state.queue.count < configuration.queueLimit else { return .full }
            if state.cache.count >= configuration.capacity, state.cache[address] == nil {
                // Forget expired entries, else an arbitrary tenth.
                state.cache = state.cache.filter { $0.value.pending || $0.value.expires > time }
                if state.cache.count >= configuration.capacity {
                    for key in Array(state.cache.keys.prefix(configuration.capacity / 10)) { state.cache[key] = nil }
                }
            }
            state.cache[address] = Entry(name: state.cache[address]?.name, expires: 0, pending: true)
            state.queue.append(address)
            return .queued
        }
        switch answer {
        case .cached(let name):
            return name
        case .queued:
            wakeUp.lock()
            wakeUp.signal()
            wakeUp.unlock()
            return nil
        case .full:
            dropped.increment()
            return nil
        }
    }

    private func work() {
        while true {
            wakeUp.lock()
            var next: NetworkAddress?
            while next == nil {
                let (address, stopped) = state.withLock { state -> (NetworkAddress?, Bool) in
                    (state.queue.isEmpty ? nil : state.queue.removeFirst(), state.stopped)
                }
                if stopped { wakeUp.unlock(); return }
                next = address
                if next == nil { wakeUp.wait() }
            }
            wakeUp.unlock()
            guard let address = next else { continue }
            let started = ContinuousClock.now
            let name = lookup(address)
            let slow = ContinuousClock.now - started > configuration.timeout
            if slow { timeouts.increment() } else if name != nil { lookups.increment() } else { misses.increment() }
            let kept = slow ? nil : name
            let ttl = kept == nil ? configuration.negativeTTL : configuration.positiveTTL
            let time = now()
            state.withLock { $0.cache[address] = Entry(name: kept, expires: time + Double(ttl.components.seconds), pending: false) }
        }
    }

    /// Lookups queued or in progress.
    public var pendingCount: Int { state.withLock { $0.cache.values.filter(\.pending).count } }

    /// `getnameinfo` with `NI_NAMEREQD`: the resolver's PTR answer, nil when there is none.
    @Sendable public static func system(_ address: NetworkAddress) -> String? {
        var host = [CChar](repeating: 0, count: 1025)
        let bytes = address.bytes
        func lookup<Socket>(_ socket: inout Socket, address: WritableKeyPath<Socket, some Any>) -> Int32 {
            withUnsafeMutableBytes(of: &socket[keyPath: address]) { for (i, byte) in bytes.enumerated() { $0[i] = byte } }
            return withUnsafePointer(to: &socket) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, socklen_t(MemoryLayout<Socket>.size), &host, socklen_t(host.count), nil, 0, NI_NAMEREQD)
                }
            }
        }
        let code: Int32
        if address.isIPv4 {
            var socket = sockaddr_in()
            socket.sin_family = sa_family_t(AF_INET)
            code = lookup(&socket, address: \.sin_addr)
        } else {
            var socket = sockaddr_in6()
            socket.sin6_family = sa_family_t(AF_INET6)
            code = lookup(&socket, address: \.sin6_addr)
        }
        guard code == 0 else { return nil }
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? nil : name
    }
}
