import Hummingbird

/// Whether this process is ready to serve: each part reports its own readiness.
public protocol ReadinessCheck: Sendable {
    var name: String { get }
    /// nil when ready, else what is missing (for a person).
    func notReadyReason() async -> String?
    /// nil when whole; else what is wrong while the part still serves (for a person): the
    /// process stays ready, and `/readyz` says it.
    func degradedReason() async -> String?
}

extension ReadinessCheck {
    public func degradedReason() async -> String? { nil }
}

/// `/healthz` (the process answers: `ok`) and `/readyz` (every part is ready).
///
/// Two replaced systems answered `/healthz`: the Cluster Monitor's clients send no token and
/// get `ok`; the heartbeat's clients always send one (Basic or `?token=`) and get its API
/// server check, with its auth and rate limit.
struct HealthController {
    let checks: [any ReadinessCheck]
    var heartbeat: HeartbeatController?

    func addRoutes(to router: Router<APIContext>) {
        let health: @Sendable (Request, APIContext) async throws -> Response = { request, context in
            if let heartbeat, HeartbeatController.presentedToken(request) != nil {
                return try heartbeat.apiServer(request, context)
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(string: "ok")))
        }
        router.get("/healthz", use: health)
        router.head("/healthz", use: health)
        router.get("/readyz") { _, _ -> Response in
            var failures: [String] = [], degraded: [String] = []
            for check in checks {
                if let reason = await check.notReadyReason() { failures.append("\(check.name): \(reason)") }
                else if let reason = await check.degradedReason() { degraded.append("\(check.name): degraded: \(reason)") }
            }
            let body = (failures.isEmpty ? ["ok"] + degraded : failures + degraded).joined(separator: "\n") + "\n"
            return Response(
                status: failures.isEmpty ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
    }
}
