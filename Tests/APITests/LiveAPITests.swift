import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import Logging
import Messaging
import NIOCore
import Prometheus
import Kubernetes
import Testing
import TestSupport
@testable import API
@testable import Aggregator

private let secret = "live-secret-of-32-bytes-or-more-xyz"
private let verifier = JWTVerifier(secret: secret)

/// The caller kinds of the auth matrix.
enum Caller: String, CaseIterable {
    case none, badSignature, algNone, expired, wrongType, user, admin

    func token(userID: String = "u1") throws -> String? {
        switch self {
        case .none: return nil
        case .badSignature: return try JWTVerifier(secret: "another-secret-of-32-bytes-or-more").sign(userID: userID, isAdmin: true, ttl: .seconds(600))
        case .algNone:
            func b64(_ s: String) -> String {
                Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            }
            let exp = Int(Date().timeIntervalSince1970) + 600
            return b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(#"{"user_id":"\#(userID)","is_admin":true,"exp":\#(exp)}"#) + "."
        case .expired: return try verifier.sign(userID: userID, isAdmin: true, ttl: .seconds(-3600))
        case .wrongType: return try verifier.sign(userID: userID, isAdmin: true, type: "2fa_challenge", ttl: .seconds(600))
        case .user: return try verifier.sign(userID: userID, isAdmin: false, ttl: .seconds(600))
        case .admin: return try verifier.sign(userID: userID, isAdmin: true, ttl: .seconds(600))
        }
    }
}

/// An API over real state: two tenants `u1` and `u1-x` (one a prefix of the other), a
/// system namespace and `core`.
final class LiveFixture: Sendable {
    let cluster: StaticClusterView
    let state = ClusterState()
    let graph = ConnectionGraph()
    let refresher: Refresher
    let history: HistoryStore
    let path: String

    init(pods: [TestBatches.PodSpec]? = nil) throws {
        cluster = StaticClusterView()
        try cluster.add(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        try cluster.add(.namespaces, #"{"metadata":{"name":"compute-u1-x-web","labels":{"clustermon.io/owner":"u1-x"}}}"#)
        // No owner label: the name prefix decides, made exact by the known owners.
        try cluster.add(.namespaces, #"{"metadata":{"name":"compute-u1-x-unlabelled"}}"#)
        try cluster.add(.namespaces, #"{"metadata":{"name":"kube-system"}}"#)
        try cluster.add(.namespaces, #"{"metadata":{"name":"core"}}"#)
        path = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-api-\(UUID().uuidString).sqlite").path
        history = try HistoryStore(path: path, logger: Logger(label: "test"))
        refresher = Refresher(state: state, ingest: nil, cluster: cluster, history: history, events: nil, graph: graph, logger: Logger(label: "test"))
        let pods = pods ?? [
            .init("compute-u1-web", "web", cpuCoreNanoseconds: 1, memoryBytes: 100),
            .init("compute-u1-x-web", "api", memoryBytes: 200),
            .init("compute-u1-x-unlabelled", "job", memoryBytes: 250),
            .init("kube-system", "coredns", memoryBytes: 300),
            .init("core", "billing", memoryBytes: 400),
        ]
        let batch = TestBatches.batch(node: "n1", sequence: 1, collectedAt: Int64(Date().timeIntervalSince1970), pods: pods)
        state.ingest(batch, receivedAt: Date().timeIntervalSince1970)
        history.record(batch, cluster: cluster)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// One refresh, written to the history too.
    @discardableResult
    func refresh() async throws -> LiveView {
        let (view, edges) = refresher.refreshAll(tick: Int64(Date().timeIntervalSince1970))
        try history.recordEdges(time: view.timestamp, edges: edges)
        return view
    }

    func configuration(live: Observed<LiveFrame>? = nil, maxStreams: Int = 4096, keepAlive: Duration = .seconds(15)) -> APIConfiguration {
        var configuration = APIConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(),
                                             cluster: cluster, jwtSecret: secret, heartbeatToken: "beat")
        configuration.live = live ?? refresher.live
        configuration.graph = graph
        configuration.history = history
        let state = self.state
        configuration.nodeSamples = { state.snapshot() }
        configuration.maxStreams = maxStreams
        configuration.keepAlive = keepAlive
        return configuration
    }

    /// A live feed that has ended: streams send the current view and finish, so that the
    /// in-memory test client can read whole answers. The graph's feed ends too (for good).
    func finishedFeed() -> Observed<LiveFrame> {
        let feed = Observed(refresher.live.value)
        feed.finish()
        graph.live.finish()
        return feed
    }
}

private func headers(_ token: String?) -> HTTPFields {
    token.map { [.authorization: "Bearer \($0)"] } ?? [:]
}

private func concrete(_ path: String) -> String {
    // metrics.k8s.io's namespaced paths: the user's own namespace (another's is a 403, tested apart).
    let namespace = path.hasPrefix("/apis/metrics.k8s.io/") ? "compute-u1-web" : "shop"
    return path.replacingOccurrences(of: "{name}", with: "n1").replacingOccurrences(of: "{namespace}", with: namespace)
}

@Suite("Live metrics API")
struct LiveAPITests {
    /// Every JWT-protected operation of the OpenAPI table x every caller kind.
    @Test func authMatrix() async throws {
        let fixture = try LiveFixture()
        try await fixture.refresh()
        let app = Application(router: buildRouter(fixture.configuration(live: fixture.finishedFeed())))
        try await app.test(.router) { client in
            for op in OpenAPI.operations where op.auth == .user || op.auth == .admin {
                for caller in Caller.allCases {
                    let expected: HTTPResponse.Status = switch caller {
                    case .none, .badSignature, .algNone, .expired, .wrongType: .unauthorized
                    case .user: op.auth == .admin ? .forbidden : .ok
                    case .admin: .ok
                    }
                    let method: HTTPRequest.Method = op.method == "head" ? .head : .get
                    // WebSocket paths are asked as a browser would (without an upgrade: 426).
                    var upgrade: HTTPFields = [:]
                    if op.produces == "websocket" {
                        upgrade = [.connection: "Upgrade", .upgrade: "websocket", .secWebSocketVersion: "13", .secWebSocketKey: "dGhlIHNhbXBsZSBub25jZQ=="]
                    }
                    var fields = try headers(caller.token())
                    fields.append(contentsOf: upgrade)
                    var status = try await client.execute(uri: concrete(op.path), method: method, headers: fields) { $0.status }
                    // One object of metrics.k8s.io that has no metrics yet: found missing once admitted.
                    if status == .notFound && expected == .ok && op.path.hasPrefix("/apis/metrics.k8s.io/") && op.path.hasSuffix("{name}") { status = .ok }
                    #expect(status == expected, "\(op.method) \(op.path) as \(caller)")
                    // The same token in ?token= is equivalent.
                    if let token = try caller.token() {
                        var viaQuery = try await client.execute(uri: concrete(op.path) + "?token=\(token)", method: method, headers: upgrade) { $0.status }
                        if viaQuery == .notFound && expected == .ok && op.path.hasPrefix("/apis/metrics.k8s.io/") { viaQuery = .ok }
                        #expect(viaQuery == expected, "\(op.method) \(op.path)?token= as \(caller)")
                    }
                }
            }
        }
    }

    /// Without JWT_SECRET every protected endpoint is 401, admin token or not.
    @Test func noSecretMeansUnauthorized() async throws {
        let fixture = try LiveFixture()
        var configuration = fixture.configuration(live: fixture.finishedFeed())
        configuration.jwtSecret = nil
        let app = Application(router: buildRouter(configuration))
        try await app.test(.router) { client in
            for path in ["/cluster-info", "/pod-metrics", "/api/metrics/pods", "/sse/pod-metrics"] {
                let status = try await client.execute(uri: path, method: .get, headers: headers(try Caller.admin.token())) { $0.status }
                #expect(status == .unauthorized, "\(path)")
            }
        }
    }

    /// `u1` and `u1-x` never see each other's pods, through any endpoint or parameter.
    @Test func crossTenantIsolation() async throws {
        let fixture = try LiveFixture()
        try await fixture.refresh()
        let app = Application(router: buildRouter(fixture.configuration(live: fixture.finishedFeed())))
        let u1 = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        let u1x = try verifier.sign(userID: "u1-x", isAdmin: false, ttl: .seconds(600))
        try await app.test(.router) { client in
            for (token, own, others) in [(u1, ["compute-u1-web"], ["compute-u1-x-web", "compute-u1-x-unlabelled", "kube-system", "core"]),
                                         (u1x, ["compute-u1-x-web", "compute-u1-x-unlabelled"], ["compute-u1-web", "kube-system", "core"])] {
                for path in ["/pod-metrics", "/sse/pod-metrics", "/sse/health", "/api/metrics/pods", "/api/metrics/pods?resolution=raw",
                             "/api/metrics/pods?metric=memory/working_set", "/api/metrics/containers?metric=memory/working_set",
                             "/api/metrics/containers?metric=cpu/usage&step=1h&agg=increase"] {
                    let body = try await client.execute(uri: path, method: .get, headers: headers(token)) { response in
                        #expect(response.status == .ok, "\(path)")
                        return String(buffer: response.body)
                    }
                    for namespace in own { #expect(body.contains(namespace), "\(path) lacks \(namespace)") }
                    for namespace in others { #expect(!body.contains(namespace), "\(path) leaks \(namespace)") }
                }
                for namespace in others {
                    for path in ["/pod-metrics?namespace=\(namespace)", "/sse/pod-metrics?namespace=\(namespace)", "/api/metrics/pods?namespace=\(namespace)",
                                 "/api/metrics/pods?namespace=\(namespace)&pod=web", "/api/metrics/containers?namespace=\(namespace)",
                                 "/api/metrics/containers?namespace=\(namespace)&pod=web&container=main&metric=memory/usage"] {
                        let status = try await client.execute(uri: path, method: .get, headers: headers(token)) { $0.status }
                        #expect(status == .forbidden, "\(path)")
                    }
                }
                // Admin-only data stays admin-only.
                for path in ["/cluster-info", "/api/metrics/nodes", "/sse/cluster-info", "/api/metrics/nodes/n1"] {
                    let status = try await client.execute(uri: path, method: .get, headers: headers(token)) { $0.status }
                    #expect(status == .forbidden, "\(path)")
                }
                // A user's health stream has no cluster frames.
                let health = try await client.execute(uri: "/sse/health", method: .get, headers: headers(token)) { String(buffer: $0.body) }
                #expect(health.contains(#"{"type":"pods""#) && !health.contains(#""type":"cluster""#))
            }
        }
    }

    @Test func restShapesAndErrors() async throws {
        let fixture = try LiveFixture()
        try await fixture.refresh()
        let admin = try #require(try Caller.admin.token())
        let app = Application(router: buildRouter(fixture.configuration(live: fixture.finishedFeed())))
        try await app.test(.router) { client in
            let pods = try await client.execute(uri: "/pod-metrics?namespace=core&node=n1", method: .get, headers: headers(admin)) { response in
                #expect(response.headers[.contentType] == "application/json")
                return try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            }
            let list = try #require(pods?["pods"] as? [[String: Any]])
            #expect(list.map { $0["name"] as? String } == ["billing"])
            #expect(list.first?["memory_usage"] as? Int == 400)
            #expect(UnixTimeCheck.isRFC3339(pods?["timestamp"] as? String))
            let health = try await client.execute(uri: "/sse/health", method: .get, headers: headers(admin)) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                return String(buffer: response.body)
            }
            #expect(health.hasPrefix(#"data: {"type":"cluster","payload":{"timestamp":"#))
            #expect(health.contains("\n\ndata: {\"type\":\"pods\",\"payload\":{\"timestamp\":"))
            let cases: [(String, HTTPResponse.Status)] = [
                // Malformed: 400; well-formed but not answerable together (or too large): 422.
                ("/api/metrics/nodes?resolution=2m", .badRequest), ("/api/metrics/nodes?start=yesterday", .badRequest),
                ("/api/metrics/nodes?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", .unprocessableContent),
                ("/api/metrics/nodes?start=2026-02-29T00:00:00Z", .badRequest), ("/api/metrics/nodes?start=2028-02-29T00:00:00%2B24:00", .badRequest),
                ("/api/metrics/nodes?step=1", .badRequest), ("/api/metrics/nodes?step=1m30s", .badRequest), ("/api/metrics/nodes/unknown", .notFound),
                ("/api/metrics/pods?metric=cpu/usage_ratio", .badRequest), ("/api/metrics/nodes?metric=cpu/usage&agg=median", .badRequest),
                ("/api/metrics/nodes?agg=max", .unprocessableContent), ("/api/metrics/nodes?resolution=raw&step=1m", .unprocessableContent),
                ("/api/metrics/nodes?start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59Z&step=999999h", .unprocessableContent),
                ("/api/metrics/nodes?start=0001-01-01T00:00:00Z&end=9999-12-31T23:59:59Z&step=999999h&metric=cpu/usage", .ok),
                ("/api/metrics/pods?namespace=Core", .badRequest), ("/api/metrics/pods?pod=web", .ok),
                ("/api/metrics/containers?container=main", .ok), ("/api/metrics/containers?namespace=core&container=main", .ok),
                ("/api/metrics/nodes?metric=cpu/node_utilization&step=1m", .ok), ("/api/metrics/containers?metric=memory/working_set&resolution=raw", .ok),
                ("/cluster-info?verbose=1", .badRequest), ("/api/metrics/nodes/n1?resolution=raw", .ok),
            ]
            for (path, expected) in cases {
                let status = try await client.execute(uri: path, method: .get, headers: headers(admin)) { $0.status }
                #expect(status == expected, "\(path)")
            }
            let history = try await client.execute(uri: "/api/metrics/pods?namespace=core", method: .get, headers: headers(admin)) { response in
                try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            }
            #expect(history?["resolution"] as? String == "raw")
            let series = try #require(history?["series"] as? [String: [[String: Any]]])
            #expect(Array(series.keys) == ["core/billing"])
            #expect(series["core/billing"]?.first?["mem"] as? Int == 400)
            // A catalog metric: {t, value} points, keyed per container.
            let containers = try await client.execute(uri: "/api/metrics/containers?namespace=core&metric=memory/working_set", method: .get, headers: headers(admin)) { response in
                try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            }
            let points = try #require((containers?["series"] as? [String: [[String: Any]]])?["core/billing/main"])
            #expect(points.first?["value"] as? Double == 400)
            // An unknown metric names the catalog.
            let unknown = try await client.execute(uri: "/api/metrics/pods?metric=cpu/usage_ratio", method: .get, headers: headers(admin)) { String(buffer: $0.body) }
            #expect(unknown.contains("cpu/usage_rate") && unknown.contains("memory/working_set"), "\(unknown)")
            #expect(UnixTimeCheck.isRFC3339(series["core/billing"]?.first?["t"] as? String))
        }
    }

    /// The OpenAPI document lists exactly the routes the router serves, for a full server
    /// and for one without an API server (as `clustermon dev`) or without a history.
    @Test func openAPIMatchesTheRouter() async throws {
        let fixture = try LiveFixture()
        var withoutCluster = fixture.configuration()
        withoutCluster.cluster = nil
        var withoutHistory = fixture.configuration()
        withoutHistory.history = nil
        for configuration in [fixture.configuration(), withoutCluster, withoutHistory] {
            let router = buildRouter(configuration)
            // Kube-App's catch-all (`/api/**`: every metric, and 400 for other methods) and its
            // `/api` redirect are documented as one path per metric.
            let served = Set(router.routes.filter { !$0.path.description.contains("**") && $0.path.description != "/api" }.map { route in
                "\(route.method.rawValue.lowercased()) " + route.path.description.replacingOccurrences(of: ":", with: "")
            })
            let features = configuration.features
            let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPI.document(features: features))) as? [String: Any])
            #expect(document["openapi"] as? String == "3.0.3")
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            let documented = Set(paths.flatMap { path, methods in
                methods.filter { ($0.value as? [String: Any])?["x-auth"] as? String != "kubeApp" }.keys
                    .map { "\($0) " + path.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "") }
            })
            // Every documented Kube-App path is one metric the API knows, and every metric is there.
            let kubeApp = paths.filter { ($0.value["post"] as? [String: Any])?["x-auth"] as? String == "kubeApp" }.keys
            #expect(Set(kubeApp) == (features.contains(.history) ? Set(KubeApp.metrics.map { "/api/\($0)" }) : []))
            let servedNormalized = Set(served.map { $0.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "") })
            #expect(servedNormalized.subtracting(documented).isEmpty, "served but not documented: \(servedNormalized.subtracting(documented).sorted())")
            #expect(documented.subtracting(servedNormalized).isEmpty, "documented but not served: \(documented.subtracting(servedNormalized).sorted())")
            let app = Application(router: router)
            try await app.test(.router) { client in
                let body = try await client.execute(uri: "/openapi.json", method: .get) { $0.body }
                #expect(Array(buffer: body) == OpenAPI.document(features: features))
            }
        }
        #expect(withoutCluster.features == [.core, .live, .graph, .history, .metricsAPI])
    }

    /// A served path asked with a method it does not serve: 405 with `Allow` (JSON body);
    /// Kube-App's paths keep Kube-App's 400; unknown paths stay 404.
    @Test func wrongMethodsAre405WithAllow() async throws {
        let fixture = try LiveFixture()
        let app = Application(router: buildRouter(fixture.configuration()))
        try await app.test(.router) { client in
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.delete, "/cluster-info", "GET"), (.post, "/healthz", "GET, HEAD"), (.put, "/api/v2/allocation", "GET, POST"),
                (.patch, "/api/metrics/nodes/n1", "GET"), (.head, "/pod-metrics", "GET"), (.post, "/api/healthz/ns/deployment/web", "GET, HEAD"),
            ]
            for (method, path, allow) in cases {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                    #expect(response.headers[.allow] == allow, "\(method) \(path)")
                    #expect(response.headers[.contentType] == "application/json")
                    if method != .head { #expect(String(buffer: response.body).contains("allowed: \(allow)")) }
                }
            }
            try await client.execute(uri: "/api/cpu/usage", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body) == #"{"code":400,"message":"Bad request"}"#)
            }
            try await client.execute(uri: "/no/such/path", method: .delete) { #expect($0.status == .notFound) }
            // A WebSocket path without an upgrade.
            try await client.execute(uri: "/ws/cluster-info", method: .get) { response in
                #expect(response.status == .upgradeRequired)
                #expect(response.headers[.upgrade] == "websocket")
                #expect(response.headers[.contentType] == "application/json")
            }
        }
    }

    /// SSE and WebSocket over real sockets: snapshot on connect, a frame per refresh,
    /// keep-alive comments.
    @Test func streamsOverRealSockets() async throws {
        let fixture = try LiveFixture()
        try await fixture.refresh()
        let admin = try #require(try Caller.admin.token())
        let app = Application(router: buildRouter(fixture.configuration(keepAlive: .milliseconds(200))),
                              server: .http1WebSocketUpgrade(webSocketRouter: buildRouter(fixture.configuration(keepAlive: .milliseconds(200)))),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/sse/pod-metrics?token=\(admin)")
            request.method = .GET
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type") == "text/event-stream")
            let text = try await withTimeout(.seconds(20), "SSE frames") {
                var text = ""
                var refreshed = false
                for try await chunk in response.body {
                    text += String(buffer: chunk)
                    if !refreshed, text.contains("data: [") {
                        // The snapshot came; a new pod appears with the next refresh.
                        fixture.state.ingest(TestBatches.batch(node: "n1", sequence: 2, collectedAt: Int64(Date().timeIntervalSince1970) + 1,
                                                               pods: [.init("core", "fresh-pod")]), receivedAt: Date().timeIntervalSince1970)
                        fixture.refresher.refresh(tick: 1)
                        refreshed = true
                    }
                    if text.contains("fresh-pod"), text.contains(": keep-alive\n\n") { break }
                }
                return text
            }
            #expect(text.hasPrefix("data: ["))
            #expect(text.contains("fresh-pod"))
            #expect(text.contains(": keep-alive\n\n"))

            // WebSocket: the current view first, then the next refresh.
            let frames = FrameLog()
            try await client.ws("/ws/pod-metrics?token=\(admin)") { inbound, outbound, _ in
                var iterator = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                if case .text(let first) = try await iterator.next() { frames.add(first) }
                fixture.state.ingest(TestBatches.batch(node: "n1", sequence: 3, collectedAt: Int64(Date().timeIntervalSince1970) + 2,
                                                       pods: [.init("core", "ws-pod")]), receivedAt: Date().timeIntervalSince1970)
                fixture.refresher.refresh(tick: 2)
                if case .text(let second) = try await iterator.next() { frames.add(second) }
                try await outbound.close(.normalClosure, reason: nil)
            }
            let received = frames.all
            #expect(received.count == 2)
            #expect(received.first?.contains("fresh-pod") == true)
            #expect(received.last?.contains("ws-pod") == true)
            // Unauthenticated upgrades are refused before upgrading.
            await #expect(throws: (any Error).self) {
                try await client.ws("/ws/cluster-info") { _, _, _ in }
            }
        }
    }
}

final class FrameLog: Sendable {
    private let frames = Mutex<[String]>([])
    func add(_ frame: String) { frames.withLock { $0.append(frame) } }
    var all: [String] { frames.withLock { $0 } }
}

enum UnixTimeCheck {
    static func isRFC3339(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"#, options: .regularExpression) != nil
    }
}

import Synchronization
