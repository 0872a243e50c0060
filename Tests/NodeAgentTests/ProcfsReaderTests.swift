import Foundation
import Testing
@testable import NodeAgent

@Suite("Reading this machine's /proc")
struct ProcfsReaderTests {
    let procfs = ProcfsReader(root: "/proc")

    @Test func listsProcessesWithTheirNamespaces() {
        let pids = procfs.pids()
        #expect(pids.contains(1))
        #expect(pids.contains(getpid()))
        let scan = procfs.scanProcesses()
        #expect(scan.processes.contains { $0.pid == getpid() && $0.netns != nil })
        #expect(procfs.hostNetns() != nil)
    }

    @Test func readsTheHostNamespaceSockets() throws {
        let rows = String(decoding: try procfs.read("1/net/tcp"), as: UTF8.self).split(separator: "\n").count - 1
        let sockets = procfs.sockets(pid: 1)
        #expect(sockets.tcp.count >= rows)
        #expect(sockets.malformedRows == 0)
    }

    @Test func missingProcessIsReportedAsMissing() {
        do {
            _ = try procfs.read("999999999/cgroup")
            Issue.record("expected an error")
        } catch {
            #expect(error.isMissing)
        }
    }

    @Test func filesystemUsage() throws {
        let usage = try FilesystemUsage.of("/")
        #expect(usage.capacityBytes > 0)
        #expect(usage.usedBytes <= usage.capacityBytes)
    }
}

@Suite("Socket cache")
struct SocketCacheTests {
    @Test func reusesWithinRefreshRereadsAfterAndForgetsVanishedNamespaces() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-sockets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("7/net"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        func write(ports: [UInt16]) throws {
            let rows = ports.enumerated().map { i, port in
                "   \(i): 00000000:\(String(port, radix: 16, uppercase: true)) 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 \(100 + i) 1\n"
            }
            try (header + rows.joined()).write(to: root.appendingPathComponent("7/net/tcp"), atomically: true, encoding: .utf8)
        }
        let procfs = ProcfsReader(root: root.path)
        let cache = SocketCache(refresh: .seconds(30))
        let start = ContinuousClock.now
        try write(ports: [80])
        #expect(cache.sockets(for: [42: 7], using: procfs, now: start).sockets[42]?.tcp.map(\.localPort) == [80])
        try write(ports: [80, 443])
        #expect(cache.sockets(for: [42: 7], using: procfs, now: start + .seconds(10)).sockets[42]?.tcp.count == 1, "cached")
        #expect(cache.sockets(for: [42: 7], using: procfs, now: start + .seconds(31)).sockets[42]?.tcp.count == 2, "refreshed")
        #expect(cache.sockets(for: [:], using: procfs, now: start + .seconds(32)).sockets.isEmpty)
        #expect(cache.sockets(for: [42: 7], using: procfs, now: start + .seconds(33)).sockets[42]?.tcp.count == 2, "a namespace seen again is read at once")

        // A budget of one read per call: new namespaces first, the rest on later calls.
        let budget = SocketCache(refresh: .seconds(30), maxReadsPerCall: 1)
        let first = budget.sockets(for: [1: 7, 2: 7], using: procfs, now: start).sockets
        #expect(first.count == 1)
        let second = budget.sockets(for: [1: 7, 2: 7], using: procfs, now: start + .seconds(1)).sockets
        #expect(Set(second.keys) == [1, 2])
        try write(ports: [22])
        let stale = budget.sockets(for: [1: 7, 2: 7, 3: 7], using: procfs, now: start + .seconds(40)).sockets
        #expect(stale.count == 3, "both stale ones keep their value; the new one is read")
        #expect(stale[3]?.tcp.map(\.localPort) == [22])
        #expect(stale[1]?.tcp.count == 2 && stale[2]?.tcp.count == 2)
    }
}

@Suite("Process cache")
struct ProcessCacheTests {
    @Test func readsNewProcessesTwiceThenOnlyWhenDueAndForgetsExitedOnes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-processes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func container(_ digit: Character) -> String { String(repeating: digit, count: 64) }
        func place(_ pid: Int, in id: String, netns: UInt64 = 4026532001) throws {
            let directory = root.appendingPathComponent("\(pid)/ns")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_0000_1111_2222_333344445555.slice/cri-containerd-\(id).scope\n"
                .write(to: root.appendingPathComponent("\(pid)/cgroup"), atomically: true, encoding: .utf8)
            let link = directory.appendingPathComponent("net").path
            try? FileManager.default.removeItem(atPath: link)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "net:[\(netns)]")
        }
        let procfs = ProcfsReader(root: root.path)
        let cache = ProcessCache(refresh: .seconds(30))
        let start = ContinuousClock.now
        func ids(_ scan: ProcessScan) -> [Int32: String] {
            Dictionary(uniqueKeysWithValues: scan.processes.map { ($0.pid, $0.container?.containerID ?? "host") })
        }

        try place(7, in: container("a"))
        let first = cache.scan(using: procfs, now: start)
        #expect(ids(first) == [7: container("a")])
        #expect(first.processes.first?.netns == 4026532001)
        // A runtime moves a process into its container's cgroup just after it starts: the
        // second scan that sees it reads it again.
        try place(7, in: container("b"))
        #expect(ids(cache.scan(using: procfs, now: start + .seconds(1))) == [7: container("b")])
        try place(7, in: container("c"))
        try place(8, in: container("d"))
        #expect(ids(cache.scan(using: procfs, now: start + .seconds(2))) == [7: container("b"), 8: container("d")], "7 from the cache, 8 read")
        #expect(ids(cache.scan(using: procfs, now: start + .seconds(32))) == [7: container("c"), 8: container("d")], "7 is due again")

        // An exited process is forgotten; its pid, reused, is read as new.
        try FileManager.default.removeItem(at: root.appendingPathComponent("7"))
        #expect(ids(cache.scan(using: procfs, now: start + .seconds(33))) == [8: container("d")])
        try place(7, in: container("e"))
        #expect(ids(cache.scan(using: procfs, now: start + .seconds(34))) == [7: container("e"), 8: container("d")])

        // A process that exits between the listing and the read is counted, not fatal.
        try FileManager.default.createDirectory(at: root.appendingPathComponent("9"), withIntermediateDirectories: true)
        let racing = cache.scan(using: procfs, now: start + .seconds(35))
        #expect(racing.vanished == 1)
        #expect(Set(racing.processes.map(\.pid)) == [7, 8])
    }
}
