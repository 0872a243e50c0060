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
