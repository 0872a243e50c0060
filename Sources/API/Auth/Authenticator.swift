import Hummingbird
import Logging
import Metrics

/// Finds and verifies the caller's JWT: `Authorization: Bearer <jwt>`, else `?token=`
/// (browsers' EventSource cannot set headers), else, for GET and HEAD, the web UI's
/// session cookie. Without a configured secret every protected
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
        if let query = request.uri.queryParameters["token"] { return String(query) }
        // The web UI's session cookie, for reads only: whatever changes state needs the
        // token in a header (which a page of another site cannot send).
        guard request.method == .get || request.method == .head else { return nil }
        return cookie(SessionController.cookie, in: request)
    }

    /// A cookie's value (`Cookie: a=1; b=2`, possibly over several header lines).
    static func cookie(_ name: String, in request: Request) -> String? {
        for line in request.headers[values: .cookie] {
            for pair in line.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                return String(trimmed[trimmed.index(after: equals)...])
            }
        }
        return nil
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
