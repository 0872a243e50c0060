import Aggregator
import Foundation
import Hummingbird
import Kubernetes

/// `metrics.k8s.io/v1beta1` as metrics-server serves it (what `kubectl top` and the
/// HorizontalPodAutoscaler read), from the agents' latest snapshots: `NodeMetrics` and
/// `PodMetrics`, their lists, and the discovery documents. CPU is the rate between an
/// agent's last two snapshots in nanocores, memory the working set, both as Kubernetes'
/// canonical quantities; `timestamp` is the snapshot's collection time and `window` the
/// span the rate is over. Nodes and pods without usage yet, and nodes whose agent has been
/// silent for three intervals, are left out, as metrics-server leaves out what it cannot
/// measure. JWT: nodes for admins; pods of the caller's namespaces.
struct MetricsAPIController {
    let samples: @Sendable () -> [NodeSample]
    let cluster: (any ClusterView)?
    let auth: Authenticator
    let visibility: Visibility
    /// The API server's front proxy, when the aggregator is an aggregated API server.
    let frontProxy: FrontProxyAuth?
    /// Unix seconds.
    let now: @Sendable () -> Double

    static let group = "metrics.k8s.io", version = "v1beta1"
    static let groupVersion = "metrics.k8s.io/v1beta1"
    static let root = "/apis/metrics.k8s.io/v1beta1"

    func addRoutes(to router: Router<APIContext>) {
        router.get("/apis") { request, context in try await self.discovery(request, context, Self.groupList) }
        router.get("/apis/metrics.k8s.io") { request, context in try await self.discovery(request, context, Self.apiGroup) }
        router.get("/apis/metrics.k8s.io/v1beta1") { request, context in try await self.discovery(request, context, Self.resourceList) }
        router.get("/apis/metrics.k8s.io/v1beta1/nodes") { request, context in try await self.nodes(request, context, name: nil) }
        router.get("/apis/metrics.k8s.io/v1beta1/nodes/:name") { request, context in
            try await self.nodes(request, context, name: context.parameters.get("name"))
        }
        router.get("/apis/metrics.k8s.io/v1beta1/pods") { request, context in try await self.pods(request, context, namespace: nil, name: nil) }
        router.get("/apis/metrics.k8s.io/v1beta1/namespaces/:namespace/pods") { request, context in
            try await self.pods(request, context, namespace: context.parameters.get("namespace"), name: nil)
        }
        router.get("/apis/metrics.k8s.io/v1beta1/namespaces/:namespace/pods/:name") { request, context in
            try await self.pods(request, context, namespace: context.parameters.get("namespace"), name: context.parameters.get("name"))
        }
    }

    /// The path's parameters, checked against their documented schemas (a 400 otherwise).
    static func checkPath(namespace: String?, name: String?) throws {
        if let namespace { try APIParameter("namespace", "", .namespace).check(namespace) }
        if let name { try APIParameter("name", "", .objectName).check(name) }
    }

    // MARK: - Discovery

    static let preferred = #"{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}"#
    static let apiGroup = #"{"kind":"APIGroup","apiVersion":"v1","name":"metrics.k8s.io","versions":["# + preferred + #"],"preferredVersion":"# + preferred + "}"
    static let groupList = #"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"metrics.k8s.io","versions":["# + preferred + #"],"preferredVersion":"# + preferred + "}]}"
    static let resourceList = #"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":["#
        + #"{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},"#
        + #"{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#

    /// Who asks: a JWT's user, or a user the API server's front proxy names, whom the API
    /// server has allowed this very request (a SubjectAccessReview): they see what it names.
    enum Caller {
        case jwt(Principal)
        case delegated
    }

    func caller(_ request: Request, _ context: APIContext, _ attributes: AccessAttributes) async throws -> Caller {
        if let peer = context.frontProxyPeer, let frontProxy, let user = frontProxy.user(request, peer: peer) {
            guard try await frontProxy.allowed(user, attributes) else {
                let subject = if case .resource(_, _, let resource, _, _, _) = attributes { "\(resource).\(Self.group)" } else { "path" }
                throw APIFailure(.forbidden, "\(subject) is forbidden: User \"\(user.name)\" cannot \(attributes.description)")
            }
            return .delegated
        }
        return .jwt(try auth.user(request))
    }

    static func resource(_ resource: String, name: String?, namespace: String?) -> AccessAttributes {
        .resource(group: group, version: version, resource: resource, verb: name == nil ? "list" : "get", namespace: namespace, name: name)
    }

    func discovery(_ request: Request, _ context: APIContext, _ document: String) async throws -> Response {
        try await answer {
            _ = try await caller(request, context, .nonResource(path: request.uri.path, verb: "get"))
            _ = try request.checkedQuery([])
            return Self.json(Array(document.utf8))
        }
    }

    // MARK: - Nodes and pods

    func nodes(_ request: Request, _ context: APIContext, name: String?) async throws -> Response {
        try await answer {
            try Self.checkPath(namespace: nil, name: name)
            if case .jwt(let principal) = try await caller(request, context, Self.resource("nodes", name: name, namespace: nil)), !principal.isAdmin {
                throw APIFailure.forbidden
            }
            let query = try request.checkedQuery(name == nil ? OpenAPI.nodeMetricsSelectors : [])
            let selector = try Self.selector(query["labelSelector"])
            let fields = try FieldSelector(query["fieldSelector"], namespaced: false)
            let now = self.now()
            var items: [[UInt8]] = []
            for node in samples().sorted(by: { $0.name < $1.name }) {
                guard name == nil || node.name == name, fields.admits(name: node.name, namespace: ""), !Self.stale(node, now: now),
                      let cores = node.cpuCores, let memory = node.memoryUsedBytes else { continue }
                let labels = cluster?.node(named: node.name)?.metadata.labels ?? [:]
                guard selector?.matches(labels) ?? true else { continue }
                var w = JSONWriter(capacity: 320)
                w.beginObject()
                if name != nil { w.field("kind", "NodeMetrics"); w.field("apiVersion", Self.groupVersion) }
                Self.metadata(&w, name: node.name, namespace: nil, labels: labels, now: now)
                Self.window(&w, node)
                w.key("usage"); Self.usage(&w, nanocores: UInt64(max(cores, 0) * 1e9), bytes: memory)
                w.endObject()
                items.append(w.bytes)
            }
            if let name {
                guard let item = items.first else { throw MetricsAPIError.notFound(kind: "nodes", name: name) }
                return Self.json(item)
            }
            return Self.list("NodeMetricsList", items)
        }
    }

    func pods(_ request: Request, _ context: APIContext, namespace: String?, name: String?) async throws -> Response {
        try await answer {
            try Self.checkPath(namespace: namespace, name: name)
            let caller = try await caller(request, context, Self.resource("pods", name: name, namespace: namespace))
            let query = try request.checkedQuery(name == nil ? OpenAPI.podMetricsSelectors : [])
            let selector = try Self.selector(query["labelSelector"])
            let fields = try FieldSelector(query["fieldSelector"], namespaced: true)
            let visible: @Sendable (String) -> Bool = switch caller {
            case .jwt(let principal): visibility.namespaces(for: principal)
            case .delegated: { _ in true }
            }
            if let namespace, !visible(namespace) { throw APIFailure.forbidden }
            let now = self.now()
            var found: [(key: String, bytes: [UInt8])] = []
            for node in samples() where !Self.stale(node, now: now) {
                for pod in node.pods {
                    guard namespace == nil || pod.namespace == namespace, name == nil || pod.name == name,
                          fields.admits(name: pod.name, namespace: pod.namespace), visible(pod.namespace) else { continue }
                    let containers = pod.containers.filter { !$0.isInit && $0.cpuNanocores != nil && $0.memoryBytes != nil }
                    guard !containers.isEmpty else { continue }
                    let labels = cluster?.pod(namespace: pod.namespace, name: pod.name)?.metadata.labels ?? [:]
                    guard selector?.matches(labels) ?? true else { continue }
                    var w = JSONWriter(capacity: 256 + containers.count * 96)
                    w.beginObject()
                    if name != nil { w.field("kind", "PodMetrics"); w.field("apiVersion", Self.groupVersion) }
                    Self.metadata(&w, name: pod.name, namespace: pod.namespace, labels: labels, now: now)
                    Self.window(&w, node)
                    w.key("containers"); w.beginArray()
                    for container in containers {
                        w.beginObject()
                        w.field("name", container.name)
                        w.key("usage"); Self.usage(&w, nanocores: container.cpuNanocores ?? 0, bytes: container.memoryBytes ?? 0)
                        w.endObject()
                    }
                    w.endArray()
                    w.endObject()
                    found.append(("\(pod.namespace)/\(pod.name)", w.bytes))
                }
            }
            found.sort { $0.key < $1.key }
            if let name {
                guard let item = found.first else { throw MetricsAPIError.notFound(kind: "pods", name: name) }
                return Self.json(item.bytes)
            }
            return Self.list("PodMetricsList", found.map(\.bytes))
        }
    }

    // MARK: - Pieces

    /// A node is left out once its agent has been silent for three intervals.
    static func stale(_ node: NodeSample, now: Double) -> Bool { now - node.receivedAt > 3 * node.intervalSeconds }

    static func selector(_ text: String?) throws -> LabelSelector? {
        guard let text, !text.isEmpty else { return nil }
        do { return try LabelSelector(parsing: text) } catch { throw APIFailure(.badRequest, "labelSelector: \(error)") }
    }

    /// metrics-server stamps `creationTimestamp` with the time of the answer.
    static func metadata(_ w: inout JSONWriter, name: String, namespace: String?, labels: [String: String], now: Double) {
        w.key("metadata"); w.beginObject()
        w.field("name", name)
        if let namespace { w.field("namespace", namespace) }
        w.field("creationTimestamp", UnixTime(seconds: Int64(now)).rfc3339)
        if !labels.isEmpty {
            w.key("labels"); w.beginObject()
            for key in labels.keys.sorted() { w.field(key, labels[key]!) }
            w.endObject()
        }
        w.endObject()
    }

    static func window(_ w: inout JSONWriter, _ node: NodeSample) {
        w.field("timestamp", UnixTime(seconds: Int64(node.collectedAt.rounded(.down))).rfc3339)
        w.field("window", GoDurationText.goString(milliseconds: Int64((node.windowSeconds * 1000).rounded())))
    }

    static func usage(_ w: inout JSONWriter, nanocores: UInt64, bytes: UInt64) {
        w.beginObject()
        w.field("cpu", Quantity.canonicalCPU(nanocores: nanocores))
        w.field("memory", Quantity.canonicalBytes(bytes))
        w.endObject()
    }

    static func list(_ kind: String, _ items: [[UInt8]]) -> Response {
        var bytes = Array(#"{"kind":"\#(kind)","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":["#.utf8)
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: item)
        }
        bytes.append(contentsOf: "]}".utf8)
        return json(bytes)
    }

    static func json(_ bytes: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Errors as Kubernetes' `Status` (what kubectl and client-go read).
    func answer(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let failure as APIFailure {
            let reason = switch failure.status.code {
            case 401: "Unauthorized"
            case 403: "Forbidden"
            case 405: "MethodNotAllowed"
            case 503: "ServiceUnavailable"
            default: "BadRequest"
            }
            return Self.status(failure.status.code, reason: reason, message: failure.message, details: nil, headers: failure.headers)
        } catch let error as MetricsAPIError {
            switch error {
            case .notFound(let kind, let name):
                let singular = kind == "nodes" ? "nodemetrics" : "podmetrics"
                return Self.status(404, reason: "NotFound", message: "\(singular).metrics.k8s.io \"\(name)\" not found", details: (name, kind), headers: [:])
            }
        }
    }

    static func status(_ code: Int, reason: String, message: String, details: (name: String, kind: String)?, headers: HTTPFields) -> Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("kind", "Status"); w.field("apiVersion", "v1")
        w.key("metadata"); w.beginObject(); w.endObject()
        w.field("status", "Failure"); w.field("message", message); w.field("reason", reason)
        if let details {
            w.key("details"); w.beginObject()
            w.field("name", details.name); w.field("group", group); w.field("kind", details.kind)
            w.endObject()
        }
        w.field("code", code)
        w.endObject()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: .init(code: code), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

enum MetricsAPIError: Error {
    case notFound(kind: String, name: String)
}

/// The field selectors metrics-server answers: `metadata.name` and (pods) `metadata.namespace`,
/// with `=`, `==` or `!=`, comma-separated.
struct FieldSelector {
    var requirements: [(field: String, value: String, equal: Bool)] = []

    init(_ text: String?, namespaced: Bool) throws {
        guard let text, !text.isEmpty else { return }
        for term in text.split(separator: ",", omittingEmptySubsequences: false) {
            let (operatorRange, equal): (Range<Substring.Index>?, Bool) =
                if let range = term.range(of: "!=") { (range, false) } else if let range = term.range(of: "==") { (range, true) } else { (term.range(of: "="), true) }
            guard let range = operatorRange else { throw APIFailure(.badRequest, "fieldSelector: \"\(term)\" has no =, == or !=") }
            let field = String(term[..<range.lowerBound]), value = String(term[range.upperBound...])
            guard field == "metadata.name" || (namespaced && field == "metadata.namespace") else {
                throw APIFailure(.badRequest, "fieldSelector: \"\(field)\" is not a supported field; metadata.name\(namespaced ? " or metadata.namespace" : "")")
            }
            requirements.append((field, value, equal))
        }
    }

    func admits(name: String, namespace: String) -> Bool {
        requirements.allSatisfy { requirement in
            let actual = requirement.field == "metadata.name" ? name : namespace
            return (actual == requirement.value) == requirement.equal
        }
    }
}
