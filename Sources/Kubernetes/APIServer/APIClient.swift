import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// A failed API server request, with the path and what the server said.
public struct APIError: Error, CustomStringConvertible {
    public var path: String
    public var status: Int
    public var message: String
    public var description: String { status == 0 ? "\(path): \(message)" : "\(path): HTTP \(status): \(message)" }
    /// `410 Gone`: a continue token or resourceVersion too old; list again.
    public var isExpired: Bool { status == 410 }
}

/// The API server's read side: list pages and watch streams.
public final class APIClient: Sendable {
    public let config: APIServerConfig
    private let client: HTTPClient
    private let requestTimeout: Duration

    public init(config: APIServerConfig, requestTimeout: Duration = .seconds(60), watchIdleTimeout: Duration = .seconds(120)) throws {
        self.config = config
        self.requestTimeout = requestTimeout
        var configuration = HTTPClient.Configuration(tlsConfiguration: try config.tls.configuration())
        // A watch is bounded by the gap between chunks (bookmarks arrive about every minute),
        // not by one deadline for the whole stream.
        configuration.timeout = .init(connect: .seconds(10), read: .nanoseconds(watchIdleTimeout.nanosecondsClamped))
        // Every informer holds one watch open for minutes, plus its lists: the default of 8
        // HTTP/1.1 connections per host would leave the ninth kind waiting forever.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func shutdown() async throws { try await client.shutdown() }

    private func request(_ pathAndQuery: String) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: config.server + pathAndQuery)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "clustermon")
        do {
            if let token = try config.token.current() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        } catch {
            throw APIError(path: pathAndQuery, status: 0, message: "cannot read the bearer token: \(error)")
        }
        return request
    }

    /// Sends a GET; a transport failure is an `APIError` naming the path.
    private func send(_ pathAndQuery: String, deadline: Duration) async throws -> HTTPClientResponse {
        do {
            return try await client.execute(try request(pathAndQuery), timeout: .nanoseconds(deadline.nanosecondsClamped))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(path: pathAndQuery, status: 0, message: "\(error)")
        }
    }

    /// GET returning the whole body; non-2xx is an `APIError` carrying the server's message.
    public func get(_ pathAndQuery: String, maxBytes: Int = 512 << 20) async throws -> ByteBuffer {
        let response = try await send(pathAndQuery, deadline: requestTimeout)
        let body = try await response.body.collect(upTo: maxBytes)
        guard (200..<300).contains(response.status.code) else {
            throw APIError(path: pathAndQuery, status: Int(response.status.code), message: Self.statusMessage(body))
        }
        return body
    }

    /// POSTs a JSON body (a SubjectAccessReview) and returns the answer's body; non-2xx is an
    /// `APIError` carrying the server's message.
    public func post(_ path: String, json: [UInt8], maxBytes: Int = 1 << 20) async throws -> ByteBuffer {
        var request = try request(path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: json))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .nanoseconds(requestTimeout.nanosecondsClamped))
        } catch {
            throw APIError(path: path, status: 0, message: "\(error)")
        }
        let body = try await response.body.collect(upTo: maxBytes)
        guard (200..<300).contains(response.status.code) else {
            throw APIError(path: path, status: Int(response.status.code), message: Self.statusMessage(body))
        }
        return body
    }

    /// Opens a watch and returns its lines (one JSON event each) as they arrive.
    public func watchLines(_ pathAndQuery: String, deadline: Duration) async throws -> WatchLines {
        let response = try await send(pathAndQuery, deadline: deadline)
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw APIError(path: pathAndQuery, status: Int(response.status.code), message: Self.statusMessage(body))
        }
        return WatchLines(body: response.body)
    }

    /// The `message` of a `Status` body, else the start of the body.
    static func statusMessage(_ body: ByteBuffer) -> String {
        let message = try? JSONScanner.decode(body) { s -> String? in
            var message: String?
            try s.forEachMember { s, key in if key == "message" { message = try s.optionalString() } }
            return message
        }
        return (message ?? nil) ?? String(String(buffer: body).prefix(200))
    }
}

/// The lines of a watch stream. Chunks are not lines: bytes are buffered until a newline.
public struct WatchLines: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let body: HTTPClientResponse.Body

    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: HTTPClientResponse.Body.AsyncIterator
        var pending: [UInt8] = []
        var finished = false

        public mutating func next() async throws -> [UInt8]? {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                    return line
                }
                if finished {
                    guard !pending.isEmpty else { return nil }
                    defer { pending = [] }
                    return pending
                }
                if let chunk = try await chunks.next() {
                    pending.append(contentsOf: chunk.readableBytesView)
                } else {
                    finished = true
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: body.makeAsyncIterator()) }
}
