import AsyncHTTPClient
import Logging
import NIOCore
import Synchronization
import NIOHTTP1

/// What went wrong talking to the kubelet, with the URL it concerned.
public struct KubeletError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case transport, status, decode, timeout }
    public var kind: Kind
    public var url: String
    public var detail: String
    public var description: String { "kubelet \(url): \(detail)" }
}

/// The kubelet's read-only API: `/stats/summary` and `/pods`, over HTTPS with the
/// service account's bearer token.
public final class KubeletClient: Sendable {
    public let baseURL: String
    private let token: BearerToken
    private let client: HTTPClient
    private let timeout: Duration
    private let maxBodyBytes: Int
    private let bodySizes = BodySizes()
    private let lastPods = Mutex<(length: Int, digest: UInt64, pods: [Pod])?>(nil)
    /// `/pods` bodies decoded (the others were identical to the last one).
    let podsDecoded = Atomic<Int>(0)

    public init(baseURL: String, token: BearerToken, tls: ClientTLS, timeout: Duration = .seconds(10), maxBodyBytes: Int = 64 << 20) throws {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
        var configuration = HTTPClient.Configuration(tlsConfiguration: try tls.configuration())
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(Int64(timeout.components.seconds)))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func summary() async throws -> KubeletSummary {
        let body = try await get("/stats/summary")
        do { return try SummaryDecoder.decode(body) } catch {
            throw KubeletError(kind: .decode, url: baseURL + "/stats/summary", detail: "\(error)")
        }
    }

    /// The kubelet's pods. Its pod list changes only when a pod does (unlike the summary,
    /// rewritten at every housekeeping): a body identical to the last one (same length and
    /// 64-bit digest) is not decoded again.
    public func pods() async throws -> [Pod] {
        let body = try await get("/pods")
        let digest = Self.digest(body)
        if let cached = lastPods.withLock({ $0 }), cached.length == body.readableBytes, cached.digest == digest {
            return cached.pods
        }
        let pods: [Pod]
        do { pods = try Pod.decodeList(body).items } catch {
            throw KubeletError(kind: .decode, url: baseURL + "/pods", detail: "\(error)")
        }
        lastPods.withLock { $0 = (body.readableBytes, digest, pods) }
        podsDecoded.add(1, ordering: .relaxed)
        return pods
    }

    /// A fast 64-bit digest of a body (8 bytes per multiply); for change detection, not
    /// for adversarial input.
    static func digest(_ body: ByteBuffer) -> UInt64 {
        body.withUnsafeReadableBytes { bytes in
            var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
            var offset = 0
            while offset + 8 <= bytes.count {
                hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                hash ^= hash >> 32
                offset += 8
            }
            while offset < bytes.count {
                hash = (hash ^ UInt64(bytes[offset])) &* 0x0000_0100_0000_01B3
                offset += 1
            }
            return hash
        }
    }

    func get(_ path: String) async throws -> ByteBuffer {
        let url = baseURL + path
        var headers: HTTPHeaders = ["Accept": "application/json"]
        do {
            if let token = try token.current() { headers.add(name: "Authorization", value: "Bearer \(token)") }
        } catch {
            throw KubeletError(kind: .transport, url: url, detail: "cannot read the bearer token: \(error)")
        }
        let response: CollectedResponse
        do {
            response = try await client.collectGET(url: url, headers: headers, limit: maxBodyBytes, sizes: bodySizes, timeout: timeout)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw KubeletError(kind: .timeout, url: url, detail: "no answer within \(timeout)")
        } catch let error as BodyTooLarge {
            throw KubeletError(kind: .transport, url: url, detail: "reading the body: \(error)")
        } catch {
            throw KubeletError(kind: .transport, url: url, detail: "\(error)")
        }
        guard response.status == .ok else {
            let hint = response.status == .unauthorized || response.status == .forbidden
                ? " (check the service account's RBAC: nodes/stats and nodes/proxy get)" : ""
            throw KubeletError(kind: .status, url: url, detail: "HTTP \(response.status.code)\(hint): \(String(buffer: response.body).prefix(200))")
        }
        return response.body
    }

    public func shutdown() async throws {
        try await client.shutdown()
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max` (NIO's `TimeAmount` takes `Int64`).
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? Int64.max : product + attoseconds / 1_000_000_000
    }
}
