import Foundation
import Testing
@testable import API
@testable import Kubernetes

private let secret = "a-secret-of-32-bytes-or-more-1234"
private let verifier = JWTVerifier(secret: secret)
private let now = UnixTime(seconds: 1_800_000_000)

private func token(header: String, payload: String, key: String = secret) -> String {
    let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
    let mac = HMACForTests.sha256(key: key, input)
    return input + "." + Base64URL.encode(mac)
}

import Crypto
enum HMACForTests {
    static func sha256(key: String, _ input: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(key.utf8))))
    }
}

@Suite("JWT verification")
struct JWTTests {
    @Test(arguments: ["HS256", "HS384", "HS512"])
    func acceptsHMACAlgorithms(algorithm: String) throws {
        let signed = try verifier.sign(userID: "u1", username: "ann", isAdmin: true, ttl: .seconds(3600), now: now, algorithm: algorithm)
        let principal = try verifier.verify(signed, now: now)
        #expect(principal == Principal(userID: "u1", username: "ann", displayName: "ann", isAdmin: true, type: ""))
    }

    @Test func rejectsNoneAndAsymmetricAlgorithms() {
        let payload = #"{"user_id":"u1","is_admin":true,"exp":1900000000}"#
        let none = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(payload.utf8)) + "."
        #expect(throws: TokenError.unsupportedAlgorithm("none")) { try verifier.verify(none, now: now) }
        // RS256 with the HMAC secret used as if it were a key: refused by algorithm, not by luck.
        #expect(throws: TokenError.unsupportedAlgorithm("RS256")) { try verifier.verify(token(header: #"{"alg":"RS256"}"#, payload: payload), now: now) }
    }

    @Test func rejectsBadSignatureExpiredAndWrongType() throws {
        let payload = #"{"user_id":"u1","exp":1900000000}"#
        #expect(throws: TokenError.badSignature) { try verifier.verify(token(header: #"{"alg":"HS256"}"#, payload: payload, key: "another-secret"), now: now) }
        #expect(throws: TokenError.expired) { try verifier.verify(token(header: #"{"alg":"HS256"}"#, payload: #"{"user_id":"u1","exp":1700000000}"#), now: now) }
        #expect(throws: TokenError.expired) { try verifier.verify(token(header: #"{"alg":"HS256"}"#, payload: #"{"user_id":"u1"}"#), now: now) }
        #expect(throws: TokenError.wrongType("2fa_challenge")) {
            try verifier.verify(token(header: #"{"alg":"HS256"}"#, payload: #"{"user_id":"u1","type":"2fa_challenge","exp":1900000000}"#), now: now)
        }
        #expect(throws: TokenError.malformed) { try verifier.verify("not.a.jwt", now: now) }
        #expect(throws: TokenError.noSecret) { try JWTVerifier(secret: nil).verify(token(header: #"{"alg":"HS256"}"#, payload: payload), now: now) }
    }

    @Test func apiTokensAreNeverAdminAndFractionalExpiryIsRead() throws {
        let principal = try verifier.verify(token(header: #"{"alg":"HS256","typ":"JWT"}"#,
                                                   payload: #"{"user_id":42,"is_admin":true,"type":"api_token","exp":1900000000.5}"#), now: now)
        #expect(principal.userID == "42")
        #expect(!principal.isAdmin)
    }
}

@Suite("Namespace ownership")
struct NamespaceAccessTests {
    let access = NamespaceAccess()
    let u1 = Principal(userID: "u1", username: "", displayName: "", isAdmin: false, type: "")
    let u1x = Principal(userID: "u1-x", username: "", displayName: "", isAdmin: false, type: "")
    let admin = Principal(userID: "root", username: "", displayName: "", isAdmin: true, type: "")

    @Test func prefixOwnershipIsExactWhenUserIDsPrefixEachOther() {
        let owners: Set<String> = ["u1", "u1-x"]
        #expect(access.canSee(u1, namespace: "compute-u1-web", labels: nil, knownOwners: owners))
        #expect(!access.canSee(u1, namespace: "compute-u1-x-web", labels: nil, knownOwners: owners))
        #expect(access.canSee(u1x, namespace: "compute-u1-x-web", labels: nil, knownOwners: owners))
        #expect(!access.canSee(u1x, namespace: "compute-u1-web", labels: nil, knownOwners: owners))
    }

    @Test func ownerLabelWinsOverTheName() {
        #expect(access.canSee(u1, namespace: "team-a", labels: ["clustermon.io/owner": "u1"], knownOwners: []))
        #expect(!access.canSee(u1, namespace: "compute-u1-web", labels: ["clustermon.io/owner": "u1-x"], knownOwners: []))
    }

    @Test func systemNamespacesAreAdminOnly() {
        for namespace in ["core", "kube-system", "kube-public", "default"] {
            #expect(!access.canSee(u1, namespace: namespace, labels: ["clustermon.io/owner": "u1"], knownOwners: []))
            #expect(access.canSee(admin, namespace: namespace, labels: nil, knownOwners: []))
        }
    }
}

@Suite("Label selectors")
struct LabelSelectorTests {
    @Test func equalityBasedSelectors() throws {
        let labels = ["app": "web", "tier": "front"]
        #expect(try LabelSelector(parsing: "app=web").matches(labels))
        #expect(try LabelSelector(parsing: "app==web,tier!=back").matches(labels))
        #expect(try !LabelSelector(parsing: "app=web,tier=back").matches(labels))
        #expect(try LabelSelector(parsing: "app,!gone").matches(labels))
        #expect(try !LabelSelector(parsing: "!app").matches(labels))
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: "app=web,") }
        // Set-based terms, commas inside their parentheses.
        #expect(try LabelSelector(parsing: "app in (web, api),tier notin (back)").matches(labels))
        #expect(try !LabelSelector(parsing: "app in (api,db)").matches(labels))
        #expect(try !LabelSelector(parsing: "gone in (x)").matches(labels), "in needs the label")
        #expect(try LabelSelector(parsing: "gone notin (x)").matches(labels), "notin admits its absence")
        #expect(try LabelSelector(parsing: "app in (web),app").requirements == [.isIn("app", ["web"]), .exists("app")])
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: "app within (web)") }
        #expect(throws: LabelSelector.ParseError.self) { try LabelSelector(parsing: "a b=c") }
    }
}
