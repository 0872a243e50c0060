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
