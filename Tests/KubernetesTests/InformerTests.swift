import Foundation
import Logging
import Messaging
import Testing
import TestSupport
@testable import Kubernetes

private let logger = Logger(label: "test.informer")

func podJSON(_ name: String, namespace: String = "default", node: String = "node-a", labels: [String: String] = [:], created: String = "2026-01-13T18:40:14Z") -> String {
    let labelJSON = labels.map { #""\#($0.key)":"\#($0.value)""# }.joined(separator: ",")
    return #"{"metadata":{"name":"\#(name)","namespace":"\#(namespace)","uid":"uid-\#(name)","creationTimestamp":"\#(created)","labels":{\#(labelJSON)},"managedFields":[{"manager":"kubectl","operation":"Update"}]},"spec":{"nodeName":"\#(node)","containers":[{"name":"c","image":"nginx"}]},"status":{"phase":"Running","podIP":"10.0.0.1"}}"#
}

/// Runs an informer against the fake API server (real TLS, bearer token) for `body`.
func withInformer<T: Sendable>(
    _ server: FakeAPIServer,
    configuration: InformerConfiguration = .init(),
    token: String? = nil,
    _ body: @Sendable (Informer<Pod>) async throws -> T
) async throws -> T {
    try await withInformer(server, of: Pod.self, configuration: configuration, token: token, body)
}

func withInformer<Object: KubernetesResource, T: Sendable>(
    _ server: FakeAPIServer,
    of type: Object.Type,
    configuration: InformerConfiguration = .init(),
    token: String? = nil,
    _ body: @Sendable (Informer<Object>) async throws -> T
) async throws -> T {
    try await withLocalServer(server.router(), tls: true) { endpoint in
        let client = try APIClient(config: APIServerConfig(
            server: endpoint.baseURL, token: .value(token ?? server.token), tls: ClientTLS(caFile: try TestCertificates.get().caCertificate)))
        let informer = Informer<Object>(client: client, configuration: configuration, logger: logger)
        let result: T
        do {
            result = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await informer.run(); return nil }
                let result = try await body(informer)
                group.cancelAll()
                server.dropWatches()  // so that the server does not wait for open streams
                return result
            }
        } catch {
            // A failed test shuts its client down too: an HTTPClient released without it
            // stops the whole test process (AsyncHTTPClient's deinit check).
            server.dropWatches()
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }
}

/// Waits until the cache satisfies `condition`.
func eventually(_ informer: Informer<Pod>, _ what: String, _ condition: @escaping @Sendable (Informer<Pod>) -> Bool) async throws {
    // A bound, not a pace: a loaded CI machine once took longer than 15 s.
    try await withTimeout(.seconds(60), what) {
        for await _ in informer.revision.updates() where condition(informer) { return }
    }
}

@Suite("Informer against a fake API server", .serialized)
struct InformerTests {
    @Test func initialListAcrossPagesThenWatch() async throws {
        let server = FakeAPIServer()
        for i in 0..<25 { server.upsert(.pods, podJSON("pod-\(i)")) }
        var configuration = InformerConfiguration()
        configuration.pageSize = 10
        try await withInformer(server, configuration: configuration) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            #expect(informer.count == 25)
            #expect(informer.resourceVersion == server.resourceVersion)
            let lists = server.requests.filter { $0.hasPrefix("LIST") }
            #expect(lists.count == 3)
            #expect(lists.dropFirst().allSatisfy { !$0.hasSuffix("continue=") })
            // Raw objects are kept as sent, less kind/apiVersion/managedFields.
            let raw = String(decoding: try #require(informer.get(namespace: "default", name: "pod-3")).raw.bytes(), as: UTF8.self)
            #expect(raw.contains(#""nodeName":"node-a""#))
            #expect(!raw.contains("managedFields"))
            #expect(!raw.contains(#""kind""#))
        }
    }

    @Test func addedModifiedDeletedAreApplied() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        try await withInformer(server) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            server.upsert(.pods, podJSON("b"))
            try await eventually(informer, "b added") { $0.get(namespace: "default", name: "b") != nil }
            server.upsert(.pods, podJSON("a", labels: ["app": "web"]))
            try await eventually(informer, "a modified") { $0.get(namespace: "default", name: "a")?.object.metadata.labels["app"] == "web" }
            server.delete(.pods, namespace: "default", name: "b")
            try await eventually(informer, "b deleted") { $0.get(namespace: "default", name: "b") == nil }
            #expect(informer.count == 1)
            #expect(informer.resourceVersion == server.resourceVersion)
        }
    }

    /// Readers that keep something per object (the graph's resolution index) learn which
    /// keys changed since a count: every added, modified and deleted object in order; a
    /// reader further behind than the log, or behind a new list, is told to read it all.
    @Test func changesSinceACountNameTheChangedKeys() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        var configuration = InformerConfiguration()
        configuration.changeLogLimit = 4
        try await withInformer(server, configuration: configuration) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            let listed = informer.changeCount
            #expect(informer.changes(since: listed)?.keys == [])
            #expect(informer.changes(since: listed - 1) == nil, "the list replaced the cache: nothing before it is known")
            server.upsert(.pods, podJSON("b"))
            server.upsert(.pods, podJSON("a", labels: ["app": "web"]))
            server.delete(.pods, namespace: "default", name: "b")
            try await eventually(informer, "b deleted") { $0.get(namespace: "default", name: "b") == nil && $0.changeCount == listed + 3 }
            let changes = try #require(informer.changes(since: listed))
            #expect(changes.revision == listed + 3)
            #expect(changes.keys == [ObjectKey("default", "b"), ObjectKey("default", "a"), ObjectKey("default", "b")])
            #expect(informer.changes(since: listed + 2)?.keys == [ObjectKey("default", "b")])
            #expect(informer.changes(since: listed + 4) == nil, "a count not reached yet")
            // A fifth change overflows the log of four: its older half goes.
            server.upsert(.pods, podJSON("c"))
            server.upsert(.pods, podJSON("d"))
            try await eventually(informer, "d added") { $0.changeCount == listed + 5 }
            #expect(informer.changes(since: listed) == nil, "too far behind: read the whole cache")
            #expect(informer.changes(since: listed + 3)?.keys == [ObjectKey("default", "c"), ObjectKey("default", "d")])
        }
    }

    @Test func bookmarkAdvancesTheResourceVersion() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        try await withInformer(server) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            let before = informer.resourceVersion
            server.bookmark(.pods)
            try await withTimeout(.seconds(15), "bookmark applied") { while informer.resourceVersion == before { await Task.yield() } }
            #expect(informer.resourceVersion == server.resourceVersion)
        }
    }

    @Test func inBandExpiredRelistsAndTheCacheEndsCorrect() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        server.upsert(.pods, podJSON("b"))
        try await withInformer(server) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            let before = informer.changeCount
            // History is compacted: changes made meanwhile can only be learnt by listing.
            server.dropWatches()
            server.delete(.pods, namespace: "default", name: "a", stream: false)
            server.upsert(.pods, podJSON("c"))
            server.compact()
            try await eventually(informer, "relisted") { $0.get(namespace: "default", name: "c") != nil && $0.get(namespace: "default", name: "a") == nil }
            #expect(informer.count == 2)
            #expect(server.requests.filter { $0.hasPrefix("LIST") }.count >= 2)
            // The list logged what it changed (a gone, c new; b the same): readers of the
            // change log go on without reading every object.
            let changes = try #require(informer.changes(since: before), "a re-list that changed little keeps the log")
            #expect(Set(changes.keys) == [ObjectKey("default", "a"), ObjectKey("default", "c")])
        }
    }

    @Test func droppedConnectionReconnectsFromTheLastResourceVersion() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        try await withInformer(server) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            server.dropWatches()
            server.upsert(.pods, podJSON("b"))  // made while no watch is open: replayed from history
            try await eventually(informer, "b after reconnect") { $0.get(namespace: "default", name: "b") != nil }
            #expect(server.requests.filter { $0.hasPrefix("LIST") }.count == 1, "a reconnect re-watches, it does not re-list")
            #expect(server.requests.filter { $0.hasPrefix("WATCH") }.count >= 2)
        }
    }

    @Test func missedDeleteIsRepairedByVerification() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        server.upsert(.pods, podJSON("ghost"))
        var configuration = InformerConfiguration()
        configuration.verifyInterval = .seconds(1)
        try await withInformer(server, configuration: configuration) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            server.delete(.pods, namespace: "default", name: "ghost", stream: false)
            try await eventually(informer, "ghost removed by re-list") { $0.get(namespace: "default", name: "ghost") == nil }
            #expect(informer.get(namespace: "default", name: "a") != nil)
        }
    }

    @Test func serverErrorsAndGarbageNeitherCrashNorEmptyTheCache() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        var configuration = InformerConfiguration()
        configuration.initialBackoff = .milliseconds(50)
        try await withInformer(server, configuration: configuration) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            try await withTimeout(.seconds(15), "watching") { while server.openWatches == 0 { await Task.yield() } }
            server.sendGarbage(.pods)
            server.failNextRequests(3)
            server.dropWatches()
            #expect(informer.count == 1)
            server.upsert(.pods, podJSON("b"))
            try await eventually(informer, "b after the 500s") { $0.get(namespace: "default", name: "b") != nil }
            #expect(informer.get(namespace: "default", name: "a") != nil)
        }
    }

    @Test func expiredContinueTokenListsFromTheStart() async throws {
        let server = FakeAPIServer()
        for i in 0..<5 { server.upsert(.pods, podJSON("p\(i)")) }
        server.expireNextContinueTokens(1)
        var configuration = InformerConfiguration()
        configuration.pageSize = 2
        try await withInformer(server, configuration: configuration) { informer in
            try await withTimeout(.seconds(15), "synced") { await informer.synced.wait { $0 } }
            #expect(informer.count == 5)
            let lists = server.requests.filter { $0.hasPrefix("LIST") }
            #expect(lists.filter { $0.hasSuffix("continue=") }.count == 2, "the list started over once: \(lists)")
        }
    }

    @Test func wrongTokenNeverSyncs() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        var configuration = InformerConfiguration()
        configuration.initialBackoff = .milliseconds(50)
        try await withInformer(server, configuration: configuration, token: "wrong") { informer in
            try await withTimeout(.seconds(15), "two attempts") { while server.requests.count < 2 { await Task.yield() } }
            #expect(!informer.synced.value)
            #expect(informer.count == 0)
        }
    }
}

@Suite("Cluster object decoders")
struct ClusterObjectTests {
    func decode<T: KubernetesResource>(_ type: T.Type, _ fixture: String) throws -> T {
        try JSONScanner.decode(Fixtures.bytes("k8s-api/\(fixture)")) { try T.decode(&$0) }
    }

    @Test func everyFieldFilledFixturesDecode() throws {
        let node = try decode(Node.self, "k8sapi-testdata-HEAD_core.v1.Node.json")
        #expect(node.metadata.name == "nameValue")
        #expect(node.conditions.first?.type == "typeValue")
        #expect(node.addresses.first?.address == "addressValue")
        let service = try decode(KubernetesService.self, "k8sapi-testdata-HEAD_core.v1.Service.json")
        #expect(service.clusterIP == "clusterIPValue")
        #expect(service.ports.first?.port == 3)
        #expect(service.ports.first?.targetPort == .string("targetPortValue"))
        #expect(service.selector == ["selectorKey": "selectorValue"])
        let slice = try decode(EndpointSlice.self, "k8sapi-testdata-HEAD_discovery.k8s.io.v1.EndpointSlice.json")
        #expect(slice.endpoints.first?.addresses == ["addressesValue"])
        #expect(slice.endpoints.first?.targetRef?.name == "nameValue")
        #expect(slice.endpoints.first?.ready == true)
        #expect(slice.ports.first?.port == 3)
    }

    @Test func watchEventsOfEveryType() throws {
        let added = try WatchEvent<Pod>.decode(Array(#"{"object":\#(podJSON("x")),"type":"ADDED"}"#.utf8))
        #expect(added.kind == .added && added.object?.name == "x")
        let bookmark = try WatchEvent<Pod>.decode(Array(#"{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12345"},"spec":null,"status":null}}"#.utf8))
        #expect(bookmark.kind == .bookmark && bookmark.resourceVersion == "12345")
        let expired = try WatchEvent<Pod>.decode(Array(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (3171407)","reason":"Expired","code":410}}"#.utf8))
        #expect(expired.status?.code == 410 && expired.status?.reason == "Expired")
        #expect(throws: JSONError.self) { try WatchEvent<Pod>.decode(Array(#"{"type":"SOMETHING","object":{}}"#.utf8)) }
    }

    @Test func inClusterConfiguration() throws {
        let config = try APIServerConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"])
        #expect(config.server == "https://10.96.0.1:443")
        #expect(config.token == .file("/var/run/secrets/kubernetes.io/serviceaccount/token"))
        #expect(throws: APIConfigError.self) { try APIServerConfig.inCluster(environment: [:]) }
    }
}
