#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard Prometheus process metrics, named as every Go exporter's process collector
/// names them (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read from
/// `/proc/self`: what a platform team graphs first for any agent. Both commands' `/metrics`
/// end with them.
public struct ProcessMetrics: Equatable, Sendable {
    public var cpuSeconds: Double
    public var residentBytes: Int
    public var virtualBytes: Int
    public var threads: Int
    public var startTimeSeconds: Double
    public var openFDs: Int?
    public var maxFDs: Int?

    /// Parses `/proc/<pid>/stat`: the fields after the command's closing parenthesis (the
    /// command may contain spaces and parentheses), given the machine's boot time
    /// (`btime` of `/proc/stat`), clock ticks per second and page size.
    static func parse(stat: String, bootTime: Double, ticksPerSecond: Double, pageSize: Int) -> ProcessMetrics? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        // Field 3 (state) is the first after the parenthesis: field n is at index n - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ n: Int) -> Int? { n - 3 < fields.count ? Int(fields[n - 3]) : nil }
        guard let utime = field(14), let stime = field(15), let threads = field(20), let start = field(22),
              let vsize = field(23), let rss = field(24) else { return nil }
        return ProcessMetrics(
            cpuSeconds: Double(utime + stime) / ticksPerSecond, residentBytes: rss * pageSize, virtualBytes: vsize,
            threads: threads, startTimeSeconds: bootTime + Double(start) / ticksPerSecond)
    }

    /// `btime` of `/proc/stat`: when the machine booted, in seconds since the epoch.
    static func bootTime(procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6))
        }
        return nil
    }

    /// The machine's boot time, read once (it does not change while the process lives).
    private static let machineBootTime: Double? = (try? FileBytes.read("/proc/stat", limit: 1 << 20))
        .flatMap { bootTime(procStat: String(decoding: $0, as: UTF8.self)) }

    /// This process now; nil where /proc is not readable.
    public static func current() -> ProcessMetrics? {
        guard let stat = try? FileBytes.read("/proc/self/stat", limit: 4096), let boot = machineBootTime else { return nil }
        var metrics = parse(stat: String(decoding: stat, as: UTF8.self), bootTime: boot,
                            ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: Int(sysconf(Int32(_SC_PAGESIZE))))
        metrics?.openFDs = openFileDescriptors()
        var limit = rlimit()
        if getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 { metrics?.maxFDs = Int(clamping: limit.rlim_cur) }
        return metrics
    }

    private static func openFileDescriptors() -> Int? {
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return count - 1  // the descriptor this listing holds
    }

    /// The Prometheus text exposition of these metrics.
    public var exposition: String {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", "\(cpuSeconds)")
        metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", "\(residentBytes)")
        metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", "\(virtualBytes)")
        metric("process_threads", "gauge", "Number of OS threads in the process.", "\(threads)")
        metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", "\(startTimeSeconds)")
        if let openFDs { metric("process_open_fds", "gauge", "Number of open file descriptors.", "\(openFDs)") }
        if let maxFDs { metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", "\(maxFDs)") }
        return text
    }

    /// Appends this process's metrics to an exposition (nothing where /proc is unreadable).
    public static func append(to bytes: inout [UInt8]) {
        if let metrics = current() { bytes.append(contentsOf: metrics.exposition.utf8) }
    }
}

#if canImport(Glibc)
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
private let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
#endif
