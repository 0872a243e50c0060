import Aggregator
import Foundation
import Hummingbird
import Kubernetes
import Logging
import Metrics

/// The web UI's session: `POST /api/session` with a JWT, or with Kube-App's
/// `API_USERNAME`/`API_PASSWORD` (an admin), sets an HttpOnly, `SameSite=Strict` cookie
/// holding a short-lived session token signed with `JWT_SECRET` (never readable by scripts,
/// never in `localStorage`); `GET /api/session` says who the session is;
/// `DELETE /api/session` ends it. The cookie is accepted for reads (GET, HEAD) only: a
/// request that changes anything must carry its token in the header, which a page of
/// another site cannot set. The body must be JSON (a cross-site form cannot send it).
struct SessionController {
    static let cookie = "clustermon_session"
    let auth: Authenticator
    let credentials: KubeAppCredentials?
    /// The cookie's `Secure` attribute: over HTTPS.
    let secure: Bool
    /// Whether this server watches the API server (resources, deployments' availability):
    /// the UI asks for them only then.
    var apiServer = false
    /// A session lasts this long at most (and never beyond the JWT it was made from).
    var lifetime: Duration = .seconds(8 * 3600)
    let logger: Logger
    private let signIns = Counter(label: "clustermon_web_sign_ins_total", dimensions: [("outcome", "accepted")])
    private let refusals = Counter(label: "clustermon_web_sign_ins_total", dimensions: [("outcome", "refused")])

    init(auth: Authenticator, credentials: KubeAppCredentials?, secure: Bool, logger: Logger) {
        self.auth = auth
        self.credentials = credentials
        self.secure = secure
        self.logger = logger
    }

    func addRoutes(to router: Router<APIContext>) {
        router.get("/api/session") { request, _ in
            let principal = try auth.user(request)
            _ = try request.checkedQuery([])
            return Self.json(status: .ok, self.describe(principal, expires: nil))
        }
        router.post("/api/session") { request, _ in
            _ = try request.checkedQuery([])
            return try await self.signIn(request)
        }
        router.delete("/api/session") { _, _ in
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[.setCookie] = self.cookie(value: "", maxAge: 0)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"signed_out":true}"#)))
        }
    }

    func signIn(_ request: Request) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/json") == true else {
            throw APIFailure(.unsupportedMediaType, "the body must be application/json: {\"token\":\"<jwt>\"} or {\"username\":\"...\",\"password\":\"...\"}")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: 16 * 1024)
        guard let object = JSONValue.object(Array(buffer: buffer)) else {
            throw APIFailure(.badRequest, "the body must be a JSON object: {\"token\":\"<jwt>\"} or {\"username\":\"...\",\"password\":\"...\"}")
        }
        var fields: [String: String] = [:]
        for (key, value) in object {
            guard ["token", "username", "password"].contains(key) else {
                throw APIFailure(.badRequest, "unknown field \"\(key)\"; allowed: token, or username and password")
            }
            guard case .string(let text) = value else { throw APIFailure(.badRequest, "\(key) must be a string") }
            fields[key] = text
        }
        let principal: Principal
        let now = Int64(Date().timeIntervalSince1970)
        var expires = now + lifetime.components.seconds
        switch (fields["token"], fields["username"], fields["password"]) {
        case (let token?, nil, nil):
            do {
                principal = try auth.verifier.verify(token)
            } catch {
                refusals.increment()
                logger.info("web sign-in refused", metadata: ["reason": "\(error)"])
                throw APIFailure.unauthorized
            }
            if let exp = JWTVerifier.expiry(of: token) { expires = min(expires, Int64(exp)) }
        case (nil, let username?, let password?):
            guard let credentials, credentials.matches(username: username, password: password) else {
                refusals.increment()
                logger.info("web sign-in refused", metadata: ["reason": "wrong username or password", "username": "\(username)"])
                throw APIFailure.unauthorized
            }
            principal = Principal(userID: username, username: username, displayName: username, isAdmin: true, type: "")
        default:
            throw APIFailure(.badRequest, "give either token, or username and password")
        }
        let ttl = max(expires - now, 1)
        let session: String
        do {
            session = try auth.verifier.sign(userID: principal.userID, username: principal.username, isAdmin: principal.isAdmin, ttl: .seconds(ttl))
        } catch {
            throw APIFailure.unauthorized
        }
        signIns.increment()
        var response = Self.json(status: .ok, describe(principal, expires: now + ttl))
        response.headers[.setCookie] = cookie(value: session, maxAge: ttl)
        return response
    }

    func cookie(value: String, maxAge: Int64) -> String {
        "\(Self.cookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(secure ? "; Secure" : "")"
    }

    /// `{"user_id","username","admin","api_server","expires"?}`: what the UI shows of the
    /// session, and whether the server has the API server's resources to offer.
    func describe(_ principal: Principal, expires: Int64?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("user_id", principal.userID)
        w.field("username", principal.username.isEmpty ? principal.userID : principal.username)
        w.field("admin", principal.isAdmin)
        w.field("api_server", apiServer)
        if let expires { w.field("expires", UnixTime(seconds: expires).rfc3339) }
        w.endObject()
        return w.bytes
    }

    static func json(status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
