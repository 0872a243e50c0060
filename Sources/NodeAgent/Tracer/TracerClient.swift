import AsyncHTTPClient
import Kubernetes
import NIOCore

/// What went wrong reading the tracer feed.
public struct TracerError: Error, CustomStringConvertible {
    public var socket: String
    public var detail: String
    public var description: String { "tracer \(socket): \(detail)" }
}

/// The network tracer's feed: HTTP/1.1 over a unix socket, `GET /connections?client_id=`.
public final class TracerClient: Sendable {
    public let socketPath: String
    public let clientID: String
    private let client: HTTPClient
    private let timeout: Duration
    private let bodySizes = BodySizes()

    public init(socketPath: String, clientID: String, timeout: Duration = .seconds(5)) {
        self.socketPath = socketPath
        self.clientID = clientID
        self.timeout = timeout
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(Int64(max(1, timeout.components.seconds))))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func connections() async throws -> [TracerConnection] {
        let body = try await get("/connections?client_id=\(clientID)", limit: 256 << 20)
        do { return try TracerConnection.decodeList(body) } catch {
            throw TracerError(socket: socketPath, detail: "malformed /connections: \(error)")
        }
    }

    /// True when the tracer answers `GET /status` with 200.
    public func isUp() async -> Bool {
        (try? await get("/status", limit: 1 << 20)) != nil
    }

    private func get(_ uri: String, limit: Int) async throws -> ByteBuffer {
        guard let url = Self.url(socketPath: socketPath, uri: uri) else {
            throw TracerError(socket: socketPath, detail: "socket path cannot form a URL")
        }
        let response: CollectedResponse
        do {
            response = try await client.collectGET(url: url, headers: [:], limit: limit, sizes: bodySizes, timeout: timeout)
        } catch {
            throw TracerError(socket: socketPath, detail: "\(error)")
        }
        guard response.status == .ok else {
            throw TracerError(socket: socketPath, detail: "HTTP \(response.status.code): \(String(buffer: response.body).prefix(200))")
        }
        return response.body
    }

    /// `http+unix://<percent-encoded socket path><uri>`.
    static func url(socketPath: String, uri: String) -> String? {
        socketPath.isEmpty ? nil : "http+unix://\(PercentEncoding.encode(socketPath))\(uri)"
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }
}
