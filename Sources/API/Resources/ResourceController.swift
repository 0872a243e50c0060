import Aggregator
import Hummingbird
import Kubernetes

/// The resource cache API that replaces the Kubernetes Resource Monitor (REFERENCE.md §3):
/// `GET /api/resources/{kind}` and the old root paths, `{"items":[...]}` sorted by
/// (namespace, name), objects as the API server sent them.
struct ResourceController {
    let cluster: any ClusterView
    let auth: Authenticator
    let access: NamespaceAccess

    /// The Resource Monitor's names for the kinds it served.
    static let kinds: [(name: String, kind: ResourceKind)] = [
        ("pods", .pods), ("nodes", .nodes), ("services", .services), ("ingress", .ingresses),
        ("pvcs", .persistentVolumeClaims), ("deployments", .deployments),
    ]

    func addRoutes(to router: Router<APIContext>) {
        for (name, kind) in Self.kinds {
            let handler: @Sendable (Request, APIContext) async throws -> Response = { request, _ in try self.list(request, name: name, kind: kind) }
            router.get(RouterPath(stringLiteral: "/api/resources/\(name)"), use: handler)
            router.get(RouterPath(stringLiteral: "/\(name)"), use: handler)
        }
    }

    func list(_ request: Request, name kindName: String, kind: ResourceKind) throws -> Response {
        let principal = try auth.user(request)
        let query = try request.checkedQuery(OpenAPI.resourceFilters + (kind == .pods ? [OpenAPI.podNode] : []))
        let name = query["name"]
        let namespace = query["namespace"]
        let node = query["node"]
        var selector: LabelSelector?
        if let text = query["label_selector"] {
            do { selector = try LabelSelector(parsing: text) } catch { throw APIFailure(.badRequest, "\(error)") }
        }
        let owners = access.namespaceOwners(cluster)
        if !kind.namespaced && !principal.isAdmin { throw APIFailure.forbidden }
        if let namespace, !access.canSee(principal, namespace: namespace, labels: cluster.namespaceLabels(namespace), knownOwners: owners) {
            throw APIFailure.forbidden
        }
        guard var items = cluster.resources(kind) else { throw APIFailure(.serviceUnavailable, "\(kindName) are not cached") }
        items = items.filter { item in
            (name == nil || item.name == name) && (namespace == nil || item.namespace == namespace) && (node == nil || item.nodeName == node)
                && (selector?.matches(item.labels) ?? true)
                && (principal.isAdmin || access.canSee(principal, namespace: item.namespace, labels: cluster.namespaceLabels(item.namespace), knownOwners: owners))
        }
        items.sort { ($0.namespace, $0.name) < ($1.namespace, $1.name) }
        var body = ByteBuffer()
        body.reserveCapacity(items.reduce(16) { $0 + $1.raw.count + 1 })
        body.writeString(#"{"items":["#)
        var inflater = Inflater()
        for (index, item) in items.enumerated() {
            if index > 0 { body.writeString(",") }
            inflater.write(item.raw, into: &body)
        }
        body.writeString("]}")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}

extension NamespaceAccess {
    func namespaceOwners(_ cluster: any ClusterView) -> Set<String> { cluster.namespaceOwners(label: ownerLabel) }
}
