import Aggregator
import Crypto
import Foundation
import Kubernetes

/// Who a request comes from, from a verified token.
public struct Principal: Sendable, Equatable {
    public var userID: String
    public var username: String
    public var displayName: String
    public var isAdmin: Bool
    /// `""` for a session token, `api_token` for an API token.
    public var type: String
}

/// Why a token was refused (never shown to the client beyond "unauthorized"; logged).
public enum TokenError: Error, Equatable, CustomStringConvertible {
    case malformed, unsupportedAlgorithm(String), badSignature, expired, notYetValid, wrongType(String), missingSubject, noSecret
    public var description: String {
        switch self {
        case .malformed: "malformed token"
        case .unsupportedAlgorithm(let alg): "algorithm \(alg) not accepted (HS256, HS384, HS512 only)"
        case .badSignature: "bad signature"
        case .expired: "expired"
        case .notYetValid: "not valid yet"
        case .wrongType(let type): "token type \(type) is not accepted"
        case .missingSubject: "no user_id or sub"
        case .noSecret: "no JWT secret configured"
        }
    }
}

/// HMAC-signed JWTs as the Cluster Monitor issues them (REFERENCE.md §1), verified strictly:
/// only HS256/384/512 (never `none`, never an asymmetric algorithm), the signature compared
/// in constant time, `exp` and `nbf` enforced, and `type` either absent/empty (session) or
/// `api_token`. API tokens never carry admin rights.
public struct JWTVerifier: Sendable {
    private let secret: SymmetricKey?
    public var leeway: Duration = .seconds(30)

    public init(secret: String?) {
        self.secret = secret.flatMap { $0.isEmpty ? nil : SymmetricKey(data: Data($0.utf8)) }
    }

    public var isConfigured: Bool { secret != nil }

    public func verify(_ token: String, now: UnixTime = .wallClock()) throws(TokenError) -> Principal {
        guard let secret else { throw .noSecret }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else { throw .malformed }
        let alg = try header(headerBytes)
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        let valid: Bool = switch alg {
        case "HS256": HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: secret)
        case "HS384": HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: signed, using: secret)
        case "HS512": HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: signed, using: secret)
        default: throw .unsupportedAlgorithm(alg)
        }
        guard valid else { throw .badSignature }
        let claims = try Claims.decode(payloadBytes)
        let nowSeconds = Double(now.seconds) + Double(now.nanoseconds) / 1e9
        let slack = Double(leeway.components.seconds)
        guard let exp = claims.exp, nowSeconds < exp + slack else { throw .expired }
        if let nbf = claims.nbf, nowSeconds + slack < nbf { throw .notYetValid }
        guard claims.type.isEmpty || claims.type == "api_token" else { throw .wrongType(claims.type) }
        let userID = claims.userID.isEmpty ? claims.sub : claims.userID
        guard !userID.isEmpty else { throw .missingSubject }
        return Principal(userID: userID, username: claims.username, displayName: claims.displayName,
                         isAdmin: claims.type == "api_token" ? false : claims.isAdmin, type: claims.type)
    }

    private func header(_ bytes: [UInt8]) throws(TokenError) -> String {
        do {
            return try JSONScanner.decode(bytes) { s in
                var alg = ""
                try s.forEachMember { s, key in if key == "alg" { alg = try s.string() } }
                return alg
            }
        } catch { throw .malformed }
    }

    /// The `exp` claim of a token already verified (nil when it has none or is malformed).
    static func expiry(of token: String) -> Double? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
        return (try? Claims.decode(payload))?.exp
    }

    /// Signs claims (for `clustermon token` and tests).
    public func sign(userID: String, username: String = "", isAdmin: Bool, type: String = "", ttl: Duration, now: UnixTime = .wallClock(), algorithm: String = "HS256") throws(TokenError) -> String {
        guard let secret else { throw .noSecret }
        let iat = now.seconds
        let exp = iat + ttl.components.seconds
        let header = #"{"alg":"\#(algorithm)","typ":"JWT"}"#
        var payload = #"{"user_id":"\#(Self.escape(userID))","sub":"\#(Self.escape(userID))","username":"\#(Self.escape(username))","#
        payload += #""display_name":"\#(Self.escape(username))","is_admin":\#(isAdmin),"type":"\#(Self.escape(type))","iat":\#(iat),"exp":\#(exp)}"#
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
        let data = Data(signingInput.utf8)
        let mac: [UInt8] = switch algorithm {
        case "HS384": Array(HMAC<SHA384>.authenticationCode(for: data, using: secret))
        case "HS512": Array(HMAC<SHA512>.authenticationCode(for: data, using: secret))
        case "HS256": Array(HMAC<SHA256>.authenticationCode(for: data, using: secret))
        default: throw .unsupportedAlgorithm(algorithm)
        }
        return signingInput + "." + Base64URL.encode(mac)
    }

    /// The text escaped for inside a JSON string literal.
    static func escape(_ text: String) -> String {
        String(JSONWriter.quoted(text).dropFirst().dropLast())
    }
}

struct Claims {
    var userID = "", sub = "", username = "", displayName = "", type = ""
    var isAdmin = false
    var exp: Double?
    var nbf: Double?

    static func decode(_ bytes: [UInt8]) throws(TokenError) -> Claims {
        do {
            return try JSONScanner.decode(bytes) { s in
                var c = Claims()
                try s.forEachMember { s, key in
                    if key == "user_id" { c.userID = try Self.stringOrNumber(&s) }
                    else if key == "sub" { c.sub = try Self.stringOrNumber(&s) }
                    else if key == "username" { c.username = try s.optionalString() ?? "" }
                    else if key == "display_name" { c.displayName = try s.optionalString() ?? "" }
                    else if key == "type" { c.type = try s.optionalString() ?? "" }
                    else if key == "is_admin" { c.isAdmin = try s.readNull() ? false : s.bool() }
                    else if key == "exp" { c.exp = try s.readNull() ? nil : s.double() }  // jwt-kit writes it fractional
                    else if key == "nbf" { c.nbf = try s.readNull() ? nil : s.double() }
                }
                return c
            }
        } catch { throw .malformed }
    }

    static func stringOrNumber(_ s: inout JSONScanner) throws -> String {
        if try s.readNull() { return "" }
        if try s.peek() == UInt8(ascii: "\"") { return try s.string() }
        return String(try s.int64())
    }
}

enum Base64URL {
    static func decode(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { [UInt8]($0) }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
