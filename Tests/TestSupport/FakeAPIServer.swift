import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import Synchronization

/// An API server for tests that speaks the real wire: `{"kind":"XList","metadata":
/// {"resourceVersion","continue"},"items":[...]}` lists paginated with `limit`/`continue`
/// (HTTP 410 for an expired continue), chunked watch streams of one JSON event per line
/// (history replayed from the requested resourceVersion, bookmarks, in-band `410 Expired`),
/// bearer-token checks, and switchable failures (500s, garbage lines, dropped streams,
/// deletions never streamed). Objects come from fixtures or from the tests.
public final class FakeAPIServer: Sendable {
    public struct Kind: Sendable {
        public var plural: String
        public var kind: String
        public var apiVersion: String
        public var path: String
        public init(plural: String, kind: String, apiVersion: String, path: String) {
            self.plural = plural
            self.kind = kind
            self.apiVersion = apiVersion
            self.path = path
        }
        public static let pods = Kind(plural: "pods", kind: "Pod", apiVersion: "v1", path: "/api/v1/pods")
        public static let nodes = Kind(plural: "nodes", kind: "Node", apiVersion: "v1", path: "/api/v1/nodes")
        public static let services = Kind(plural: "services", kind: "Service", apiVersion: "v1", path: "/api/v1/services")
        public static let deployments = Kind(plural: "deployments", kind: "Deployment", apiVersion: "apps/v1", path: "/apis/apps/v1/deployments")
        public static let namespaces = Kind(plural: "namespaces", kind: "Namespace", apiVersion: "v1", path: "/api/v1/namespaces")
        public static let endpointSlices = Kind(plural: "endpointslices", kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", path: "/apis/discovery.k8s.io/v1/endpointslices")
        public static let replicaSets = Kind(plural: "replicasets", kind: "ReplicaSet", apiVersion: "apps/v1", path: "/apis/apps/v1/replicasets")
        public static let persistentVolumeClaims = Kind(plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", apiVersion: "v1", path: "/api/v1/persistentvolumeclaims")
        public static let ingresses = Kind(plural: "ingresses", kind: "Ingress", apiVersion: "networking.k8s.io/v1", path: "/apis/networking.k8s.io/v1/ingresses")
        /// Every kind the aggregator watches.
        public static let all: [Kind] = [.pods, .nodes, .services, .endpointSlices, .deployments, .replicaSets, .namespaces, .persistentVolumeClaims, .ingresses]
    }

    struct Stored { var version: UInt64; var object: [String: Any] }
    struct Event { var version: UInt64; var type: String; var object: [String: Any] }
    struct Watcher { var plural: String; var continuation: AsyncStream<ByteBuffer>.Continuation }

    struct State: @unchecked Sendable {
        var version: UInt64 = 1000
        var objects: [String: [String: Stored]] = [:]
        var history: [String: [Event]] = [:]
        var watchers: [Int: Watcher] = [:]
        var nextWatcher = 0
        /// Watches from a resourceVersion below this get an in-band 410.
        var oldestWatchable: UInt64 = 0
        var expireContinueTokens = 0
        var failNext = 0
        /// Every list or watch answered with this status until reset (nil: served).
        var failLists: Int?
        var failWatches: Int?
        var requests: [String] = []
        /// SubjectAccessReviews: who may do what (nil: everything is denied), and what was asked.
        var policy: (@Sendable (_ user: String, _ groups: [String], _ attributes: [String: String]) -> Bool)?
        var reviews: [String] = []
        /// `kube-system/extension-apiserver-authentication`'s data (nil: not found).
        var extensionAuthentication: [String: String]?
    }

    public let token: String
    public let kinds: [Kind]
    private let state = Mutex(State())

    public init(kinds: [Kind] = Kind.all, token: String = "api-test-token") {
        self.kinds = kinds
        self.token = token
    }

    // MARK: What tests do to the cluster

    public var resourceVersion: String { state.withLock { String($0.version) } }

    /// Every request so far: `LIST pods continue=...`, `WATCH pods rv=...`.
    public var requests: [String] { state.withLock { $0.requests } }

    /// Creates or replaces an object (JSON without kind/apiVersion is fine) and streams it.
    public func upsert(_ kind: Kind, _ json: String) {
        var object = try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let key = Self.key(metadata)
        state.withLock { state in
            state.version += 1
            var meta = metadata
            meta["resourceVersion"] = String(state.version)
            object["metadata"] = meta
            let existed = state.objects[kind.plural]?[key] != nil
            state.objects[kind.plural, default: [:]][key] = Stored(version: state.version, object: object)
            Self.emit(&state, kind, Event(version: state.version, type: existed ? "MODIFIED" : "ADDED", object: object))
        }
    }

    /// Deletes an object; with `stream: false` the DELETED event is never sent (a missed
    /// event that only a re-list can repair).
    public func delete(_ kind: Kind, namespace: String = "", name: String, stream: Bool = true) {
        state.withLock { state in
            let key = namespace.isEmpty ? name : "\(namespace)/\(name)"
            guard let stored = state.objects[kind.plural]?.removeValue(forKey: key) else { return }
            state.version += 1
            var object = stored.object
            var meta = object["metadata"] as? [String: Any] ?? [:]
            meta["resourceVersion"] = String(state.version)
            object["metadata"] = meta
            if stream { Self.emit(&state, kind, Event(version: state.version, type: "DELETED", object: object)) }
        }
    }

    /// Sends a BOOKMARK with the current resourceVersion to every watcher of `kind`.
    public func bookmark(_ kind: Kind) {
        state.withLock { state in
            state.version += 1
            let object: [String: Any] = ["kind": kind.kind, "apiVersion": kind.apiVersion, "metadata": ["resourceVersion": String(state.version)], "spec": NSNull(), "status": NSNull()]
            Self.broadcast(&state, kind.plural, Self.line(["type": "BOOKMARK", "object": object]))
        }
    }

    /// Compacts history: watchers get an in-band `410 Expired` and their streams end; a watch
    /// from any older resourceVersion gets the same.
    public func compact() {
        // Finishing a stream runs its termination handler, which takes the lock: do it outside.
        let closing = state.withLock { state -> [Watcher] in
            state.oldestWatchable = state.version + 1
            state.history = [:]
            let error = Self.line(["type": "ERROR", "object": Self.expiredStatus(state.version)])
            for watcher in state.watchers.values { watcher.continuation.yield(error) }
            defer { state.watchers = [:] }
            return Array(state.watchers.values)
        }
        closing.forEach { $0.continuation.finish() }
    }

    /// Ends every open watch stream (a dropped connection).
    public func dropWatches() {
        let closing = state.withLock { state -> [Watcher] in
            defer { state.watchers = [:] }
            return Array(state.watchers.values)
        }
        closing.forEach { $0.continuation.finish() }
    }

    /// Writes a line that is not JSON to every watcher.
    public func sendGarbage(_ kind: Kind) {
        state.withLock { Self.broadcast(&$0, kind.plural, ByteBuffer(string: "this is not json {{{\n")) }
    }

    /// The next `n` requests answer 500.
    public func failNextRequests(_ n: Int) { state.withLock { $0.failNext = n } }
    /// Answers every list and/or every watch with `status` (500: etcd timing out; 410: a
    /// resourceVersion too old) until called again with nil.
    public func fail(lists: Int?, watches: Int?) { state.withLock { $0.failLists = lists; $0.failWatches = watches } }
    /// Lists and watches asked so far, each counted once.
    public var listCount: Int { state.withLock { $0.requests.filter { $0.hasPrefix("LIST") }.count } }
    public var watchCount: Int { state.withLock { $0.requests.filter { $0.hasPrefix("WATCH") }.count } }

    /// The next `n` list requests that carry a continue token answer 410.
    public func expireNextContinueTokens(_ n: Int) { state.withLock { $0.expireContinueTokens = n } }

    public var openWatches: Int { state.withLock { $0.watchers.count } }

    /// Answers SubjectAccessReviews with `policy(user, groups, resourceAttributes or
    /// nonResourceAttributes)`.
    public func authorize(_ policy: @escaping @Sendable (_ user: String, _ groups: [String], _ attributes: [String: String]) -> Bool) {
        state.withLock { $0.policy = policy }
    }

    /// The SubjectAccessReviews received, as JSON texts.
    public var reviews: [String] { state.withLock { $0.reviews } }

    /// Serves `kube-system/extension-apiserver-authentication` with this data.
    public func setExtensionAuthentication(_ data: [String: String]) { state.withLock { $0.extensionAuthentication = data } }

    // MARK: Wire

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        for kind in kinds {
            router.get(RouterPath(stringLiteral: kind.path)) { request, _ in try self.handle(request, kind) }
        }
        router.post("/apis/authorization.k8s.io/v1/subjectaccessreviews") { request, _ -> Response in
            guard request.headers[.authorization] == "Bearer \(self.token)" else {
                return Self.json(.unauthorized, Self.status(401, "Unauthorized", "Unauthorized"))
            }
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
            let spec = object?["spec"] as? [String: Any] ?? [:]
            let attributes = (spec["resourceAttributes"] ?? spec["nonResourceAttributes"]) as? [String: String] ?? [:]
            let (policy, text) = self.state.withLock { state in
                let text = String(buffer: body)
                state.reviews.append(text)
                return (state.policy, text)
            }
            guard object?["kind"] as? String == "SubjectAccessReview", let user = spec["user"] as? String else {
                return Self.json(.badRequest, Self.status(400, "BadRequest", "not a SubjectAccessReview: \(text)"))
            }
            let allowed = policy?(user, spec["groups"] as? [String] ?? [], attributes) ?? false
            return Self.json(.created, Array(#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{},"spec":{},"status":{"allowed":\#(allowed)}}"#.utf8))
        }
        router.get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication") { request, _ -> Response in
            guard request.headers[.authorization] == "Bearer \(self.token)" else {
                return Self.json(.unauthorized, Self.status(401, "Unauthorized", "Unauthorized"))
            }
            guard let data = self.state.withLock({ $0.extensionAuthentication }) else {
                return Self.json(.notFound, Self.status(404, "NotFound", "configmaps \"extension-apiserver-authentication\" not found"))
            }
            let object: [String: Any] = ["kind": "ConfigMap", "apiVersion": "v1", "metadata": ["name": "extension-apiserver-authentication", "namespace": "kube-system"], "data": data]
            return Self.json(.ok, Array(try JSONSerialization.data(withJSONObject: object)))
        }
        return router
    }

    private func handle(_ request: Request, _ kind: Kind) throws -> Response {
        let query = request.uri.queryParameters
        let isWatch = query["watch"].map { $0 == "1" || $0 == "true" } ?? false
        let (failing, persistent) = state.withLock { state -> (Bool, Int?) in
            state.requests.append(isWatch ? "WATCH \(kind.plural) rv=\(query["resourceVersion"] ?? "")" : "LIST \(kind.plural) continue=\(query["continue"] ?? "")")
            let persistent = isWatch ? state.failWatches : state.failLists
            guard state.failNext > 0 else { return (false, persistent) }
            state.failNext -= 1
            return (true, persistent)
        }
        guard request.headers[.authorization] == "Bearer \(token)" else {
            return Self.json(.unauthorized, Self.status(401, "Unauthorized", "Unauthorized"))
        }
        if let code = persistent {
            let (reason, message) = code == 410 ? ("Expired", "too old resource version") : ("InternalError", "etcdserver: request timed out")
            return Self.json(.init(code: code), Self.status(code, reason, message))
        }
        if failing { return Self.json(.internalServerError, Self.status(500, "InternalError", "etcdserver: request timed out")) }
        return isWatch ? try watch(kind, query) : list(kind, query)
    }

    private func list(_ kind: Kind, _ query: FlatDictionary<Substring, Substring>) -> Response {
        let limit = query["limit"].flatMap { Int(String($0)) } ?? Int.max
        let token = query["continue"].map(String.init) ?? ""
        return state.withLock { state in
            var offset = 0
            if !token.isEmpty {
                if state.expireContinueTokens > 0 {
                    state.expireContinueTokens -= 1
                    return Self.json(.gone, Self.status(410, "Expired", "The provided continue parameter is too old to display a consistent list result."))
                }
                offset = Int(token.split(separator: ":").last ?? "") ?? 0
            }
            let sorted = (state.objects[kind.plural] ?? [:]).sorted { $0.key < $1.key }
            let page = sorted.dropFirst(offset).prefix(limit)
            let next = offset + page.count < sorted.count ? "\(state.version):\(offset + page.count)" : ""
            var metadata: [String: Any] = ["resourceVersion": String(state.version)]
            if !next.isEmpty { metadata["continue"] = next }
            let document: [String: Any] = ["kind": "\(kind.kind)List", "apiVersion": kind.apiVersion, "metadata": metadata, "items": page.map(\.value.object)]
            return Self.json(.ok, Self.bytes(document))
        }
    }

    private func watch(_ kind: Kind, _ query: FlatDictionary<Substring, Substring>) throws -> Response {
        let from = query["resourceVersion"].flatMap { UInt64(String($0)) } ?? 0
        let timeout = query["timeoutSeconds"].flatMap { Int(String($0)) } ?? 300
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        state.withLock { state in
            if from < state.oldestWatchable {
                continuation.yield(Self.line(["type": "ERROR", "object": Self.expiredStatus(from)]))
                continuation.finish()
                return
            }
            for event in state.history[kind.plural] ?? [] where event.version > from {
                continuation.yield(Self.line(["type": event.type, "object": Self.withKind(event.object, kind)]))
            }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = Watcher(plural: kind.plural, continuation: continuation)
            continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) } }
        }
        // The server ends a watch after timeoutSeconds, as the real one does.
        Task {
            try? await Task.sleep(for: .seconds(timeout))
            continuation.finish()
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(asyncSequence: stream))
    }

    // MARK: Encoding

    private static func emit(_ state: inout State, _ kind: Kind, _ event: Event) {
        state.history[kind.plural, default: []].append(event)
        broadcast(&state, kind.plural, line(["type": event.type, "object": withKind(event.object, kind)]))
    }

    private static func broadcast(_ state: inout State, _ plural: String, _ line: ByteBuffer) {
        for watcher in state.watchers.values where watcher.plural == plural { watcher.continuation.yield(line) }
    }

    private static func withKind(_ object: [String: Any], _ kind: Kind) -> [String: Any] {
        var object = object
        object["kind"] = kind.kind
        object["apiVersion"] = kind.apiVersion
        return object
    }

    static func key(_ metadata: [String: Any]) -> String {
        let name = metadata["name"] as? String ?? ""
        let namespace = metadata["namespace"] as? String ?? ""
        return namespace.isEmpty ? name : "\(namespace)/\(name)"
    }

    static func expiredStatus(_ version: UInt64) -> [String: Any] {
        ["kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure",
         "message": "too old resource version: \(version) (\(version + 1))", "reason": "Expired", "code": 410]
    }

    static func status(_ code: Int, _ reason: String, _ message: String) -> [UInt8] {
        bytes(["kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure", "message": message, "reason": reason, "code": code])
    }

    static func bytes(_ object: Any) -> [UInt8] {
        [UInt8](try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func line(_ object: [String: Any]) -> ByteBuffer {
        var buffer = ByteBuffer(bytes: bytes(object))
        buffer.writeString("\n")
        return buffer
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
