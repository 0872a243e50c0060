import Foundation
import Logging
import Metrics
import NIOHTTP2
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The API's serving certificate and key (`--tls-cert-file`, `--tls-private-key-file`),
/// re-read when the files change: cert-manager, or a kubelet updating a mounted Secret,
/// replaces them in place. Every new connection takes the newest good pair; connections
/// already open keep the one they shook hands with, so a rotation drops nothing.
public final class ServingCertificates: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// The requestheader CA: client certificates are asked for, and verified against it when
    /// presented (the front proxy's); nil: none are asked for. With `clientCAPath`, the CA
    /// in use is that file's newest good contents.
    public let clientCA: [NIOSSLCertificate]?
    /// The requestheader CA's file (`--requestheader-client-ca-file`), re-read with the pair:
    /// the API server's front-proxy CA rotates too.
    public let clientCAPath: String?
    private let state: Mutex<Loaded>
    /// A CA handed over at run time (the ConfigMap's, re-read by its watcher).
    private let pushedCA = Mutex<Data?>(nil)
    private let logger: Logger
    private let reloads = Counter(label: "clustermon_tls_certificate_reloads_total", dimensions: [("outcome", "reloaded")])
    private let failures = Counter(label: "clustermon_tls_certificate_reloads_total", dimensions: [("outcome", "failed")])
    private let notAfter = Gauge(label: "clustermon_tls_certificate_not_after_seconds")

    private struct Loaded: @unchecked Sendable {
        // NIOSSLContext is thread-safe once built (swift-nio-ssl documents it as Sendable).
        var context: NIOSSLContext
        var files: Data
        var clientCA: [NIOSSLCertificate]?
    }

    /// What a reload found.
    public enum Outcome: Equatable, Sendable {
        case unchanged, reloaded
        /// The files changed but do not make a usable pair (half-written, a key of another
        /// certificate): the previous pair stays in use.
        case failed(String)
    }

    /// Reads and checks both files; a bad pair at start is an error (the process stops with it).
    public init(certificatePath: String, keyPath: String, clientCA: [NIOSSLCertificate]? = nil, clientCAPath: String? = nil, logger: Logger) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
        self.logger = logger
        let files = try Self.read(certificatePath, keyPath, clientCAPath)
        let ca = try clientCAPath.map { try FrontProxyOptions.certificates(pem: Array(files.clientCA), source: $0) } ?? clientCA
        self.clientCA = clientCA ?? ca
        let (context, expiry) = try Self.context(files: (files.certificate, files.key), certificatePath: certificatePath, keyPath: keyPath, clientCA: ca)
        self.state = Mutex(Loaded(context: context, files: files.certificate + files.key + files.clientCA, clientCA: ca))
        notAfter.record(expiry)
    }

    /// The requestheader CA in use now.
    public var currentClientCA: [NIOSSLCertificate]? { state.withLock { $0.clientCA } }

    /// The context new connections use.
    public var context: NIOSSLContext { state.withLock { $0.context } }

    /// Re-reads the files; a changed, valid pair replaces the context.
    @discardableResult
    public func reload() -> Outcome {
        var files: (certificate: Data, key: Data, clientCA: Data)
        do {
            files = try Self.read(certificatePath, keyPath, clientCAPath)
        } catch {
            return failed("\(error)")
        }
        let pushed = pushedCA.withLock { $0 }
        if clientCAPath == nil, let pushed { files.clientCA = pushed }
        let joined = files.certificate + files.key + files.clientCA
        if state.withLock({ $0.files == joined }) { return .unchanged }
        do {
            let source = clientCAPath ?? "the extension-apiserver-authentication ConfigMap"
            let ca = try (clientCAPath != nil || pushed != nil ? FrontProxyOptions.certificates(pem: Array(files.clientCA), source: source) : clientCA)
            let (context, expiry) = try Self.context(files: (files.certificate, files.key), certificatePath: certificatePath, keyPath: keyPath, clientCA: ca)
            state.withLock { $0 = Loaded(context: context, files: joined, clientCA: ca) }
            notAfter.record(expiry)
            reloads.increment()
            logger.info("tls certificate reloaded", metadata: ["cert": "\(certificatePath)", "not_after": "\(Date(timeIntervalSince1970: TimeInterval(expiry)))"])
            return .reloaded
        } catch {
            return failed("\(error)")
        }
    }

    /// A new requestheader CA from elsewhere than a file (the ConfigMap's, as its watcher
    /// reads it): taken at once when it parses; otherwise the CA in use stays. Ignored while
    /// no CA was configured at start (client certificates are not asked for then) or when
    /// the CA comes from a file.
    @discardableResult
    public func setClientCA(pem: Data) -> Outcome {
        guard clientCA != nil, clientCAPath == nil else { return .unchanged }
        pushedCA.withLock { $0 = pem }
        return reload()
    }

    private func failed(_ reason: String) -> Outcome {
        failures.increment()
        logger.error("tls certificate reload failed; the previous certificate stays in use", metadata: ["cert": "\(certificatePath)", "error": "\(reason)"])
        return .failed(reason)
    }

    static func read(_ certificatePath: String, _ keyPath: String, _ clientCAPath: String?) throws -> (certificate: Data, key: Data, clientCA: Data) {
        func contents(_ path: String, _ what: String) throws -> Data {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ServingTLSError("cannot read the \(what) \(path)")
            }
            return data
        }
        return (try contents(certificatePath, "TLS certificate"), try contents(keyPath, "TLS private key"),
                try clientCAPath.map { try contents($0, "requestheader CA") } ?? Data())
    }

    /// A server context offering HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2 at least.
    static func context(files: (certificate: Data, key: Data), certificatePath: String, keyPath: String,
                        clientCA: [NIOSSLCertificate]?) throws -> (NIOSSLContext, Int) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(files.certificate))
        } catch {
            throw ServingTLSError("\(certificatePath) is not a PEM certificate chain: \(error)")
        }
        guard let leaf = chain.first else { throw ServingTLSError("\(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(files.key), format: .pem)
        } catch {
            throw ServingTLSError("\(keyPath) is not a PEM private key: \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = NIOHTTP2SupportedALPNProtocols
        if let clientCA {
            // Asked for, not required (JWT callers bring none); one presented must verify
            // against the requestheader CA, else the handshake fails.
            configuration.certificateVerification = .optionalVerification
            configuration.trustRoots = .certificates(clientCA)
        }
        do {
            // BoringSSL refuses a key that is not the leaf certificate's here.
            return (try NIOSSLContext(configuration: configuration), Int(leaf.notValidAfter))
        } catch {
            throw ServingTLSError("\(certificatePath) and \(keyPath) do not make a TLS context (is the key the certificate's?): \(error)")
        }
    }
}

public struct ServingTLSError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Re-reads the serving certificate every `interval` until shutdown.
public struct CertificateReloadService: Service {
    let certificates: ServingCertificates
    let interval: Duration

    public init(certificates: ServingCertificates, interval: Duration = .seconds(2)) {
        self.certificates = certificates
        self.interval = interval
    }

    public func run() async throws {
        await Self.every(interval) { certificates.reload() }
    }

    /// Runs `body` every `interval` (after the first wait) until cancellation or a graceful
    /// shutdown: the loop of the certificate reloads and of the ConfigMap's CA watch.
    public static func every(_ interval: Duration, _ body: () async -> Void) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            await body()
        }
    }
}
