import Hummingbird
import NIOCore
import Synchronization

/// A kubelet's read-only API on real HTTPS: `/stats/summary` and `/pods` from fixture
/// files, bearer token checked, and switchable failures.
public final class FakeKubelet: Sendable {
    public enum Behaviour: Sendable, Equatable {
        case normal
        case truncatedSummary
        case garbageSummary
        case status(Int)
        /// Never answers (until the server stops).
        case hang
    }

    public let token: String
    private let summary: [UInt8]
    private let state: Mutex<(behaviour: Behaviour, requests: [String], pods: [UInt8])>

    public init(summaryFixture: String, podsFixture: String, token: String = "kubelet-test-token") throws {
        self.summary = try Fixtures.bytes(summaryFixture)
        state = Mutex((.normal, [], try Fixtures.bytes(podsFixture)))
        self.token = token
    }

    /// `/stats/summary` and `/pods` from bytes.
    public init(summary: [UInt8], pods: [UInt8], token: String = "kubelet-test-token") {
        self.summary = summary
        state = Mutex((.normal, [], pods))
        self.token = token
    }

    /// What `/pods` answers from now on.
    public func servePods(fixture: String) throws {
        let bytes = try Fixtures.bytes(fixture)
        state.withLock { $0.pods = bytes }
    }

    public var behaviour: Behaviour {
        get { state.withLock { $0.behaviour } }
        set { state.withLock { $0.behaviour = newValue } }
    }

    /// Paths requested so far, with the authorization each carried.
    public var requests: [String] { state.withLock { $0.requests } }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/stats/summary") { request, _ in try await self.respond(request, self.summary, isSummary: true) }
        router.get("/pods") { request, _ in try await self.respond(request, self.state.withLock { $0.pods }, isSummary: false) }
        return router
    }

    private func respond(_ request: Request, _ body: [UInt8], isSummary: Bool) async throws -> Response {
        let authorization = request.headers[.authorization] ?? ""
        let behaviour = state.withLock { state -> Behaviour in
            state.requests.append("\(request.uri.path) \(authorization.isEmpty ? "no-token" : "token")")
            return state.behaviour
        }
        guard authorization == "Bearer \(token)" else {
            return Self.json(.unauthorized, Array(#"{"kind":"Status","status":"Failure","message":"Unauthorized","code":401}"#.utf8))
        }
        switch behaviour {
        case .normal: return Self.goJSON(body)
        case .truncatedSummary where isSummary: return Self.json(.ok, Array(body.prefix(body.count / 2)))
        case .garbageSummary where isSummary: return Self.json(.ok, Array("<html><body>502 Bad Gateway</body></html>".utf8))
        case .status(let code): return Self.json(.init(code: code), Array(#"{"message":"failure"}"#.utf8))
        case .hang:
            try await Task.sleep(for: .seconds(3600))
            return Self.json(.ok, body)
        default: return Self.goJSON(body)
        }
    }

    /// As the kubelet's Go server answers a JSON document: without Content-Length, chunked,
    /// once the body outgrows net/http's 4 KiB response buffer.
    static func goJSON(_ bytes: [UInt8]) -> Response {
        guard bytes.count > 4096 else { return json(.ok, bytes) }
        let body = ResponseBody { writer in
            for start in stride(from: 0, to: bytes.count, by: 32 << 10) {
                try await writer.write(ByteBuffer(bytes: bytes[start..<min(start + (32 << 10), bytes.count)]))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// A network tracer's feed on a unix socket, in the format of REFERENCE.md §2.
public final class FakeTracer: Sendable {
    public enum Behaviour: Sendable, Equatable { case normal, nullList, status(Int), hang, garbage }

    public struct Row: Sendable {
        public var pid: Int
        public var type: Int  // 0 TCP, 1 UDP
        public var family: Int  // 0 IPv4, 1 IPv6
        public var netns: UInt64
        public var source: String
        public var dest: String
        public var sport: Int
        public var dport: Int
        public var direction: Int  // 1 incoming, 2 outgoing, 3 local
        public var sent: UInt64
        public var recv: UInt64
        public var retransmits: UInt64

        public init(pid: Int, type: Int = 0, family: Int = 0, netns: UInt64, source: String, dest: String, sport: Int, dport: Int,
                    direction: Int, sent: UInt64, recv: UInt64, retransmits: UInt64 = 0) {
            self.pid = pid; self.type = type; self.family = family; self.netns = netns; self.source = source; self.dest = dest
            self.sport = sport; self.dport = dport; self.direction = direction; self.sent = sent; self.recv = recv; self.retransmits = retransmits
        }

        var json: String {
            """
            {"pid":\(pid),"type":\(type),"family":\(family),"net_ns":\(netns),"source":"\(source)","dest":"\(dest)",\
            "sport":\(sport),"dport":\(dport),"direction":\(direction),"monotonic_sent_bytes":\(sent),"last_sent_bytes":0,\
            "monotonic_recv_bytes":\(recv),"last_recv_bytes":0,"monotonic_retransmits":\(retransmits),"last_retransmits":0,\
            "last_update_epoch":123456789000}
            """
        }
    }

    private let state = Mutex<(behaviour: Behaviour, rows: [Row], clientIDs: [String])>((.normal, [], []))

    public init(rows: [Row] = []) {
        state.withLock { $0.rows = rows }
    }

    public var behaviour: Behaviour {
        get { state.withLock { $0.behaviour } }
        set { state.withLock { $0.behaviour = newValue } }
    }

    public var rows: [Row] {
        get { state.withLock { $0.rows } }
        set { state.withLock { $0.rows = newValue } }
    }

    public var clientIDs: [String] { state.withLock { $0.clientIDs } }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/status") { _, _ in "ok" }
        router.get("/connections") { request, _ -> Response in
            let clientID = request.uri.queryParameters["client_id"].map(String.init) ?? ""
            let (behaviour, rows) = self.state.withLock { state in
                state.clientIDs.append(clientID)
                return (state.behaviour, state.rows)
            }
            guard !clientID.isEmpty else { return FakeKubelet.json(.badRequest, Array(#"{"error":"client_id required"}"#.utf8)) }
            switch behaviour {
            case .normal: return FakeKubelet.json(.ok, Array(#"{"connections":[\#(rows.map(\.json).joined(separator: ","))]}"#.utf8))
            case .nullList: return FakeKubelet.json(.ok, Array(#"{"connections":null}"#.utf8))
            case .status(let code): return FakeKubelet.json(.init(code: code), Array("internal error".utf8))
            case .garbage: return FakeKubelet.json(.ok, Array(#"{"connections":[{"pid":1,"source":"not-an-ip"}]}"#.utf8))
            case .hang:
                try await Task.sleep(for: .seconds(3600))
                return FakeKubelet.json(.ok, [])
            }
        }
        return router
    }
}
