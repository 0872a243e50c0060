import Testing
import TestSupport
@testable import Kubernetes

@Suite("Process metrics from /proc/self")
struct ProcessMetricsTests {
    /// A command with a space and a parenthesis: fields are counted after the last ")".
    @Test func statLineIsParsedAfterTheCommand() throws {
        let stat = "3678 (clustermon (a) 1) S 3674 3674 29288 0 -1 4194304 100 0 0 0 250 75 0 0 20 0 7 0 4641481 3133440 5632 18446744073709551615 0 0"
        let metrics = try #require(ProcessMetrics.parse(stat: stat, bootTime: 1_700_000_000, ticksPerSecond: 100, pageSize: 4096))
        #expect(metrics.cpuSeconds == 3.25)
        #expect(metrics.threads == 7)
        #expect(metrics.startTimeSeconds == 1_700_000_000 + 46_414.81)
        #expect(metrics.virtualBytes == 3_133_440)
        #expect(metrics.residentBytes == 5632 * 4096)
        #expect(ProcessMetrics.parse(stat: "3678 (cat) R 1 2 3", bootTime: 0, ticksPerSecond: 100, pageSize: 4096) == nil, "truncated")
        #expect(ProcessMetrics.parse(stat: "garbage", bootTime: 0, ticksPerSecond: 100, pageSize: 4096) == nil)
    }

    @Test func bootTimeFromProcStat() throws {
        let text = try String(decoding: Fixtures.bytes("procfs/stat/node_exporter_proc_stat"), as: UTF8.self)
        #expect(ProcessMetrics.bootTime(procStat: text) == 1_418_183_276)
        #expect(ProcessMetrics.bootTime(procStat: "cpu 1 2 3\nbtime 1699999999\n") == 1_699_999_999)
        #expect(ProcessMetrics.bootTime(procStat: "cpu 1 2 3\n") == nil)
    }

    /// This test process, in the text format Prometheus reads.
    @Test func thisProcessInTheExpositionFormat() throws {
        let metrics = try #require(ProcessMetrics.current())
        #expect(metrics.residentBytes > 1 << 20)
        #expect(metrics.threads >= 1)
        #expect(metrics.cpuSeconds > 0)
        #expect((metrics.openFDs ?? 0) >= 3 && (metrics.maxFDs ?? 0) >= (metrics.openFDs ?? 0))
        let text = metrics.exposition
        for name in ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                     "process_threads", "process_start_time_seconds", "process_open_fds", "process_max_fds"] {
            #expect(text.contains("# TYPE \(name) "), "\(name)")
            #expect(text.contains("\n\(name) "), "\(name)")
        }
        #expect(text.contains("# TYPE process_cpu_seconds_total counter"))
    }
}
