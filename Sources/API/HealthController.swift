import Hummingbird

/// Whether this process is ready to serve: each part reports its own readiness.
public protocol ReadinessCheck: Sendable {
    var name: String { get }
    /// nil when ready, else what is missing (for a person).
    func notReadyReason() async -> String?
}

/// `/healthz` (the process answers: `ok`) and `/readyz` (every part is ready).
struct HealthController {
    let checks: [any ReadinessCheck]

    func addRoutes(to router: Router<APIContext>) {
        router.get("/healthz") { _, _ in "ok" }
        router.get("/readyz") { _, _ -> Response in
            var failures: [String] = []
            for check in checks {
                if let reason = await check.notReadyReason() { failures.append("\(check.name): \(reason)") }
            }
            let body = failures.isEmpty ? "ok\n" : failures.joined(separator: "\n") + "\n"
            return Response(
                status: failures.isEmpty ? .ok : .serviceUnavailable,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: body))
            )
        }
    }
}
