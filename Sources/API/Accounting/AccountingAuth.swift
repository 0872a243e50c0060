import Aggregator
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Kube-App's `API_USERNAME`/`API_PASSWORD`.
public struct KubeAppCredentials: Sendable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Both compared in constant time (over the SHA-256 of each, so that the length of the
    /// secret does not show either).
    func matches(username given: String, password offered: String) -> Bool {
        let user = Self.equal(given, username), secret = Self.equal(offered, password)
        return user && secret
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        let x = SHA256.hash(data: Data(a.utf8)), y = SHA256.hash(data: Data(b.utf8))
        var difference: UInt8 = 0
        for (p, q) in zip(x, y) { difference |= p ^ q }
        return difference == 0
    }
}

/// Who calls the accounting APIs: Kube-App's headers (an admin), else a JWT.
struct AccountingAuth: Sendable {
    let auth: Authenticator
    let credentials: KubeAppCredentials?
    let visibility: Visibility

    static let usernameHeader = HTTPField.Name("X-USERNAME")!
    static let passwordHeader = HTTPField.Name("X-PASSWORD")!

    enum Refusal: Error {
        /// A header missing, or no credentials at all.
        case missing
        /// Kube-App's headers with the wrong values, or a token that does not verify.
        case unrecognized
    }

    /// The caller: Kube-App's headers when either is present, else the JWT.
    func caller(_ request: Request) -> Result<Principal, Refusal> {
        let username = request.headers[Self.usernameHeader], password = request.headers[Self.passwordHeader]
        if username != nil || password != nil {
            guard let username, let password else { return .failure(.missing) }
            guard let credentials, credentials.matches(username: username, password: password) else { return .failure(.unrecognized) }
            return .success(Principal(userID: username, username: username, displayName: username, isAdmin: true, type: "kube-app"))
        }
        guard Authenticator.token(request) != nil else { return .failure(.missing) }
        do { return .success(try auth.user(request)) } catch { return .failure(.unrecognized) }
    }
}

/// A JSON body's top-level values, decoded strictly (a boolean is never a number).
enum JSONValue: Decodable, Equatable {
    case string(String), number(Double), bool(Bool), null, other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null } else if let flag = try? container.decode(Bool.self) { self = .bool(flag) } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) { self = .string(text) } else { self = .other }
    }

    /// A JSON object of these values, or nil when the bytes are not one.
    static func object(_ bytes: [UInt8]) -> [String: JSONValue]? {
        try? JSONDecoder().decode([String: JSONValue].self, from: Data(bytes))
    }
}
