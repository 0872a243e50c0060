import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import NIOTLS

/// One HTTPS connection: TLS with the newest serving certificate, then HTTP/2 or HTTP/1.1 as
/// ALPN agrees. HTTP/1.1 keeps the WebSocket upgrade (hummingbird's own HTTP/2 upgrade
/// channel offers plain HTTP/1.1 only); browsers open WebSockets over HTTP/1.1 when the
/// server does not announce RFC 8441, so /ws works for them too.
struct SecureHTTPChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<HTTP1WebSocketUpgradeChannel.Value, HTTP2Channel.Value>>
        let channel: any Channel
    }

    let certificates: ServingCertificates
    let http1: HTTP1WebSocketUpgradeChannel
    let http2: HTTP2Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            // Read per connection: a reloaded certificate serves the next handshake.
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: certificates.context))
            if certificates.clientCA != nil { try channel.pipeline.syncOperations.addHandler(PeerCertificateHandler()) }
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return channel.configureHTTP2AsyncSecureUpgrade { channel in
            self.http1.setup(channel: channel, logger: logger)
        } http2ConnectionInitializer: { channel in
            self.http2.setup(channel: channel, logger: logger)
        }
        .map { Value(negotiated: $0, channel: channel) }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1_1(let connection):
                await http1.handle(value: connection, logger: logger)
            case .http2(let connection):
                await http2.handle(value: connection, logger: logger)
            }
        } catch {
            // A failed handshake (a client that does not trust the certificate, a port scan).
            logger.debug("tls connection failed", metadata: ["error": "\(error)"])
        }
    }
}

extension HTTPServerBuilder {
    /// HTTPS with HTTP/2, HTTP/1.1 and WebSocket upgrades over HTTP/1.1.
    static func secure<WSResponderBuilder: HTTPResponderBuilder & _HB_SendableMetatype>(
        certificates: ServingCertificates, webSocketRouter: WSResponderBuilder
    ) -> HTTPServerBuilder where WSResponderBuilder.Responder.Context: WebSocketRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return .init { responder in
            SecureHTTPChannel(
                certificates: certificates,
                http1: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: .init()),
                http2: HTTP2Channel(responder: responder))
        }
    }
}
