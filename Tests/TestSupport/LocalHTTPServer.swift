import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import Logging
import NIOSSL
import ServiceLifecycle

/// Where a local test server listens.
public enum LocalEndpoint: Sendable {
    case tcp(port: Int, tls: Bool)
    case unixSocket(path: String)

    public var baseURL: String {
        switch self {
        case .tcp(let port, let tls): "\(tls ? "https" : "http")://127.0.0.1:\(port)"
        case .unixSocket(let path): path
        }
    }
}

/// Runs `router` on a real socket (loopback TCP, optionally TLS with the test CA, or a unix
/// socket) for the duration of `body`, then stops it.
public func withLocalServer<T: Sendable>(
    _ router: Router<BasicRequestContext>,
    tls: Bool = false,
    unixSocket: String? = nil,
    _ body: @Sendable (LocalEndpoint) async throws -> T
) async throws -> T {
    let address: BindAddress = unixSocket.map { .unixDomainSocket(path: $0) } ?? .hostname("127.0.0.1", port: 0)
    let ready = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "test.local-server")
    logger.logLevel = .warning
    let configuration = ApplicationConfiguration(address: address, serverName: "clustermon-test")
    let onRunning: @Sendable (any Channel) async -> Void = { channel in
        ready.continuation.yield(channel.localAddress?.port ?? 0)
        ready.continuation.finish()
    }
    let server: HTTPServerBuilder
    if tls {
        let certificates = try TestCertificates.get()
        let tlsConfiguration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.serverCertificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.serverKey, format: .pem)))
        server = try .tls(.http1(), tlsConfiguration: tlsConfiguration)
    } else {
        server = .http1()
    }
    let app = Application(router: router, server: server, configuration: configuration, onServerRunning: onRunning, logger: logger)
    // Stopped by a graceful shutdown, not by cancelling its task: cancelled, a connection
    // accepted but not yet handed to the server was dropped unfinished, and NIO traps on that
    // ("Deinited NIOAsyncWriter without calling finish()", swift-nio #2637; it crashed a
    // whole test run once).
    let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await services.run()
            return nil
        }
        var port = 0
        for await bound in ready.stream { port = bound }
        let endpoint: LocalEndpoint = unixSocket.map { .unixSocket(path: $0) } ?? .tcp(port: port, tls: tls)
        func stop() async {
            await services.triggerGracefulShutdown()
            // A stream the test left open would hold the shutdown: cancelled after 5 s.
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return nil
            }
            _ = try? await group.next()
            group.cancelAll()
        }
        do {
            let result = try await body(endpoint)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}
