import AsyncHTTPClient
import Logging
import Messaging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import TestSupport
@testable import NodeAgent

/// The agent's `/healthz`, `/readyz` and `/metrics` over a real socket.
@Suite("Agent status server")
struct StatusServerTests {
    @Test func answersProbesAndScrapesAndNothingElse() async throws {
        let ready = Mutex(false)
        let scrapes = Mutex(0)
        let server = StatusServer(
            host: "127.0.0.1", port: 0,
            readiness: [.init(name: "nats") { ready.withLock { $0 } ? nil : "connection reconnecting" }],
            metrics: {
                let n = scrapes.withLock { $0 += 1; return $0 }
                return Array("# TYPE clustermon_test counter\nclustermon_test \(n)\n".utf8)
            },
            logger: Logger(label: "test.status"))
        let running = Task { try await server.run() }
        let url = try #require(try await withTimeout(.seconds(10), "the server to listen") { await server.listening.wait { $0 != nil } })
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }

        func fetch(_ path: String, method: HTTPMethod = .GET, timeout: TimeAmount = .seconds(10)) async throws -> (UInt, String, String?) {
            var request = HTTPClientRequest(url: url + path)
            request.method = method
            let response = try await client.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 1 << 20)
            return (response.status.code, String(buffer: body), response.headers.first(name: "content-type"))
        }

        #expect(try await fetch("/healthz") == (200, "ok", "text/plain; charset=utf-8"))
        #expect(try await fetch("/healthz", method: .HEAD) == (200, "", "text/plain; charset=utf-8"))
        #expect(try await fetch("/readyz") == (503, "nats: connection reconnecting\n", "text/plain; charset=utf-8"))
        ready.withLock { $0 = true }
        #expect(try await fetch("/readyz") == (200, "ok\n", "text/plain; charset=utf-8"))
        let (status, body, type) = try await fetch("/metrics?format=text")
        #expect(status == 200)
        #expect(body.hasSuffix("clustermon_test 1\n"))
        #expect(type == "text/plain; version=0.0.4; charset=utf-8")
        #expect(try await fetch("/metrics").1.hasSuffix("clustermon_test 2\n"), "rendered for each scrape")
        #expect(try await fetch("/pod-metrics").0 == 404)
        #expect(try await fetch("/metrics", method: .POST).0 == 405)

        // Cancelled (as a service group cancels its services when one fails), it stops.
        running.cancel()
        try await withTimeout(.seconds(10), "the server to stop when cancelled") { try await running.value }
        // Its connections are closed too (the client retries connecting until the deadline).
        await #expect(throws: (any Error).self) { try await fetch("/healthz", timeout: .seconds(1)) }
    }
}
