/// Cumulative CPU time from the `cpu` line of /proc/stat, in clock ticks (USER_HZ).
public struct CPUTimes: Sendable, Equatable {
    public var user: UInt64 = 0
    public var nice: UInt64 = 0
    public var system: UInt64 = 0
    public var idle: UInt64 = 0
    public var iowait: UInt64 = 0
    public var irq: UInt64 = 0
    public var softirq: UInt64 = 0
    public var steal: UInt64 = 0
    public init() {}

    /// Every tick (guest time is already counted in user and nice, so it is left out).
    /// Wrapping, as the counters they sum: a malformed file gives a wrong figure, never a trap.
    public var total: UInt64 { user &+ nice &+ system &+ idle &+ iowait &+ irq &+ softirq &+ steal }
    /// Ticks spent doing work: everything but idle and iowait.
    public var busy: UInt64 { total &- idle &- iowait }
}

/// What clustermon reads from /proc/stat.
public struct ProcStat: Sendable, Equatable {
    public var cpu = CPUTimes()
    /// Number of `cpuN` lines: the CPUs online.
    public var cpuCount = 0
    /// Boot time, Unix seconds.
    public var bootTime: Int64?
    public init() {}

    public static func parse(_ bytes: [UInt8]) throws -> ProcStat {
        var stat = ProcStat()
        var sawTotal = false
        for line in ProcText.lines(bytes) {
            if ProcText.starts(line, with: "cpu ") {
                let values = ProcText.fields(line).dropFirst().map { ProcText.decimal($0) }
                guard values.count >= 4, values.allSatisfy({ $0 != nil }) else { throw ProcParseError("/proc/stat", "malformed cpu line") }
                let v = values.map { $0! } + Array(repeating: 0, count: max(0, 8 - values.count))
                stat.cpu.user = v[0]; stat.cpu.nice = v[1]; stat.cpu.system = v[2]; stat.cpu.idle = v[3]
                stat.cpu.iowait = v[4]; stat.cpu.irq = v[5]; stat.cpu.softirq = v[6]; stat.cpu.steal = v[7]
                sawTotal = true
            } else if ProcText.starts(line, with: "cpu") {
                stat.cpuCount += 1
            } else if ProcText.starts(line, with: "btime ") {
                stat.bootTime = ProcText.fields(line).dropFirst().first.flatMap(ProcText.decimal).map(Int64.init)
            }
        }
        guard sawTotal else { throw ProcParseError("/proc/stat", "no cpu line") }
        return stat
    }
}
