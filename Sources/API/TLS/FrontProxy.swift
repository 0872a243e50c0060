import Aggregator
import Foundation
import HTTPTypes
import Hummingbird
import Kubernetes
import Logging
import Metrics
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization
import X509

/// Authentication as a Kubernetes aggregated API server (what metrics-server does): the API
/// server proxies `kubectl top` and the HorizontalPodAutoscaler's requests with its
/// front-proxy client certificate and names the user in request headers. A connection whose
/// client certificate the `--requestheader-client-ca-file` CA verified, with a common name
/// of `--requestheader-allowed-names` (any, when empty), is trusted to say who the user is:
/// `X-Remote-User` (else the certificate's own name), `X-Remote-Group`, `X-Remote-Extra-*`.
/// Whether that user may read what they ask is the API server's to say: a
/// SubjectAccessReview per user, verb and resource, cached briefly.
public struct FrontProxyOptions: Sendable {
    /// The CA that signs the front-proxy client certificates.
    public var clientCA: [NIOSSLCertificate]
    /// Common names allowed to act as the front proxy; empty: any the CA signed.
    public var allowedNames: [String]
    public var usernameHeaders: [String]
    public var groupHeaders: [String]
    public var extraHeaderPrefixes: [String]

    public init(clientCA: [NIOSSLCertificate], allowedNames: [String] = [], usernameHeaders: [String] = ["X-Remote-User"],
                groupHeaders: [String] = ["X-Remote-Group"], extraHeaderPrefixes: [String] = ["X-Remote-Extra-"]) {
        self.clientCA = clientCA
        self.allowedNames = allowedNames
        self.usernameHeaders = usernameHeaders
        self.groupHeaders = groupHeaders
        self.extraHeaderPrefixes = extraHeaderPrefixes
    }

    /// The CA from a PEM file (at start; a bad file stops the start with the reason).
    public static func certificates(pemFile path: String) throws -> [NIOSSLCertificate] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ServingTLSError("cannot read the requestheader CA \(path)") }
        return try certificates(pem: Array(data), source: path)
    }

    public static func certificates(pem: [UInt8], source: String) throws -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMBytes(pem) } catch {
            throw ServingTLSError("\(source) is not a PEM CA bundle: \(error)")
        }
        guard !certificates.isEmpty else { throw ServingTLSError("\(source) holds no certificate") }
        return certificates
    }
}

/// Who the front proxy says the caller is.
public struct DelegatedUser: Sendable, Equatable {
    public var name: String
    public var groups: [String]
    public var extra: [String: [String]]
}

/// The verified client certificate's common name of each open TLS connection, set when its
/// handshake completes and removed when it closes; requests look theirs up by connection.
final class PeerNames: Sendable {
    static let shared = PeerNames()
    private let names = Mutex<[ObjectIdentifier: String]>([:])

    func set(_ channel: any Channel, _ name: String) { names.withLock { $0[ObjectIdentifier(channel)] = name } }
    func remove(_ channel: any Channel) { names.withLock { $0[ObjectIdentifier(channel)] = nil } }
    /// The connection's verified name: an HTTP/1.1 request's channel is the connection, an
    /// HTTP/2 stream's parent is. (A connection's own parent is the listening socket.)
    func name(of channel: any Channel) -> String? {
        names.withLock { names in names[ObjectIdentifier(channel)] ?? channel.parent.flatMap { names[ObjectIdentifier($0)] } }
    }
    var count: Int { names.withLock { $0.count } }
}

/// After the TLS handler: records the client certificate BoringSSL verified against the
/// requestheader CA (a certificate it could not verify ended the handshake already).
final class PeerCertificateHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent,
           let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate,
           let name = Self.commonName(certificate) {
            PeerNames.shared.set(context.channel, name)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        PeerNames.shared.remove(context.channel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        PeerNames.shared.remove(context.channel)
    }

    /// The subject's (last) common name.
    static func commonName(_ certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        var name: String?
        for rdn in parsed.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                name = String(describing: attribute.value)
            }
        }
        return name
    }
}

/// What a request asks to do, as a SubjectAccessReview names it.
public enum AccessAttributes: Sendable, Hashable {
    case resource(group: String, version: String, resource: String, verb: String, namespace: String?, name: String?)
    case nonResource(path: String, verb: String)

    var description: String {
        switch self {
        case .resource(let group, _, let resource, let verb, let namespace, _):
            "\(verb) resource \"\(resource)\" in API group \"\(group)\"" + (namespace.map { " in the namespace \"\($0)\"" } ?? " at the cluster scope")
        case .nonResource(let path, let verb): "\(verb) path \"\(path)\""
        }
    }
}

/// The front proxy's users and the API server's decisions about them.
public final class FrontProxyAuth: Sendable {
    public let options: FrontProxyOptions
    /// The header names of `options`, parsed once.
    private let usernameFields: [HTTPField.Name], groupFields: [HTTPField.Name], extraPrefixes: [String]
    let review: @Sendable ([UInt8]) async throws -> ByteBuffer
    let allowTTL: Duration, denyTTL: Duration
    private let cache = Mutex<[String: (allowed: Bool, until: ContinuousClock.Instant)]>([:])
    private let logger: Logger
    private let outcomes: [String: Counter]

    /// `review` POSTs a SubjectAccessReview to the API server and returns its answer.
    public init(options: FrontProxyOptions, allowTTL: Duration = .seconds(10), denyTTL: Duration = .seconds(10), logger: Logger,
                review: @escaping @Sendable ([UInt8]) async throws -> ByteBuffer) {
        self.options = options
        usernameFields = options.usernameHeaders.compactMap { HTTPField.Name($0) }
        groupFields = options.groupHeaders.compactMap { HTTPField.Name($0) }
        extraPrefixes = options.extraHeaderPrefixes.map { $0.lowercased() }
        self.review = review
        self.allowTTL = allowTTL
        self.denyTTL = denyTTL
        self.logger = logger
        outcomes = Dictionary(uniqueKeysWithValues: ["allowed", "denied", "cached", "error"].map {
            ($0, Counter(label: "clustermon_api_subject_access_reviews_total", dimensions: [("outcome", $0)]))
        })
    }

    public convenience init(options: FrontProxyOptions, client: APIClient, logger: Logger) {
        self.init(options: options, logger: logger) { body in
            try await client.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json: body)
        }
    }

    /// The user a front-proxy connection speaks for; nil when the connection's certificate
    /// is not an allowed front proxy (the request is then authenticated as any other).
    func user(_ request: Request, peer: String) -> DelegatedUser? {
        guard options.allowedNames.isEmpty || options.allowedNames.contains(peer) else { return nil }
        var name = peer
        for field in usernameFields {
            if let value = request.headers[field], !value.isEmpty { name = value; break }
        }
        let groups = groupFields.flatMap { request.headers[values: $0] }
        var extra: [String: [String]] = [:]
        for field in request.headers {
            for prefix in extraPrefixes where field.name.canonicalName.hasPrefix(prefix) {
                let key = String(field.name.canonicalName.dropFirst(prefix.count)).removingPercentEncoding ?? ""
                if !key.isEmpty { extra[key, default: []].append(field.value) }
            }
        }
        return DelegatedUser(name: name, groups: groups, extra: extra)
    }

    /// Whether the API server lets `user` do it (a SubjectAccessReview; cached 10 s).
    func allowed(_ user: DelegatedUser, _ attributes: AccessAttributes) async throws -> Bool {
        let body = Self.reviewBody(user, attributes)
        let key = String(decoding: body, as: UTF8.self)
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[key] }), cached.until > now {
            outcomes["cached"]?.increment()
            return cached.allowed
        }
        let answer: ByteBuffer
        do {
            answer = try await review(body)
        } catch {
            outcomes["error"]?.increment()
            logger.error("subject access review failed", metadata: ["user": "\(user.name)", "error": "\(error)"])
            throw APIFailure(.serviceUnavailable, "the authorization check with the API server failed: \(error)")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView))) as? [String: Any]
        let allowed = ((object?["status"] as? [String: Any])?["allowed"] as? Bool) ?? false
        outcomes[allowed ? "allowed" : "denied"]?.increment()
        cache.withLock { cache in
            if cache.count > 10_000 { cache = cache.filter { $0.value.until > now } }
            cache[key] = (allowed, now + (allowed ? allowTTL : denyTTL))
        }
        return allowed
    }

    /// The review, in a stable order (it is also the cache key).
    static func reviewBody(_ user: DelegatedUser, _ attributes: AccessAttributes) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.field("apiVersion", "authorization.k8s.io/v1")
        w.field("kind", "SubjectAccessReview")
        w.key("spec"); w.beginObject()
        w.field("user", user.name)
        w.key("groups"); w.beginArray(); for group in user.groups { w.value(group) }; w.endArray()
        if !user.extra.isEmpty {
            w.key("extra"); w.beginObject()
            for key in user.extra.keys.sorted() {
                w.key(key); w.beginArray(); for value in user.extra[key]! { w.value(value) }; w.endArray()
            }
            w.endObject()
        }
        switch attributes {
        case .resource(let group, let version, let resource, let verb, let namespace, let name):
            w.key("resourceAttributes"); w.beginObject()
            w.field("group", group); w.field("version", version); w.field("resource", resource); w.field("verb", verb)
            if let namespace { w.field("namespace", namespace) }
            if let name { w.field("name", name) }
            w.endObject()
        case .nonResource(let path, let verb):
            w.key("nonResourceAttributes"); w.beginObject()
            w.field("path", path); w.field("verb", verb)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}
