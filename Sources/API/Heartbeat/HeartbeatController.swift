import Aggregator
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Kubernetes

/// The deployment heartbeat for status pages (REFERENCE.md §4), judged from the informer
/// cache (no API server call per request): 200 with an empty body when the Deployment is
/// available, 503 with the reason when not, 404 when it does not exist.
struct HeartbeatController {
    let cluster: any ClusterView
    /// `AUTH_TOKEN_BASIC`, an opaque string; nil refuses every request.
    let token: String?
    let limiter: FixedWindowRateLimiter
    let now: @Sendable () -> Int64

    /// The deployment routes; `/healthz` is shared with liveness (see `HealthController`).
    func addRoutes(to router: Router<APIContext>) {
        let deployment: @Sendable (Request, APIContext) async throws -> Response = { request, context in
            try self.deployment(request, context)
        }
        router.get("/api/healthz/:namespace/deployment/:name", use: deployment)
        router.head("/api/healthz/:namespace/deployment/:name", use: deployment)
    }

    /// Authorization and the rate limit, with the `X-RateLimit-*` headers on every answer.
    private func admit(_ request: Request, _ context: APIContext) throws -> HTTPFields {
        let client = context.remoteAddress?.ipAddress ?? "unknown"
        let decision = limiter.check(client, now: now())
        var headers = HTTPFields()
        headers[HTTPField.Name("X-RateLimit-Limit")!] = String(decision.limit)
        headers[HTTPField.Name("X-RateLimit-Remaining")!] = String(decision.remaining)
        headers[HTTPField.Name("X-RateLimit-Reset")!] = String(decision.reset)
        guard decision.allowed else { throw APIFailure(.tooManyRequests, "rate limit exceeded", headers: headers) }
        guard let presented = Self.presentedToken(request) else {
            var challenge = headers
            challenge[.wwwAuthenticate] = "Basic"
            throw APIFailure(.unauthorized, "unauthorized", headers: challenge)
        }
        guard let token, Self.constantTimeEquals(presented, token) else { throw APIFailure(.forbidden, "forbidden", headers: headers) }
        return headers
    }

    /// `Authorization: Basic <token>` (the token as is, not base64 of user:password), else `?token=`.
    static func presentedToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "basic" { return String(parts[1]) }
        }
        return request.uri.queryParameters["token"].map(String.init)
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        // Compare digests: equal length, no early exit on the first differing byte.
        let x = SHA256.hash(data: Data(a.utf8)), y = SHA256.hash(data: Data(b.utf8))
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    func deployment(_ request: Request, _ context: APIContext) throws -> Response {
        let headers = try admit(request, context)
        let namespace = context.parameters.get("namespace") ?? ""
        let name = context.parameters.get("name") ?? ""
        guard cluster.isSynced else { return respond(request, .serviceUnavailable, headers, ["status": "unknown", "reason": "the cluster cache is not synced yet"]) }
        guard let deployment = cluster.deployment(namespace: namespace, name: name) else {
            return respond(request, .notFound, headers, ["status": "not_found", "reason": "deployment \(namespace)/\(name) does not exist"])
        }
        let available = deployment.conditions.first { $0.type == "Available" }
        let desired = deployment.status.desired ?? 1
        let ready = deployment.status.ready
        if available?.status == "True" && (ready > 0 || desired == 0) {
            return Response(status: .ok, headers: headers)
        }
        var reason = available.map { $0.message.isEmpty ? $0.reason : $0.message } ?? "no Available condition yet"
        if available?.status == "True" { reason = "no ready replicas" }
        return respond(request, .serviceUnavailable, headers, [
            "status": "unavailable", "reason": reason, "ready_replicas": String(ready), "desired_replicas": String(desired),
        ])
    }

    func apiServer(_ request: Request, _ context: APIContext) throws -> Response {
        let headers = try admit(request, context)
        var plain = headers
        plain[.contentType] = "text/plain; charset=utf-8"
        return cluster.isSynced ? Response(status: .ok, headers: plain)
            : respond(request, .serviceUnavailable, headers, ["status": "unavailable", "reason": "the API server has not been listed yet"])
    }

    private func respond(_ request: Request, _ status: HTTPResponse.Status, _ headers: HTTPFields, _ body: [String: String]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        guard request.method != .head else { return Response(status: status, headers: headers) }
        let json = "{" + body.sorted { $0.key < $1.key }.map { #""\#($0.key)":"\#(JWTVerifier.escape($0.value))""# }.joined(separator: ",") + "}"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }
}
