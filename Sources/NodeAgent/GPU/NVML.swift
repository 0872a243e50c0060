#if canImport(Glibc)
import Glibc
#endif

/// NVIDIA's management library, loaded at run time with `dlopen` (never linked: one agent
/// binary serves nodes with and without GPUs). REFERENCE.md §8 has the calls.
///
/// Structures cross the C ABI as raw bytes read at their C offsets (nvml.h's layouts on
/// LP64), not as Swift structs, whose layout Swift does not promise.
public final class NVML: @unchecked Sendable {
    /// Why there is no library to use: absent (no GPU driver on this node) or unusable.
    public enum LoadError: Error, CustomStringConvertible, Equatable {
        /// `dlopen` failed: no driver here. Not an error for a node without GPUs.
        case notFound(path: String, reason: String)
        /// The library is there but lacks a function the agent needs: a real error.
        case missingSymbol(path: String, symbol: String)
        /// `nvmlInit_v2` failed: 9 (driver not loaded) means no GPUs; others are errors.
        case initFailed(code: Int32, message: String)

        public var description: String {
            switch self {
            case .notFound(let path, let reason): "NVML library \(path) not loaded: \(reason)"
            case .missingSymbol(let path, let symbol): "NVML library \(path) lacks \(symbol)"
            case .initFailed(let code, let message): "nvmlInit_v2 failed: \(message) (NVML error \(code))"
            }
        }

        /// True when the node simply has no GPUs to report (said once at debug level).
        public var meansNoGPUs: Bool {
            switch self {
            case .notFound: true
            case .initFailed(let code, _): code == NVML.driverNotLoaded || code == NVML.libraryNotFound
            case .missingSymbol: false
            }
        }
    }

    /// A failing NVML call: which, and its code and message.
    public struct CallError: Error, CustomStringConvertible, Equatable {
        public var function: String
        public var code: Int32
        public var message: String
        public var description: String { "\(function) failed: \(message) (NVML error \(code))" }
    }

    static let success: Int32 = 0
    static let notSupported: Int32 = 3
    static let insufficientSize: Int32 = 7
    static let driverNotLoaded: Int32 = 9
    static let notFound: Int32 = 6
    static let libraryNotFound: Int32 = 12
    static let functionNotFound: Int32 = 13

    /// Codes that say "this device or driver does not offer it": an absent figure, not an error.
    static func unavailable(_ code: Int32) -> Bool { code == notSupported || code == functionNotFound }

    typealias Device = OpaquePointer?
    private typealias Void0 = @convention(c) () -> Int32
    private typealias GetCount = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    private typealias GetHandle = @convention(c) (UInt32, UnsafeMutablePointer<Device>) -> Int32
    private typealias GetText = @convention(c) (Device, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    private typealias GetStruct = @convention(c) (Device, UnsafeMutableRawPointer) -> Int32
    private typealias GetProcesses = @convention(c) (Device, UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer?) -> Int32
    private typealias GetProcessUtilization = @convention(c) (Device, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt32>, UInt64) -> Int32
    private typealias GetUInt = @convention(c) (Device, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias GetTemperature = @convention(c) (Device, UInt32, UnsafeMutablePointer<UInt32>) -> Int32
    private typealias ErrorString = @convention(c) (Int32) -> UnsafePointer<CChar>?

    public let path: String
    private let handle: UnsafeMutableRawPointer
    private let shutdownCall: Void0
    private let getCount: GetCount
    private let getHandle: GetHandle
    private let getUUID: GetText
    private let getName: GetText
    private let getMemory: GetStruct
    private let getUtilization: GetStruct
    private let getProcesses: GetProcesses
    private let getProcessUtilization: GetProcessUtilization?
    private let getPower: GetUInt?
    private let getTemperature: GetTemperature?
    private let errorString: ErrorString?
    /// Which optional functions this library lacks (said once by the collector).
    public let missingOptional: [String]
    private var initialized = false

    /// Loads the library and calls `nvmlInit_v2`.
    public init(path: String) throws(LoadError) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw .notFound(path: path, reason: dlerror().map { String(cString: $0) } ?? "unknown")
        }
        func required<T>(_ name: String, _: T.Type) throws(LoadError) -> T {
            guard let symbol = dlsym(handle, name) else {
                dlclose(handle)
                throw .missingSymbol(path: path, symbol: name)
            }
            return unsafeBitCast(symbol, to: T.self)
        }
        var missing: [String] = []
        func optional<T>(_ name: String, _: T.Type) -> T? {
            guard let symbol = dlsym(handle, name) else { missing.append(name); return nil }
            return unsafeBitCast(symbol, to: T.self)
        }
        let initCall = try required("nvmlInit_v2", Void0.self)
        shutdownCall = try required("nvmlShutdown", Void0.self)
        getCount = try required("nvmlDeviceGetCount_v2", GetCount.self)
        getHandle = try required("nvmlDeviceGetHandleByIndex_v2", GetHandle.self)
        getUUID = try required("nvmlDeviceGetUUID", GetText.self)
        getName = try required("nvmlDeviceGetName", GetText.self)
        getMemory = try required("nvmlDeviceGetMemoryInfo", GetStruct.self)
        getUtilization = try required("nvmlDeviceGetUtilizationRates", GetStruct.self)
        getProcesses = try required("nvmlDeviceGetComputeRunningProcesses_v3", GetProcesses.self)
        getProcessUtilization = optional("nvmlDeviceGetProcessUtilization", GetProcessUtilization.self)
        getPower = optional("nvmlDeviceGetPowerUsage", GetUInt.self)
        getTemperature = optional("nvmlDeviceGetTemperature", GetTemperature.self)
        errorString = optional("nvmlErrorString", ErrorString.self)
        missingOptional = missing
        self.path = path
        self.handle = handle
        // Fully initialized from here: a throw runs deinit, which closes the library.
        let code = initCall()
        guard code == Self.success else {
            throw .initFailed(code: code, message: errorString?(code).map { String(cString: $0) } ?? "NVML error \(code)")
        }
        initialized = true
    }

    deinit {
        if initialized { _ = shutdownCall() }
        dlclose(handle)
    }

    private func check(_ function: String, _ code: Int32) throws(CallError) {
        guard code != Self.success else { return }
        throw CallError(function: function, code: code, message: errorString?(code).map { String(cString: $0) } ?? "NVML error \(code)")
    }

    func deviceCount() throws(CallError) -> UInt32 {
        var count: UInt32 = 0
        try check("nvmlDeviceGetCount_v2", getCount(&count))
        return count
    }

    func device(at index: UInt32) throws(CallError) -> Device {
        var device: Device = nil
        try check("nvmlDeviceGetHandleByIndex_v2", getHandle(index, &device))
        return device
    }

    private func text(_ function: String, _ call: GetText, _ device: Device) throws(CallError) -> String {
        // NVML_DEVICE_UUID_V2_BUFFER_SIZE and NVML_DEVICE_NAME_V2_BUFFER_SIZE are 96.
        var buffer = [CChar](repeating: 0, count: 96)
        let code = buffer.withUnsafeMutableBufferPointer { call(device, $0.baseAddress!, 96) }
        try check(function, code)
        buffer[95] = 0
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    func uuid(_ device: Device) throws(CallError) -> String { try text("nvmlDeviceGetUUID", getUUID, device) }
    func name(_ device: Device) throws(CallError) -> String { try text("nvmlDeviceGetName", getName, device) }

    /// nvmlMemory_t: total, free, used (unsigned long long each).
    func memory(_ device: Device) throws(CallError) -> (total: UInt64, used: UInt64) {
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        let code = withUnsafeMutableBytes(of: &words) { getMemory(device, $0.baseAddress!) }
        try check("nvmlDeviceGetMemoryInfo", code)
        return (words.0, words.2)
    }

    /// nvmlUtilization_t: gpu, memory (unsigned int each, percent).
    func utilization(_ device: Device) throws(CallError) -> (gpu: UInt32, memory: UInt32) {
        var words: (UInt32, UInt32) = (0, 0)
        let code = withUnsafeMutableBytes(of: &words) { getUtilization(device, $0.baseAddress!) }
        try check("nvmlDeviceGetUtilizationRates", code)
        return (words.0, words.1)
    }

    public struct RunningProcess: Sendable, Equatable {
        public var pid: UInt32
        public var memoryUsedBytes: UInt64
    }

    /// nvmlProcessInfo_t (v2 layout, what _v3 fills): pid u32 @0, usedGpuMemory u64 @8,
    /// gpuInstanceId u32 @16, computeInstanceId u32 @20; 24 bytes. Asked for the count first,
    /// then filled; processes that start between the calls make it ask again (bounded).
    func processes(_ device: Device) throws(CallError) -> [RunningProcess] {
        let stride = 24
        var count: UInt32 = 0
        var code = getProcesses(device, &count, nil)
        for _ in 0..<4 {
            if code == Self.success && count == 0 { return [] }
            guard code == Self.insufficientSize || code == Self.success else { break }
            let capacity = Int(count) + 8
            var filled = UInt32(capacity)
            var result: [RunningProcess] = []
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity * stride, alignment: 8)
            defer { buffer.deallocate() }
            code = getProcesses(device, &filled, buffer)
            if code == Self.success {
                for i in 0..<min(Int(filled), capacity) {
                    result.append(RunningProcess(pid: buffer.load(fromByteOffset: i * stride, as: UInt32.self),
                                                 memoryUsedBytes: Self.usedMemory(buffer.load(fromByteOffset: i * stride + 8, as: UInt64.self))))
                }
                return result
            }
            count = filled
        }
        try check("nvmlDeviceGetComputeRunningProcesses_v3", code)
        return []
    }

    /// NVML_VALUE_NOT_AVAILABLE (all ones) stands for "not known" (e.g. Windows WDDM, some vGPUs).
    static func usedMemory(_ value: UInt64) -> UInt64 { value == UInt64.max ? 0 : value }

    public var hasProcessUtilization: Bool { getProcessUtilization != nil }

    public struct ProcessSample: Sendable, Equatable {
        public var pid: UInt32
        public var timestampMicros: UInt64
        public var smPercent: UInt32
    }

    /// nvmlProcessUtilizationSample_t: pid u32 @0, timeStamp u64 @8, smUtil u32 @16, memUtil
    /// @20, encUtil @24, decUtil @28; 32 bytes. The samples after `since` (µs); nil when the
    /// library lacks the call. "Not found" (no samples since then) is an empty list.
    func processUtilization(_ device: Device, since: UInt64) throws(CallError) -> [ProcessSample]? {
        guard let call = getProcessUtilization else { return nil }
        let stride = 32
        var count: UInt32 = 0
        var code = call(device, nil, &count, since)
        if code == Self.notFound || (code == Self.success && count == 0) { return [] }
        if Self.unavailable(code) { return nil }
        guard code == Self.insufficientSize || code == Self.success else {
            try check("nvmlDeviceGetProcessUtilization", code)
            return []
        }
        let capacity = Int(count) + 8
        var filled = UInt32(capacity)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity * stride, alignment: 8)
        defer { buffer.deallocate() }
        code = call(device, buffer, &filled, since)
        if code == Self.notFound { return [] }
        try check("nvmlDeviceGetProcessUtilization", code)
        return (0..<min(Int(filled), capacity)).map { i in
            ProcessSample(pid: buffer.load(fromByteOffset: i * stride, as: UInt32.self),
                          timestampMicros: buffer.load(fromByteOffset: i * stride + 8, as: UInt64.self),
                          smPercent: buffer.load(fromByteOffset: i * stride + 16, as: UInt32.self))
        }
    }

    /// Milliwatts; nil when the library or the device does not say.
    func power(_ device: Device) throws(CallError) -> UInt32? {
        guard let call = getPower else { return nil }
        var value: UInt32 = 0
        let code = call(device, &value)
        if Self.unavailable(code) { return nil }
        try check("nvmlDeviceGetPowerUsage", code)
        return value
    }

    /// The GPU die's temperature (NVML_TEMPERATURE_GPU = 0), °C; nil when not known.
    func temperature(_ device: Device) throws(CallError) -> UInt32? {
        guard let call = getTemperature else { return nil }
        var value: UInt32 = 0
        let code = call(device, 0, &value)
        if Self.unavailable(code) { return nil }
        try check("nvmlDeviceGetTemperature", code)
        return value
    }
}
