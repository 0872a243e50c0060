import Logging
import Synchronization

/// What NVML said about the node's GPUs in one cycle.
public struct GPUScan: Sendable, Equatable {
    public struct Process: Sendable, Equatable {
        public var pid: UInt32
        public var memoryUsedBytes: UInt64
        public var smPercent: UInt32?
    }

    public struct Device: Sendable, Equatable {
        public var index: UInt32
        public var uuid: String
        public var name: String
        public var memoryTotalBytes: UInt64
        public var memoryUsedBytes: UInt64
        public var gpuPercent: UInt32?
        public var memoryPercent: UInt32?
        public var powerMilliwatts: UInt32?
        public var temperatureCelsius: UInt32?
        public var processes: [Process] = []
    }

    public var devices: [Device] = []
    /// Calls that failed (the figures they would have given are absent; the rest stands).
    public var errors: [String] = []
}

/// Reads the node's GPUs through NVML every cycle. No library, or no device, is a node
/// without GPUs: said once at debug level, and the collector does not appear in the batch.
/// A library that lacks a required function, or a call that fails, is a collector error
/// (`gpu`) like any other: said, counted, and the rest of the batch intact.
public final class GPUCollector: Sendable {
    public enum Availability: Sendable, Equatable {
        case none
        case failed(String)
        case ready
    }

    public let libraryPath: String
    private let logger: Logger
    private let retryLoadEvery: Duration
    private struct State {
        var library: NVML?
        var failure: String?
        var lastAttempt: ContinuousClock.Instant?
        var saidAbsent = false
        var saidMissingOptional = false
        /// Per device uuid: the newest process-utilization sample seen (µs).
        var lastSample: [String: UInt64] = [:]
    }
    private let state = Mutex(State())

    /// `retryLoadEvery`: how often a node without the library looks again (a GPU operator
    /// may install the driver after the agent started).
    public init(libraryPath: String, logger: Logger, retryLoadEvery: Duration = .seconds(300)) {
        self.libraryPath = libraryPath
        self.logger = logger
        self.retryLoadEvery = retryLoadEvery
    }

    /// Loads the library when not loaded (at most every `retryLoadEvery` after a failure).
    public func availability(now: ContinuousClock.Instant = .now) -> Availability {
        state.withLock { s in
            if s.library != nil { return .ready }
            if let last = s.lastAttempt, now - last < retryLoadEvery {
                return s.failure.map { .failed($0) } ?? .none
            }
            s.lastAttempt = now
            do throws(NVML.LoadError) {
                let library = try NVML(path: libraryPath)
                s.library = library
                s.failure = nil
                logger.info("NVML loaded", metadata: ["library": "\(libraryPath)"])
                if !library.missingOptional.isEmpty, !s.saidMissingOptional {
                    s.saidMissingOptional = true
                    logger.info("NVML lacks optional functions; their figures are absent", metadata: ["missing": "\(library.missingOptional.joined(separator: ","))"])
                }
                return .ready
            } catch {
                if error.meansNoGPUs {
                    if !s.saidAbsent {
                        s.saidAbsent = true
                        logger.debug("no GPUs: NVML not usable here", metadata: ["reason": "\(error)"])
                    }
                    s.failure = nil
                    return .none
                }
                s.failure = error.description
                return .failed(error.description)
            }
        }
    }

    /// One cycle's devices and processes; nil on a node without GPUs. Throws when the
    /// library is unusable or the device list cannot be read; a failing call for one device
    /// or figure is listed in `errors` and leaves only that figure out.
    public func scan() throws(CollectorErrors) -> GPUScan? {
        switch availability() {
        case .none: return nil
        case .failed(let message): throw CollectorErrors([message])
        case .ready: break
        }
        guard let library = state.withLock({ $0.library }) else { return nil }
        var result = GPUScan()
        let count: UInt32
        do { count = try library.deviceCount() } catch { throw CollectorErrors([error.description]) }
        if count == 0 { return nil }
        for index in 0..<count {
            do {
                let device = try library.device(at: index)
                let uuid = try library.uuid(device)
                var d = GPUScan.Device(index: index, uuid: uuid, name: (try? library.name(device)) ?? "",
                                       memoryTotalBytes: 0, memoryUsedBytes: 0)
                func figure<T>(_ body: () throws(NVML.CallError) -> T?) -> T? {
                    do { return try body() } catch {
                        result.errors.append("GPU \(index) (\(uuid)): \(error)")
                        return nil
                    }
                }
                if let memory = figure({ () throws(NVML.CallError) in try library.memory(device) }) {
                    d.memoryTotalBytes = memory.total
                    d.memoryUsedBytes = memory.used
                }
                if let rates = figure({ () throws(NVML.CallError) in try library.utilization(device) }) {
                    d.gpuPercent = rates.gpu
                    d.memoryPercent = rates.memory
                }
                d.powerMilliwatts = figure { () throws(NVML.CallError) in try library.power(device) }
                d.temperatureCelsius = figure { () throws(NVML.CallError) in try library.temperature(device) }
                let since = state.withLock { $0.lastSample[uuid] ?? 0 }
                let samples = figure { () throws(NVML.CallError) in try library.processUtilization(device, since: since) }
                var sm: [UInt32: (sum: UInt64, count: UInt64)] = [:]
                var newest = since
                for sample in samples ?? [] where sample.timestampMicros > since {
                    sm[sample.pid, default: (0, 0)].sum += UInt64(sample.smPercent)
                    sm[sample.pid, default: (0, 0)].count += 1
                    newest = max(newest, sample.timestampMicros)
                }
                state.withLock { $0.lastSample[uuid] = newest }
                if let processes = figure({ () throws(NVML.CallError) in try library.processes(device) }) {
                    d.processes = processes.map { p in
                        GPUScan.Process(pid: p.pid, memoryUsedBytes: p.memoryUsedBytes,
                                        smPercent: sm[p.pid].map { UInt32(min(100, $0.sum / max(1, $0.count))) })
                    }
                }
                result.devices.append(d)
            } catch {
                result.errors.append("GPU \(index): \(error)")
            }
        }
        return result
    }
}
