import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The request context of every route: Hummingbird's core plus the peer's address (the
/// heartbeat rate-limits per client).
public struct APIContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public let webSocket: WebSocketHandlerReference<APIContext>
    /// The common name of the client certificate this connection presented and the
    /// requestheader CA verified (HTTPS with `--requestheader-client-ca-file` only).
    public let frontProxyPeer: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        webSocket = .init()
        frontProxyPeer = PeerNames.shared.name(of: source.channel)
    }
}

/// An error answered as `{"error": message}` with its status.
public struct APIFailure: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public static let unauthorized = APIFailure(.unauthorized, "unauthorized")
    public static let forbidden = APIFailure(.forbidden, "forbidden")

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = #"{"error":"\#(JWTVerifier.escape(message))"}"#
        return Response(status: status, headers: fields, body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(string: body)))
    }
}
