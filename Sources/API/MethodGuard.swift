import Hummingbird

/// Answers a request for a served path with a method the path does not serve with 405
/// and `Allow` (RFC 9110 §15.5.6), instead of the router's 404. Kube-App's paths keep its
/// own answer (400 `Bad request` for any method but POST).
struct MethodGuard: RouterMiddleware {
    typealias Context = APIContext

    struct Template {
        /// nil: a `{parameter}` segment.
        var segments: [Substring?]
        var methods: Set<String>

        func matches(_ path: [Substring]) -> Bool {
            guard path.count == segments.count else { return false }
            for (segment, part) in zip(segments, path) where segment != nil && segment != part { return false }
            return true
        }
    }

    let templates: [Template]

    init(operations: [APIOperation]) {
        var byPath: [String: Set<String>] = [:]
        for op in operations where op.auth != .kubeApp { byPath[op.path, default: []].insert(op.method.uppercased()) }
        templates = byPath.map { path, methods in
            Template(segments: path.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }, methods: methods)
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path.split(separator: "/")
        var allowed: Set<String> = []
        for template in templates where template.matches(path) { allowed.formUnion(template.methods) }
        guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { return try await next(request, context) }
        let list = allowed.sorted().joined(separator: ", ")
        throw APIFailure(.methodNotAllowed, "\(request.method.rawValue) is not served on \(request.uri.path); allowed: \(list)", headers: [.allow: list])
    }
}
