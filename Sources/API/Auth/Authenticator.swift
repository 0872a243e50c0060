import Hummingbird
import Logging
import Metrics

/// Finds and verifies the caller's JWT: `Authorization: Bearer <jwt>`, else `?token=`
/// (browsers' EventSource cannot set headers). Without a configured secret every protected
/// endpoint answers 401.
public struct Authenticator: Sendable {
    public let verifier: JWTVerifier
    let logger: Logger
    private let failures = Counter(label: "clustermon_api_auth_failures_total")

    public init(verifier: JWTVerifier, logger: Logger) {
        self.verifier = verifier
        self.logger = logger
    }

    static func token(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return String(parts[1]).trimmingCharacters(in: .whitespaces) }
        }
        return request.uri.queryParameters["token"].map(String.init)
    }

    /// The verified caller, or a 401 (the reason is logged, never the token).
    public func user(_ request: Request) throws -> Principal {
        guard let token = Self.token(request), !token.isEmpty else { failures.increment(); throw APIFailure.unauthorized }
        do {
            return try verifier.verify(token)
        } catch {
            failures.increment()
            logger.debug("token refused", metadata: ["reason": "\(error)", "path": "\(request.uri.path)"])
            throw APIFailure.unauthorized
        }
    }

    /// The verified caller if an admin, else 401 or 403.
    public func admin(_ request: Request) throws -> Principal {
        let principal = try user(request)
        guard principal.isAdmin else { throw APIFailure.forbidden }
        return principal
    }
}
