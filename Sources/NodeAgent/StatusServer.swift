import Kubernetes
import Logging
import Messaging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The agent's own small HTTP server: `/healthz`, `/readyz` and `/metrics` for the kubelet's
/// probes and Prometheus, on NIO alone. The agent runs on every node, so it does not carry
/// the aggregator's web framework (and the Foundation it brings) for three plain answers.
public final class StatusServer: ServiceLifecycle.Service {
    /// A part of the process that may not be ready: nil when ready, else why not.
    public struct ReadinessCheck: Sendable {
        public var name: String
        public var notReadyReason: @Sendable () -> String?
        public init(name: String, notReadyReason: @escaping @Sendable () -> String?) {
            self.name = name
            self.notReadyReason = notReadyReason
        }
    }

    private let host: String
    private let port: Int
    private let responder: Responder
    private let logger: Logger
    private let group: any EventLoopGroup
    /// `http://host:port` once bound (port 0 picks a free port).
    public let listening = Observed<String?>(nil)

    /// - Parameters:
    ///   - metrics: the Prometheus text exposition, rendered for each scrape.
    public init(host: String, port: Int, readiness: [ReadinessCheck] = [], metrics: @escaping @Sendable () -> [UInt8],
                logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        responder = Responder(readiness: readiness, metrics: metrics)
        self.logger = logger
        self.group = group
    }

    public func run() async throws {
        let responder = self.responder
        // Open connections, closed with the listener (a scraper's keep-alive connection
        // would otherwise outlive the server).
        let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in _ = connections.withLock { $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(responder: responder))
                }
            }
            .bind(host: host, port: port)
            .get()
        let url = "http://\(ListenAddress(host: channel.localAddress?.ipAddress ?? host, port: channel.localAddress?.port ?? port))"
        logger.info("http listening", metadata: ["url": "\(url)"])
        listening.set(url)
        // Stops on graceful shutdown, and on cancellation (a service group cancels its other
        // services when one fails).
        let stop: @Sendable () -> Void = {
            channel.close(promise: nil)
            for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                stop()
            }
        } onCancel: {
            stop()
        }
    }

    /// What each request gets: status, content type and body.
    struct Responder: Sendable {
        let readiness: [ReadinessCheck]
        let metrics: @Sendable () -> [UInt8]

        func respond(method: HTTPMethod, uri: String) -> (HTTPResponseStatus, String, [UInt8]) {
            let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
            let text = "text/plain; charset=utf-8"
            let known = ["/healthz", "/readyz", "/metrics"]
            guard known.contains(path) else { return (.notFound, text, Array("not found: \(path)\n".utf8)) }
            guard method == .GET || method == .HEAD else { return (.methodNotAllowed, text, Array("\(method) not allowed on \(path)\n".utf8)) }
            switch path {
            case "/healthz":
                return (.ok, text, Array("ok".utf8))
            case "/readyz":
                let failures = readiness.compactMap { check in check.notReadyReason().map { "\(check.name): \($0)" } }
                return failures.isEmpty ? (.ok, text, Array("ok\n".utf8)) : (.serviceUnavailable, text, Array((failures.joined(separator: "\n") + "\n").utf8))
            default:
                return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics())
            }
        }
    }
}

private final class StatusHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: StatusServer.Responder
    private var request: HTTPRequestHead?

    init(responder: StatusServer.Responder) { self.responder = responder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break  // no endpoint reads a body
        case .end:
            guard let head = request else { return }
            request = nil
            let (status, contentType, body) = responder.respond(method: head.method, uri: head.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !head.isKeepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
