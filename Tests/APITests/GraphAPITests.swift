import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Kubernetes
import NIOCore
import Testing
import TestSupport
import Wire
@testable import API
@testable import Aggregator

private let secret = "live-secret-of-32-bytes-or-more-xyz"
private let verifier = JWTVerifier(secret: secret)

private func headers(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

/// Traffic between the two tenants' pods and to an external address, reported by the
/// agent of node n1 (pods known from the agent only, as in `clustermon dev`).
private func feedTraffic(_ fixture: LiveFixture) async throws {
    let pods: [Agent_V1_Pod] = [
        .with { $0.uid = "p-web"; $0.name = "web-0"; $0.namespace = "compute-u1-web"; $0.ip = "10.1.0.5" },
        .with { $0.uid = "p-api"; $0.name = "api-0"; $0.namespace = "compute-u1-x-web"; $0.ip = "10.1.0.6" },
    ]
    func batch(_ sequence: UInt64, _ bytes: UInt64) -> Agent_V1_Batch {
        .with { b in
            b.nodeName = "n1"
            b.agentInstance = "graph-agent"
            b.sequence = sequence
            b.partCount = 1
            b.pods = pods
            let flows: [(String, UInt32, String, UInt32, String)] = [
                ("10.1.0.5", 40001, "10.1.0.6", 9000, "p-web"), ("10.1.0.6", 40002, "10.1.0.5", 8080, "p-api"),
                ("10.1.0.5", 40003, "203.0.113.5", 443, "p-web"), ("10.1.0.6", 40004, "198.51.100.77", 443, "p-api"),
            ]
            b.connections = flows.map { local, localPort, remote, remotePort, pod in
                connection(from: local, localPort, to: remote, remotePort, .outgoing, pod: pod, sent: bytes, received: bytes)
            }
        }
    }
    let now = Date().timeIntervalSince1970
    fixture.graph.ingest(batch(1, 0), receivedAt: now - 10)
    fixture.graph.ingest(batch(2, 5000), receivedAt: now - 1)
    try await fixture.refresh()
}

@Suite("Dependency graph API")
struct GraphAPITests {
    /// Each tenant sees its own vertices by name and the other as "other", through the
    /// REST endpoint, its filters, the history and the SSE stream.
    @Test func tenantsSeeTheirOwnSubgraph() async throws {
        let fixture = try LiveFixture()
        try await feedTraffic(fixture)
        let app = Application(router: buildRouter(fixture.configuration(live: fixture.finishedFeed())))
        let u1 = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        let u1x = try verifier.sign(userID: "u1-x", isAdmin: false, ttl: .seconds(600))
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        // A past window that holds the refresh just written (its end is exclusive, and the
        // refresh may fall in this very second).
        let from = UnixTime(seconds: Int64(Date().timeIntervalSince1970) - 600).rfc3339 + "&to=" + UnixTime(seconds: Int64(Date().timeIntervalSince1970) + 60).rfc3339
        try await app.test(.router) { client in
            let everything = try await client.execute(uri: "/api/graph/dependencies", method: .get, headers: headers(admin)) { String(buffer: $0.body) }
            for name in ["compute-u1-web", "compute-u1-x-web", "203.0.113.5", "198.51.100.77"] {
                #expect(everything.contains(name), "admin lacks \(name)")
            }
            for (token, own, others) in [(u1, "compute-u1-web", ["compute-u1-x-web", "api-0", "198.51.100.77"]),
                                         (u1x, "compute-u1-x-web", ["compute-u1-web/", "web-0", "203.0.113.5"])] {
                for path in ["/api/graph/dependencies", "/api/graph/dependencies?top=10&min_bytes=1", "/api/graph/dependencies?window=30s",
                             "/api/graph/dependencies?namespace=\(own)", "/api/graph/dependencies?from=\(from)", "/sse/graph"] {
                    let body = try await client.execute(uri: path, method: .get, headers: headers(token)) { response in
                        #expect(response.status == .ok, "\(path)")
                        return String(buffer: response.body)
                    }
                    #expect(body.contains(own), "\(path) lacks \(own): \(body)")
                    #expect(body.contains(#""id":"other""#), "\(path) lacks other")
                    for name in others { #expect(!body.contains(name), "\(path) leaks \(name)") }
                }
                let other = own == "compute-u1-web" ? "compute-u1-x-web" : "compute-u1-web"
                for path in ["/api/graph/dependencies?namespace=\(other)", "/api/graph/dependencies?service=\(other)/api",
                             "/api/graph/dependencies?service=\(other)/does-not-exist", "/sse/graph?namespace=\(other)",
                             "/api/graph/dependencies?namespace=\(other)&from=\(from)"] {
                    let status = try await client.execute(uri: path, method: .get, headers: headers(token)) { $0.status }
                    #expect(status == .forbidden, "\(path)")
                }
            }
        }
    }

    /// Shapes, numbers and every parameter error.
    @Test func shapesAndErrors() async throws {
        let fixture = try LiveFixture()
        try await feedTraffic(fixture)
        let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let app = Application(router: buildRouter(fixture.configuration(live: fixture.finishedFeed())))
        try await app.test(.router) { client in
            let graph = try await client.execute(uri: "/api/graph/dependencies?service=pod:compute-u1-web/web-0&depth=1", method: .get, headers: headers(admin)) { response in
                #expect(response.headers[.contentType] == "application/json")
                return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            }
            #expect(graph?["window_seconds"] as? Double == 60)
            let edges = try #require(graph?["edges"] as? [[String: Any]])
            let nodes = try #require(graph?["nodes"] as? [[String: Any]])
            // web's neighbourhood: to api and the external, and api's edge back to it; not api's own external.
            #expect(Set(edges.compactMap { $0["target"] as? String }) == ["pod:compute-u1-x-web/api-0", "external:203.0.113.5", "pod:compute-u1-web/web-0"])
            #expect(nodes.allSatisfy { $0["id"] != nil && $0["label"] != nil && $0["type"] != nil })
            let edge = try #require(edges.first { $0["id"] as? String == "pod:compute-u1-web/web-0->pod:compute-u1-x-web/api-0:tcp/9000" })
            #expect(edge["source"] as? String == "pod:compute-u1-web/web-0")
            #expect(edge["type"] as? String == "tcp")
            #expect(edge["label"] as? String == "TCP 9000")
            #expect(edge["bytes"] as? Double == 10_000)
            #expect(edge["active_connections"] as? Int == 1)
            let cases: [(String, HTTPResponse.Status)] = [
                // Malformed: 400; well-formed but not answerable together (or beyond a limit): 422.
                ("?depth=2", .unprocessableContent), ("?service=x&depth=0", .badRequest), ("?service=x&depth=11", .badRequest),
                ("?top=0", .badRequest), ("?top=many", .badRequest), ("?min_bytes=-1", .badRequest), ("?min_bytes=1.5", .badRequest),
                ("?window=2h", .unprocessableContent), ("?window=soon", .badRequest), ("?window=1m30s", .badRequest),
                ("?window=1m&from=2026-01-01T00:00:00Z", .unprocessableContent), ("?from=yesterday", .badRequest),
                ("?from=2026-02-30T00:00:00Z", .badRequest), ("?namespace=Not_A_Label", .badRequest), ("?service=two%20words", .badRequest),
                ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", .unprocessableContent), ("?verbose=1", .badRequest),
                ("?window=15m", .ok), ("?service=nothing-here", .ok), ("?from=0001-01-01T00:00:00Z", .ok),
            ]
            for (query, expected) in cases {
                let status = try await client.execute(uri: "/api/graph/dependencies" + query, method: .get, headers: headers(admin)) { $0.status }
                #expect(status == expected, "\(query)")
            }
            let streamStatus = try await client.execute(uri: "/sse/graph?from=2026-01-01T00:00:00Z", method: .get, headers: headers(admin)) { $0.status }
            #expect(streamStatus == .badRequest)
        }
    }

    /// `/sse/graph` over a real socket: the current graph on connect, then a frame per refresh.
    @Test func streamOverRealSocket() async throws {
        let fixture = try LiveFixture()
        try await fixture.refresh()
        let u1 = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        let app = Application(router: buildRouter(fixture.configuration()), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/sse/graph?token=\(u1)&top=5")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            let text = try await withTimeout(.seconds(20), "graph frames") {
                var text = ""
                var fed = false
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if !fed, text.contains("data: {") {
                        // The empty graph came first; traffic shows with the next refresh.
                        try await feedTraffic(fixture)
                        fed = true
                    }
                    if text.contains("web-0") { break }
                }
                return text
            }
            #expect(text.hasPrefix("data: {\"timestamp\""))
            #expect(text.contains(#""id":"other""#))
            #expect(!text.contains("api-0"))
        }
    }
}
