import Aggregator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Kubernetes
import Prometheus
import Synchronization
import Testing
@testable import API

/// A cluster cache made of objects given as JSON, decoded the way the informers decode.
final class StaticClusterView: ClusterView {
    var objects: [ResourceKind: [CachedResource]] = [:]
    var namespaces: [String: [String: String]] = [:]
    var deployments: [String: Deployment] = [:]
    var synced = true

    func add(_ kind: ResourceKind, _ json: String) throws {
        let raw = try RawObject.stripped(Array(json.utf8))
        let meta = try JSONScanner.decode(raw) { s -> (ObjectMeta, String) in
            var meta = ObjectMeta()
            var node = ""
            try s.forEachMember { s, key in
                if key == "metadata" { meta = try ObjectMeta.decode(&s) }
                else if key == "spec" { try s.forEachMember { s, key in if key == "nodeName" { node = try s.string() } } }
            }
            return (meta, node)
        }
        objects[kind, default: []].append(CachedResource(namespace: meta.0.namespace, name: meta.0.name, labels: meta.0.labels, nodeName: meta.1, raw: StoredJSON(raw)))
        if kind == .namespaces { namespaces[meta.0.name] = meta.0.labels }
        if kind == .deployments { deployments["\(meta.0.namespace)/\(meta.0.name)"] = try JSONScanner.decode(raw) { try Deployment.decode(&$0) } }
    }

    func resources(_ kind: ResourceKind) -> [CachedResource]? { objects[kind] ?? [] }
    func namespaceLabels(_ name: String) -> [String: String]? { namespaces[name] }
    func namespaceOwners(label: String) -> Set<String> { Set(namespaces.values.compactMap { $0[label] }) }
    func deployment(namespace: String, name: String) -> Deployment? { deployments["\(namespace)/\(name)"] }
    var isSynced: Bool { synced }
}

/// The heartbeat's clock, set by the test.
final class TestClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Int64) { seconds = Mutex(start) }
    var now: Int64 { seconds.withLock { $0 } }
    func set(_ value: Int64) { seconds.withLock { $0 = value } }
}

extension StaticClusterView: @unchecked Sendable {}

private let secret = "a-secret-of-32-bytes-or-more-1234"
private let verifier = JWTVerifier(secret: secret)
private func bearer(_ userID: String, admin: Bool = false) throws -> HTTPFields {
    [.authorization: "Bearer \(try verifier.sign(userID: userID, isAdmin: admin, ttl: .seconds(600)))"]
}

private func pod(_ name: String, _ namespace: String, node: String = "n1", app: String = "web") -> String {
    #"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"\#(name)","namespace":"\#(namespace)","labels":{"app":"\#(app)"},"managedFields":[{"manager":"x"}]},"spec":{"nodeName":"\#(node)"},"status":{"phase":"Running"}}"#
}

private func cluster() throws -> StaticClusterView {
    let view = StaticClusterView()
    try view.add(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
    try view.add(.namespaces, #"{"metadata":{"name":"compute-u1-x-web","labels":{"clustermon.io/owner":"u1-x"}}}"#)
    try view.add(.namespaces, #"{"metadata":{"name":"kube-system"}}"#)
    try view.add(.pods, pod("b", "compute-u1-web"))
    try view.add(.pods, pod("a", "compute-u1-web", node: "n2", app: "db"))
    try view.add(.pods, pod("x", "compute-u1-x-web"))
    try view.add(.pods, pod("coredns", "kube-system"))
    try view.add(.nodes, #"{"metadata":{"name":"n1"}}"#)
    try view.add(.deployments, #"{"metadata":{"name":"up","namespace":"shop","generation":2},"spec":{"replicas":2},"status":{"readyReplicas":2,"availableReplicas":2,"conditions":[{"type":"Available","status":"True"}]}}"#)
    try view.add(.deployments, #"{"metadata":{"name":"down","namespace":"shop"},"spec":{"replicas":2},"status":{"readyReplicas":0,"conditions":[{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable","message":"Deployment does not have minimum availability."}]}}"#)
    return view
}

private func application(_ view: StaticClusterView, rateLimit: Int = 3600, clock: TestClock? = nil) -> some ApplicationProtocol {
    let configuration = APIConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(),
                                         cluster: view, jwtSecret: secret, heartbeatToken: "beat-token", heartbeatRateLimit: rateLimit)
    let router = buildRouter(configuration)
    if let clock {
        // A second router whose heartbeat uses the test's clock.
        let testRouter = Router(context: APIContext.self)
        let heartbeat = HeartbeatController(cluster: view, token: "beat-token", limiter: FixedWindowRateLimiter(limit: rateLimit, period: .seconds(3600)),
                                            now: { clock.now })
        heartbeat.addRoutes(to: testRouter)
        HealthController(checks: [], heartbeat: heartbeat).addRoutes(to: testRouter)
        return Application(router: testRouter)
    }
    return Application(router: router)
}

/// The names of `{"items":[...]}`, or `["<not a list: ...>"]` so that a mismatch shows the body.
private func names(_ body: ByteBuffer) -> [String] {
    guard let json = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
          let items = json["items"] as? [[String: Any]] else { return ["<not a list: \(String(buffer: body))>"] }
    return items.map { ($0["metadata"] as? [String: Any])?["name"] as? String ?? "?" }
}

@Suite("Resource cache API")
struct ResourceAPITests {
    @Test func adminSeesEverythingSortedWithoutKindOrManagedFields() async throws {
        try await application(try cluster()).test(.router) { client in
            try await client.execute(uri: "/api/resources/pods", method: .get, headers: try bearer("root", admin: true)) { response in
                #expect(response.status == .ok)
                #expect(names(response.body) == ["a", "b", "x", "coredns"])
                let text = String(buffer: response.body)
                #expect(!text.contains("managedFields") && !text.contains(#""kind""#))
            }
            // The Resource Monitor's root paths answer the same.
            try await client.execute(uri: "/pods?namespace=kube-system", method: .get, headers: try bearer("root", admin: true)) { response in
                #expect(names(response.body) == ["coredns"])
            }
        }
    }

    @Test func filters() async throws {
        try await application(try cluster()).test(.router) { client in
            let admin = try bearer("root", admin: true)
            try await client.execute(uri: "/api/resources/pods?node=n2", method: .get, headers: admin) { #expect(names($0.body) == ["a"]) }
            try await client.execute(uri: "/api/resources/pods?label_selector=app%3Dweb,app!%3Ddb", method: .get, headers: admin) {
                #expect(names($0.body) == ["b", "x", "coredns"])
            }
            // Set-based, its spaces percent-encoded or form-encoded (`+`), as clients send them.
            for query in ["app%20in%20(web,%20api),app%20notin%20(db)", "app+in+(web,+api),app+notin+(db)"] {
                try await client.execute(uri: "/api/resources/pods?label_selector=\(query)", method: .get, headers: admin) {
                    #expect($0.status == .ok)
                    #expect(names($0.body) == ["b", "x", "coredns"], "\(query)")
                }
            }
            try await client.execute(uri: "/api/resources/pods?name=x&namespace=compute-u1-x-web", method: .get, headers: admin) { #expect(names($0.body) == ["x"]) }
            try await client.execute(uri: "/api/resources/pods?name=nothing", method: .get, headers: admin) { response in
                #expect(String(buffer: response.body) == #"{"items":[]}"#)
            }
        }
    }

    @Test func badRequests() async throws {
        try await application(try cluster()).test(.router) { client in
            let admin = try bearer("root", admin: true)
            try await client.execute(uri: "/api/resources/pods?colour=red", method: .get, headers: admin) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains(#"unknown parameter \"colour\""#))
            }
            try await client.execute(uri: "/api/resources/services?node=n1", method: .get, headers: admin) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/resources/pods?label_selector=a%20b", method: .get, headers: admin) { #expect($0.status == .badRequest) }
        }
    }

    @Test func authAndTenants() async throws {
        try await application(try cluster()).test(.router) { client in
            try await client.execute(uri: "/api/resources/pods", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/resources/pods", method: .get, headers: [.authorization: "Bearer garbage"]) { #expect($0.status == .unauthorized) }
            // A user sees only their namespaces, also with a user id that prefixes another's.
            try await client.execute(uri: "/api/resources/pods", method: .get, headers: try bearer("u1")) { #expect(names($0.body) == ["a", "b"]) }
            try await client.execute(uri: "/api/resources/pods", method: .get, headers: try bearer("u1-x")) { #expect(names($0.body) == ["x"]) }
            try await client.execute(uri: "/api/resources/pods?namespace=compute-u1-x-web", method: .get, headers: try bearer("u1")) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/resources/pods?namespace=kube-system", method: .get, headers: try bearer("u1")) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/resources/nodes", method: .get, headers: try bearer("u1")) { #expect($0.status == .forbidden) }
            // The token may come as a query parameter too.
            let token = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
            try await client.execute(uri: "/api/resources/pods?token=\(token)", method: .get) { #expect(names($0.body) == ["a", "b"]) }
        }
    }
}

@Suite("Deployment heartbeat")
struct HeartbeatTests {
    @Test func statusCodesAndBodies() async throws {
        try await application(try cluster()).test(.router) { client in
            let basic: HTTPFields = [.authorization: "Basic beat-token"]
            try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get, headers: basic) { response in
                #expect(response.status == .ok)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/api/healthz/shop/deployment/down", method: .get, headers: basic) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("Deployment does not have minimum availability."))
            }
            try await client.execute(uri: "/api/healthz/shop/deployment/down", method: .head, headers: basic) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.body.readableBytes == 0)
            }
            try await client.execute(uri: "/api/healthz/shop/deployment/missing?token=beat-token", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Basic")
            }
            try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get, headers: [.authorization: "Basic wrong"]) { #expect($0.status == .forbidden) }
        }
    }

    @Test func healthzIsLivenessWithoutATokenAndTheAPIServerCheckWithOne() async throws {
        let view = try cluster()
        try await application(view).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "ok")
            }
            try await client.execute(uri: "/healthz", method: .get, headers: [.authorization: "Basic wrong"]) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/healthz?token=beat-token", method: .head) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-RateLimit-Limit")!] == "3600")
            }
        }
        view.synced = false
        try await application(view).test(.router) { client in
            try await client.execute(uri: "/healthz?token=beat-token", method: .get) { #expect($0.status == .serviceUnavailable) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func notSyncedIsUnavailableNotMissing() async throws {
        let view = try cluster()
        view.synced = false
        try await application(view).test(.router) { client in
            try await client.execute(uri: "/api/healthz/shop/deployment/up?token=beat-token", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }

    @Test func fixedWindowRateLimitWithHeadersAndReset() async throws {
        let clock = TestClock(1_000)
        try await application(try cluster(), rateLimit: 2, clock: clock).test(.router) { client in
            let basic: HTTPFields = [.authorization: "Basic beat-token"]
            for remaining in [1, 0] {
                try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get, headers: basic) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[HTTPField.Name("X-RateLimit-Limit")!] == "2")
                    #expect(response.headers[HTTPField.Name("X-RateLimit-Remaining")!] == String(remaining))
                    #expect(response.headers[HTTPField.Name("X-RateLimit-Reset")!] == "4600")
                }
            }
            try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get, headers: basic) { #expect($0.status == .tooManyRequests) }
            clock.set(4_600)
            try await client.execute(uri: "/api/healthz/shop/deployment/up", method: .get, headers: basic) { response in
                #expect(response.status == .ok)
                #expect(response.headers[HTTPField.Name("X-RateLimit-Remaining")!] == "1")
            }
            try await client.execute(uri: "/healthz", method: .get, headers: basic) { #expect($0.status == .ok) }
        }
    }
}
