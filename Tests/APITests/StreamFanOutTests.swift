import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif
@testable import API
@testable import Aggregator

/// Raw TCP clients of an SSE stream: some read, some never do.
final class RawSSEClients: @unchecked Sendable {
    var sockets: [Int32] = []
    var received: [Int32: String] = [:]

    func open(_ count: Int, port: Int, path: String) throws {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXFailure(what: "socket") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            // A small receive buffer, so that a client that never reads is full quickly.
            var small: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { close(fd); throw POSIXFailure(what: "connect") }
            let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
            _ = request.withCString { send(fd, $0, strlen($0), 0) }
            sockets.append(fd)
        }
    }

    /// Reads from `readers` until each has seen `marker` or the deadline passes; returns
    /// the readers that saw it.
    func read(_ readers: ArraySlice<Int32>, until marker: String, deadline: Date) -> Int {
        var done = Set<Int32>()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while done.count < readers.count, Date() < deadline {
            var fds = readers.filter { !done.contains($0) }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            if ready <= 0 { continue }
            for entry in fds where entry.revents & Int16(POLLIN) != 0 {
                let n = recv(entry.fd, &buffer, buffer.count, 0)
                if n <= 0 { done.insert(entry.fd); continue }
                // Keep only a tail: enough to find the marker across chunk boundaries.
                let text = (received[entry.fd] ?? "") + String(decoding: buffer[0..<n], as: UTF8.self)
                if text.contains(marker) { done.insert(entry.fd); received[entry.fd] = "" } else { received[entry.fd] = String(text.suffix(256)) }
            }
        }
        return done.count
    }

    func closeAll() {
        for fd in sockets { close(fd) }
        sockets = []
    }
}

struct POSIXFailure: Error { var what: String }

private func residentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
}

@Suite("Stream fan-out")
struct StreamFanOutTests {
    /// 1,000 SSE clients, 900 of which never read: the readers keep getting the newest
    /// frame, memory stays bounded, and the stream cap refuses the 1,001st with 503.
    @Test func thousandClientsSomeNeverRead() async throws {
        let pods = (0..<300).map { TestBatches.PodSpec("core", "pod-\($0)-with-a-longer-name", memoryBytes: UInt64($0)) }
        let fixture = try LiveFixture(pods: pods)
        try await fixture.refresh()
        let admin = try #require(try Caller.admin.token())
        let configuration = fixture.configuration(maxStreams: 1000, keepAlive: .seconds(60))
        let app = Application(router: buildRouter(configuration), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // The test client connects once, in the background, with a 5 s deadline; let it
            // finish before 1,000 sockets queue on the same listener (under load it did not).
            let health = try await client.execute(uri: "/healthz", method: .get)
            #expect(health.status == .ok)
            let clients = RawSSEClients()
            defer { clients.closeAll() }
            try clients.open(1000, port: port, path: "/sse/pod-metrics?token=\(admin)")
            let readers = clients.sockets[900...]
            let before = residentBytes()
            // Everyone's snapshot is sent; readers see it.
            let first = await Self.onThread { clients.read(readers, until: "pod-299-with", deadline: Date() + 30) }
            #expect(first == 100)

            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/sse/pod-metrics?token=\(admin)")
            request.method = .GET
            let refused = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(refused.status == .serviceUnavailable)

            for round in 1...5 {
                let marked = pods + [TestBatches.PodSpec("core", "marker-\(round)")]
                fixture.state.ingest(TestBatches.batch(node: "n1", sequence: UInt64(round + 1), collectedAt: Int64(Date().timeIntervalSince1970) + Int64(round), pods: marked),
                                     receivedAt: Date().timeIntervalSince1970)
                fixture.refresher.refresh(tick: Int64(round))
            }
            let last = await Self.onThread { clients.read(readers, until: "marker-5", deadline: Date() + 60) }
            #expect(last == 100, "readers that got the newest frame")
            let growth = residentBytes() - before
            #expect(growth < 512 << 20, "RSS grew by \(growth >> 20) MiB")
        }
    }

    /// Blocking socket work runs on its own thread, off Swift's small cooperative pool.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.start()
        }
    }
}
