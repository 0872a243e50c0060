import AsyncHTTPClient
import NIOCore
import NIOSSL

/// How a client trusts and authenticates to an HTTPS server (kubelet, API server).
public struct ClientTLS: Sendable {
    /// PEM bundle of the CA that signs the server certificate (file or in-line data);
    /// neither means the system trust store.
    public var caFile: String?
    public var caPEM: [UInt8]?
    /// Skip verification: for kubelets whose serving certificates lack IP SANs.
    public var insecureSkipVerify: Bool
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?

    public init(
        caFile: String? = nil, caPEM: [UInt8]? = nil, insecureSkipVerify: Bool = false,
        clientCertificateFile: String? = nil, clientKeyFile: String? = nil,
        clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil
    ) {
        self.caFile = caFile
        self.caPEM = caPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
    }

    /// The NIO TLS configuration; throws with the file's name when a PEM does not load.
    public func configuration() throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        // A closing connection waits this long for the server's close_notify (NIOSSL's
        // default is 5 s): a cancelled request to a server that hangs, at shutdown, ends
        // within a second.
        tls.shutdownTimeout = .seconds(1)
        if insecureSkipVerify {
            tls.certificateVerification = .none
        } else if let caPEM {
            tls.trustRoots = .certificates(try load("CA data") { try NIOSSLCertificate.fromPEMBytes(caPEM) })
        } else if let caFile {
            tls.trustRoots = .certificates(try load(caFile) { try NIOSSLCertificate.fromPEMBytes(FileBytes.read(caFile)) })
        }
        let certificate: [NIOSSLCertificate]? = try clientCertificatePEM.map { pem in try load("client certificate data") { try NIOSSLCertificate.fromPEMBytes(pem) } }
            ?? clientCertificateFile.map { file in try load(file) { try NIOSSLCertificate.fromPEMBytes(FileBytes.read(file)) } }
        let key: NIOSSLPrivateKey? = try clientKeyPEM.map { pem in try load("client key data") { try NIOSSLPrivateKey(bytes: pem, format: .pem) } }
            ?? clientKeyFile.map { file in try load(file) { try NIOSSLPrivateKey(bytes: FileBytes.read(file), format: .pem) } }
        if let certificate, let key {
            tls.certificateChain = certificate.map { .certificate($0) }
            tls.privateKey = .privateKey(key)
        }
        return tls
    }

    private func load<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw TLSLoadError(what: what, reason: "\(error)") }
    }
}

public struct TLSLoadError: Error, CustomStringConvertible {
    public var what: String
    public var reason: String
    public var description: String { "cannot load \(what): \(reason)" }
}

/// Where a bearer token comes from. A file is re-read on every request: projected
/// service-account tokens rotate under a running process.
public enum BearerToken: Sendable, Equatable {
    case none
    case value(String)
    case file(String)

    public func current() throws -> String? {
        switch self {
        case .none: return nil
        case .value(let token): return token
        case .file(let path):
            let token = String(decoding: try FileBytes.read(path, limit: 1 << 20), as: UTF8.self)
                .trimmingCharacters(in: .whitespaces)
            return token.isEmpty ? nil : token
        }
    }
}
