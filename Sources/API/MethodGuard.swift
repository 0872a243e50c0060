import Hummingbird

/// Answers a request for a served path with a method the path does not serve with 405
/// and `Allow` (RFC 9110 §15.5.6), instead of the router's 404. Kube-App's paths keep its
/// own answer (400 `Bad request`) for the methods Kube-App's clients could send, and 405
/// for the rest (TRACE, QUERY, ...). A WebSocket path asked without
/// an upgrade is 426 with `Upgrade: websocket` (the router would answer an empty 200).
struct MethodGuard: RouterMiddleware {
    typealias Context = APIContext

    struct Template {
        /// nil: a `{parameter}` segment.
        var segments: [Substring?]
        var methods: Set<String>
        /// A WebSocket path's query parameters (checked before the upgrade is asked for).
        var websocket: [APIParameter]?

        func matches(_ path: [Substring]) -> Bool {
            guard path.count == segments.count else { return false }
            for (segment, part) in zip(segments, path) where segment != nil && segment != part { return false }
            return true
        }
    }

    let templates: [Template]
    /// Kube-App's paths.
    let kubeApp: [Template]
    /// The methods Kube-App answered with 400 `Bad request`.
    static let kubeAppMethods: [HTTPRequest.Method] = [.get, .head, .put, .delete, .patch, .options]

    init(operations: [APIOperation]) {
        var byPath: [String: Set<String>] = [:]
        var websockets: [String: [APIParameter]] = [:]
        for op in operations where op.auth != .kubeApp {
            byPath[op.path, default: []].insert(op.method.uppercased())
            if op.produces == "websocket" { websockets[op.path] = op.parameters }
        }
        kubeApp = operations.filter { $0.auth == .kubeApp }.map { op in
            Template(segments: op.path.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }, methods: [op.method.uppercased()], websocket: nil)
        }
        templates = byPath.map { path, methods in
            Template(segments: path.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }, methods: methods, websocket: websockets[path])
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path.split(separator: "/")
        if request.method != .post, !Self.kubeAppMethods.contains(request.method), kubeApp.contains(where: { $0.matches(path) }) {
            throw APIFailure(.methodNotAllowed, "\(request.method.rawValue) is not served on \(request.uri.path); allowed: POST", headers: [.allow: "POST"])
        }
        var allowed: Set<String> = []
        var websocket: [APIParameter]?
        for template in templates where template.matches(path) {
            allowed.formUnion(template.methods)
            websocket = websocket ?? template.websocket
        }
        if let parameters = websocket, allowed.contains(request.method.rawValue), request.headers[.upgrade]?.lowercased() != "websocket" {
            _ = try request.checkedQuery(parameters)
            throw APIFailure(.upgradeRequired, "\(request.uri.path) is a WebSocket: ask with Connection: Upgrade and Upgrade: websocket",
                             headers: [.upgrade: "websocket"])
        }
        guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { return try await next(request, context) }
        let list = allowed.sorted().joined(separator: ", ")
        throw APIFailure(.methodNotAllowed, "\(request.method.rawValue) is not served on \(request.uri.path); allowed: \(list)", headers: [.allow: list])
    }
}
