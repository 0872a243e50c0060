import AgentCLI
import API
import ArgumentParser
import Foundation

/// Mints a JWT with `JWT_SECRET`, for trying the API and for tests.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Print a JWT signed with JWT_SECRET.")

    @Option(help: "The user id (claims user_id and sub).")
    var userId: String

    @Option(help: "The username claim.")
    var username: String?

    @Flag(help: "An admin token (is_admin: true).")
    var admin = false

    @Option(help: "Token type: empty for a session token, or api_token (never admin).")
    var type = ""

    @Option(help: "Lifetime.")
    var ttl = GoDuration(.seconds(3600))

    @Option(help: "HS256, HS384 or HS512.")
    var algorithm = "HS256"

    func run() throws {
        guard let secret = ProcessInfo.processInfo.environment["JWT_SECRET"], !secret.isEmpty else {
            throw ValidationError("JWT_SECRET is not set")
        }
        do {
            print(try JWTVerifier(secret: secret).sign(userID: userId, username: username ?? userId, isAdmin: admin, type: type,
                                                       ttl: ttl.duration, algorithm: algorithm))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
