import Foundation
import Testing
import TestSupport
@testable import NodeAgent

private func bytes(_ path: String) throws -> [UInt8] { try Fixtures.bytes("procfs/\(path)") }
private func ownProc(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/proc/\(path)"))) }

@Suite("/proc/stat")
struct ProcStatTests {
    @Test func nodeExporterSampleWithGuestColumns() throws {
        let stat = try ProcStat.parse(bytes("stat/node_exporter_proc_stat"))
        #expect(stat.cpu.user == 301_854)
        #expect(stat.cpu.nice == 612)
        #expect(stat.cpu.system == 111_922)
        #expect(stat.cpu.idle == 8_979_004)
        #expect(stat.cpu.iowait == 3552)
        #expect(stat.cpu.steal == 0)
        // Guest time (44, 36) is inside user/nice already and must not be added again.
        #expect(stat.cpu.total == 301_854 + 612 + 111_922 + 8_979_004 + 3552 + 2 + 3944)
        #expect(stat.cpu.busy == stat.cpu.total - 8_979_004 - 3552)
        #expect(stat.cpuCount == 8)
        #expect(stat.bootTime == 1_418_183_276)
    }

    @Test func fedoraLargeCounters() throws {
        let stat = try ProcStat.parse(bytes("stat/go-sysinfo_fedora30_proc_stat"))
        #expect(stat.cpu.idle == 1_134_746_753)
        #expect(stat.cpu.steal == 266_903)
        #expect(stat.cpuCount == 4)
        #expect(stat.bootTime == 1_571_459_083)
    }

    @Test func ubuntu() throws {
        let stat = try ProcStat.parse(bytes("stat/go-sysinfo_ubuntu1710_proc_stat"))
        #expect(stat.cpu.user == 2_277_627)
        #expect(stat.cpu.system == 1_464_379)
        #expect(stat.cpuCount == 4)
        #expect(stat.bootTime == 1_518_838_073)
    }

    @Test func thisMachine() throws {
        let stat = try ProcStat.parse(ownProc("stat"))
        #expect(stat.cpuCount == ProcessInfo.processInfo.activeProcessorCount)
        #expect(stat.cpu.total > stat.cpu.busy)
        #expect((stat.bootTime ?? 0) > 1_500_000_000)
    }

    @Test func truncatedOrGarbage() {
        #expect(throws: ProcParseError.self) { try ProcStat.parse(Array("cpu  1 2\n".utf8)) }
        #expect(throws: ProcParseError.self) { try ProcStat.parse(Array("intr 1 2 3\n".utf8)) }
        #expect(throws: ProcParseError.self) { try ProcStat.parse([]) }
    }
}

@Suite("/proc/meminfo")
struct MeminfoTests {
    @Test func withMemAvailable() throws {
        let info = try Meminfo.parse(bytes("meminfo/go-sysinfo_ubuntu1710_proc_meminfo"))
        #expect(info.totalBytes == 4_042_048 * 1024)
        #expect(info.availableBytes == 3_651_940 * 1024)
        #expect(info.usedBytes == (4_042_048 - 3_651_940) * 1024)
    }

    @Test func olderKernelWithoutMemAvailableIsEstimated() throws {
        let info = try Meminfo.parse(bytes("meminfo/node_exporter_proc_meminfo"))
        #expect(info.totalBytes == 3_742_148 * 1024)
        #expect(info.values["MemAvailable"] == nil)
        #expect(info.availableBytes == (225_472 + 22_040 + 930_888) * 1024)
        // HugePages_* have no unit: counts, not kB.
        #expect(info.values["HugePages_Total"] == 0)
    }

    @Test func newerFields() throws {
        let info = try Meminfo.parse(bytes("meminfo/procfs_proc_meminfo"))
        #expect(info.totalBytes == 15_666_184 * 1024)
        #expect(info.values["Zswap"] == 22_414 * 1024)
        #expect(info.values["Zswapped"] == 10_502 * 1024)
    }

    @Test func thisMachine() throws {
        let info = try Meminfo.parse(ownProc("meminfo"))
        #expect((info.totalBytes ?? 0) > 100 << 20)
        #expect((info.availableBytes ?? 0) <= (info.totalBytes ?? 0))
    }

    @Test func truncated() {
        #expect(throws: ProcParseError.self) { try Meminfo.parse(Array("MemFr".utf8)) }
    }

    /// Found by fuzzing: a kB figure whose bytes exceed 64 bits trapped the agent.
    @Test func aSizeBeyondSixtyFourBitsIsSkipped() throws {
        let info = try Meminfo.parse(Array("MemTotal: 1024 kB\nMemAvailable: 18014398509481984 kB\nHugePages_Total: 18446744073709551615\n".utf8))
        #expect(info.totalBytes == 1 << 20)
        #expect(info.values["MemAvailable"] == nil)
        #expect(info.values["HugePages_Total"] == UInt64.max, "a count without unit is read as it is")
        let old = try Meminfo.parse(Array("MemTotal: 1 kB\nMemFree: 17014398509481984 kB\nCached: 17014398509481984 kB\n".utf8))
        #expect(old.availableBytes == UInt64.max, "the estimate saturates")
        var stat = CPUTimes()
        stat.user = UInt64.max
        stat.idle = 2
        #expect(stat.total == 1 && stat.busy == UInt64.max, "wrapping, as counters")
    }
}

@Suite("/proc/net/dev")
struct NetDevTests {
    @Test func sample() throws {
        let text = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo: 1661617    1954    0    0    0     0          0         0  1661617    1954    0    0    0     0       0          0
              eth0: 419643509 300000 3 4 0 0 0 0 15726012 200000 5 6 0 0 0 0
            """
        let interfaces = try NetDevCounters.parse(Array(text.utf8))
        #expect(interfaces.map(\.name) == ["lo", "eth0"])
        #expect(interfaces[1].rxBytes == 419_643_509)
        #expect(interfaces[1].rxErrors == 3)
        #expect(interfaces[1].rxDropped == 4)
        #expect(interfaces[1].txBytes == 15_726_012)
        #expect(interfaces[1].txErrors == 5)
        #expect(interfaces[1].txPackets == 200_000)
    }

    @Test func thisMachine() throws {
        let interfaces = try NetDevCounters.parse(ownProc("net/dev"))
        #expect(interfaces.contains { $0.name == "lo" })
    }

    @Test func truncatedRowIsAnError() {
        #expect(throws: ProcParseError.self) { try NetDevCounters.parse(Array("  eth0: 1 2 3\n".utf8)) }
    }
}

@Suite("/proc/<pid>/cgroup on every sample")
struct CgroupPathTests {
    @Test func kubernetesCgroupfsV1() throws {
        let found = CgroupPath.container(inFile: try bytes("cgroup/libdatadog_cgroup.kubernetes"))
        #expect(found == ContainerCgroup(containerID: "3e74d3fd9db4c9dd921ae05c2502fb984d0cde1b36e581b13f79c639da4518a1",
                                         podUID: "3d274242-8ee0-11e9-a8a6-1e68d864ef1a"))
    }

    @Test func plainDocker() throws {
        #expect(CgroupPath.container(inFile: try bytes("cgroup/libdatadog_cgroup.docker"))?.containerID
                == "9d5b23edb1ba181e8910389a99906598d69ac9a0ead109ee55730cc416d95f7f")
        #expect(CgroupPath.container(inFile: try bytes("cgroup/esm_docker-cgroupfs-v1_pid985.cgroup"))?.containerID
                == "b29faf21b7eff959f64b4192c34d5d67a707fe8561e9eaa608cb27693fba4242")
    }

    @Test func eksContainerdSystemdV1() throws {
        let found = CgroupPath.container(inFile: try bytes("cgroup/esm_amzn2-eks_containerd-systemd-v1_pid493239.cgroup"))
        #expect(found == ContainerCgroup(containerID: "1d3d308a7d48a27814a68bf33a44acf4441c9c02463ca0bc1cdfdc8c0b4a8496",
                                         runtime: "containerd", podUID: "7a96c459-d529-44ae-9f99-90d3798d6426"))
    }

    @Test func dockerSystemdV2WithoutTrailingNewline() throws {
        let data = try bytes("cgroup/esm_docker-systemd-v2_pid312.cgroup")
        #expect(data.last != UInt8(ascii: "\n"))
        #expect(CgroupPath.container(inFile: data) == ContainerCgroup(containerID: "1c8fa019edd4b9d4b2856f4932c55929c5c118c808ed5faee9a135ca6e84b039", runtime: "docker"))
    }

    @Test func kubepodsShapes() throws {
        let lines = try String(decoding: bytes("cgroup/container-info_kubepods-v1-mixed.cgroup"), as: UTF8.self).split(separator: "\n")
        func path(_ n: Int) -> String { String(lines[n].split(separator: ":", maxSplits: 2)[2]) }
        #expect(CgroupPath.container(inPath: path(0)) == ContainerCgroup(
            containerID: "244a65edefdffe31685c42317c9054e71dc1193048cf9459e2a4dd35cbc1dba4", podUID: "0e886e9a-3879-45f9-b44d-86ef9df03224"))
        #expect(CgroupPath.container(inPath: path(1)) == ContainerCgroup(
            containerID: "7fe41c8a2d1da09420117894f11dd91f6c3a44dfeb7d125dc594bd53468861df", podUID: "5eadac96-ab58-11ea-b82b-0242ac110009"))
        #expect(CgroupPath.container(inPath: path(2)) == ContainerCgroup(
            containerID: "b15a5bdedd2e7645c3be271364324321b908314e4c77857bbfd32a041148c07f", runtime: "docker", podUID: "22949dce-fd8b-11ea-8ede-98f2b32c645c"))
        #expect(CgroupPath.container(inPath: path(3))?.podUID == "74c13223-5a00-11e9-b385-42010a80018d")
    }

    @Test func criOAndItsMonitor() {
        let id = String(repeating: "ab", count: 32)
        #expect(CgroupPath.container(inPath: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_1111_2222_333344445555.slice/crio-\(id).scope")
                == ContainerCgroup(containerID: id, runtime: "cri-o", podUID: "1b2c3d4e-0000-1111-2222-333344445555"))
        #expect(CgroupPath.container(inPath: "/kubepods.slice/kubepods-pod1b2c3d4e_0000_1111_2222_333344445555.slice/crio-conmon-\(id).scope") == nil)
    }

    @Test func hostProcessesAreNotContainers() throws {
        #expect(CgroupPath.container(inFile: try bytes("cgroup/libdatadog_cgroup.linux")) == nil)
        #expect(CgroupPath.container(inFile: try bytes("cgroup/esm_ubuntu1804_host-hybrid_pid3757.cgroup")) == nil)
        #expect(CgroupPath.container(inFile: try bytes("cgroup/esm_amzn2_host-v1_pid1.cgroup")) == nil)
        // cgroup v2 in a private namespace shows only `0::/`: nothing to find.
        #expect(CgroupPath.container(inFile: try bytes("cgroup/libdatadog_cgroup.v2")) == nil)
        // Read from a non-host cgroup namespace: relative `/..` path of a user session.
        #expect(CgroupPath.container(inFile: try bytes("cgroup/esm_docker2-nested-cgroupns-v2_pid2233801.cgroup")) == nil)
    }

    @Test func nonHostNamespacePathsStillResolve() {
        let id = String(repeating: "c", count: 64)
        #expect(CgroupPath.container(inPath: "/../../kubepods-burstable-pod7a96c459_d529_44ae_9f99_90d3798d6426.slice/cri-containerd-\(id).scope")
                == ContainerCgroup(containerID: id, runtime: "containerd", podUID: "7a96c459-d529-44ae-9f99-90d3798d6426"))
    }

    @Test func edgeCasesDoNotMatchOrCrash() throws {
        // Short ids, one character short, trailing spaces, a non-hex id, an invalid line.
        #expect(CgroupPath.container(inFile: try bytes("cgroup/libdatadog_cgroup.edge_cases")) == nil)
        #expect(CgroupPath.container(inFile: Array("garbage without colons\n::\n0::".utf8)) == nil)
    }

    @Test func thisMachine() throws {
        // Whatever this process is (host or container), reading its own file must not fail.
        _ = CgroupPath.container(inFile: try ownProc("self/cgroup"))
    }
}

@Suite("/proc/net/tcp and tcp6")
struct NetTCPTests {
    @Test func ipv4ListenSockets() throws {
        let (sockets, malformed) = TCPSocket.parse(try bytes("net/procfs_proc_net_tcp"))
        #expect(malformed == 0)
        #expect(sockets.count == 3)
        #expect(sockets[0].localAddress.description == "10.0.0.5")
        #expect(sockets[0].localPort == 22)
        #expect(sockets[0].state == .listen)
        #expect(sockets[0].inode == 2740)
        #expect(sockets[1].localAddress.description == "0.0.0.0")
    }

    @Test func ipv6Rows() throws {
        let (sockets, malformed) = TCPSocket.parse(try bytes("net/procfs_proc_net_tcp6"))
        #expect(malformed == 0)
        #expect(sockets.count == 2)
        #expect(sockets[0].localAddress.description == "::")
        #expect(sockets[0].localPort == 0x14EB)
        #expect(sockets[0].uid == 981)
        #expect(sockets[0].state == .close)
        #expect(sockets[1].localAddress.description == "fe80::56e1:adff:fe7c:6609")
        #expect(sockets[1].localPort == 0xC781)
        #expect(sockets[1].inode == 11_337_031)
    }

    @Test func establishedRowWithTrailingSpaces() throws {
        let (sockets, _) = TCPSocket.parse(try bytes("net/node_exporter_proc_net_tcpstat"))
        let established = try #require(sockets.first { $0.state == .established })
        #expect(established.localAddress.description == "10.0.2.15")
        #expect(established.localPort == 22)
        #expect(established.remoteAddress.description == "10.0.2.2")
        #expect(established.remotePort == 0x8B6B)
        #expect(established.inode == 3652)
    }

    @Test func truncatedRowIsSkippedAndCounted() {
        let text = """
              sl  local_address rem_address   st
               0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1
               1: 0100007F:00
            """
        let (sockets, malformed) = TCPSocket.parse(Array(text.utf8))
        #expect(sockets.count == 1)
        #expect(sockets[0].localAddress.isLoopback)
        #expect(malformed == 1)
    }

    @Test func thisMachine() throws {
        let (_, malformed) = TCPSocket.parse(try ownProc("net/tcp"))
        #expect(malformed == 0)
    }

    @Test func addressesAndNamespaceLinks() {
        #expect(IPAddress("10.96.0.10")?.bytes == [10, 96, 0, 10])
        #expect(IPAddress("fd00::1")?.description == "fd00::1")
        #expect(IPAddress("::ffff:10.0.0.1")?.ipv4Mapped?.description == "10.0.0.1")
        #expect(IPAddress("1.2.3") == nil)
        #expect(NamespaceLink.inode("net:[4026531992]") == 4_026_531_992)
        #expect(NamespaceLink.inode("net:4026531992") == nil)
    }
}

@Suite("Addresses from text bytes")
struct IPAddressBytesTests {
    func parse(_ text: String) -> IPAddress? {
        var copy = text
        return copy.withUTF8 { IPAddress(utf8: $0) }
    }

    @Test func dottedQuadsAndIPv6() {
        #expect(parse("10.244.0.7")?.bytes == [10, 244, 0, 7])
        #expect(parse("255.255.255.255")?.bytes == [255, 255, 255, 255])
        #expect(parse("fd00::9")?.description == "fd00::9")
        #expect(parse("::ffff:10.0.0.1")?.ipv4Mapped?.description == "10.0.0.1")
    }

    @Test(arguments: ["256.1.1.1", "1.2.3", "1.2.3.4.5", "1..2.3", "a.b.c.d", "", "1.2.3.4 ", "1234.1.1.1"])
    func rejects(text: String) {
        #expect(parse(text) == nil)
    }
}
