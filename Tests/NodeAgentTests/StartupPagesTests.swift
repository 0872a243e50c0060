import Kubernetes
import Testing
@testable import NodeAgent

@Suite("Giving back startup code pages")
struct StartupPagesTests {
    @Test func onlyReadOnlyFileMappingsAreChosen() {
        let maps = """
        55d0c0000000-55d0c1000000 r--p 00000000 fd:01 1234                       /usr/local/bin/clustermon-agent
        55d0c1000000-55d0c2400000 r-xp 01000000 fd:01 1234                       /usr/local/bin/clustermon-agent
        55d0c2400000-55d0c2500000 rw-p 02400000 fd:01 1234                       /usr/local/bin/clustermon-agent
        55d0c3000000-55d0c3100000 rw-p 00000000 00:00 0                          [heap]
        7f0000000000-7f0000021000 rw-p 00000000 00:00 0
        7f0000100000-7f0000200000 r-xp 00000000 fd:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
        7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
        7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]
        garbage line
        """
        let chosen = StartupPages.readOnlyFileMappings(maps)
        #expect(chosen.map(\.start) == [0x55d0_c000_0000, 0x55d0_c100_0000, 0x7f00_0010_0000])
        #expect(chosen.map(\.length) == [0x100_0000, 0x140_0000, 0x10_0000])
    }

    /// On this machine's kernel: the advice is taken, and this process's own resident set
    /// does not grow from it.
    @Test func releaseAdvisesThisProcess() throws {
        let before = try #require(ProcessMetrics.current()).residentBytes
        let advised = try #require(StartupPages.release(), "MADV_PAGEOUT needs Linux 5.4")
        #expect(advised > 0)
        let after = try #require(ProcessMetrics.current()).residentBytes
        #expect(after <= before + (1 << 20), "resident \(before) -> \(after) bytes")
    }
}
