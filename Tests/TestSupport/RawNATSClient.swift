import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The NATS client protocol spoken by hand over a TCP socket, for tests that must see the
/// server's exact answers (`-ERR 'Permissions Violation ...'`), which client libraries turn
/// into asynchronous callbacks. Blocking, loopback only, every read bounded by a timeout.
public final class RawNATSClient {
    private let socket: Int32
    private var buffer: [UInt8] = []

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Connects to 127.0.0.1:`port` and sends `CONNECT` with the credentials; the answer to
    /// the first `PING` (so `-ERR 'Authorization Violation'` shows in `errors`).
    public init(port: Int, user: String?, password: String?) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw Failure(description: "socket: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(socket); throw Failure(description: "connect to \(port): \(errno)") }
        guard try line().hasPrefix("INFO ") else { throw Failure(description: "no INFO from the server") }
        var options: [String: Any] = ["verbose": false, "pedantic": false, "protocol": 1, "lang": "test", "version": "1"]
        if let user { options["user"] = user }
        if let password { options["pass"] = password }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: options), as: UTF8.self)
        try send("CONNECT \(json)\r\n")
    }

    deinit { close(socket) }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "send: \(errno)") }
            sent += n
        }
    }

    /// The next protocol line, without its CRLF.
    func line() throws -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: buffer[..<end], as: UTF8.self).trimmingCharacters(in: .init(charactersIn: "\r"))
                buffer.removeSubrange(...end)
                return text
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw Failure(description: "connection closed or timed out (\(errno))") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Sends `commands` then `PING`, and reads up to the `PONG`: the server's `-ERR` lines and
    /// the messages (`MSG` subjects) that came in between. A closed connection ends it too.
    public func exchange(_ commands: String) throws -> (errors: [String], messages: [String]) {
        try send(commands + "PING\r\n")
        var errors: [String] = [], messages: [String] = []
        while true {
            let text: String
            do { text = try line() } catch { errors.append("closed"); return (errors, messages) }
            if text == "PONG" { return (errors, messages) }
            if text == "PING" { try send("PONG\r\n"); continue }
            if text.hasPrefix("-ERR") { errors.append(text); continue }
            if text.hasPrefix("MSG ") {
                let parts = text.split(separator: " ")
                messages.append(String(parts[1]))
                _ = try line()                   // the payload (tests send short one-line payloads)
            }
        }
    }

    /// `PUB subject` with a short payload.
    public func publish(_ subject: String, _ payload: String = "x") throws -> [String] {
        try exchange("PUB \(subject) \(payload.utf8.count)\r\n\(payload)\r\n").errors
    }

    public func subscribe(_ subject: String, id: Int = 1) throws -> [String] {
        try exchange("SUB \(subject) \(id)\r\n").errors
    }
}
