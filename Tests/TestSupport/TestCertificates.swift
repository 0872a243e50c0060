import Foundation

/// A throw-away CA and a server certificate for 127.0.0.1/localhost, made with openssl once
/// per test process: real TLS for the fake kubelet and API server.
public struct TestCertificates: Sendable {
    public let directory: URL
    public var caCertificate: String { directory.appendingPathComponent("ca.crt").path }
    public var serverCertificate: String { directory.appendingPathComponent("server.crt").path }
    public var serverKey: String { directory.appendingPathComponent("server.key").path }

    public static let shared: Result<TestCertificates, any Error> = Result { try make() }

    public static func get() throws -> TestCertificates { try shared.get() }

    /// A second, unrelated CA: a client trusting it must refuse the server.
    public static let otherCA: Result<String, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-other-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "other.key", "-out", "other.crt", "-subj", "/CN=other-ca", "-days", "2"], in: directory)
        return directory.appendingPathComponent("other.crt").path
    }

    /// A new serving certificate for 127.0.0.1/localhost with this common name, signed by
    /// the test CA, written to `certificate` and `key` (replacing them: a rotation).
    public func issue(commonName: String, certificate: String, key: String) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-issue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                          "-keyout", "new.key", "-out", "new.csr", "-subj", "/CN=\(commonName)"], in: work)
        try Self.openssl(["x509", "-req", "-in", "new.csr", "-CA", caCertificate, "-CAkey", directory.appendingPathComponent("ca.key").path,
                          "-CAcreateserial", "-CAserial", work.appendingPathComponent("ca.srl").path,
                          "-out", "new.crt", "-days", "2", "-extfile", directory.appendingPathComponent("san.ext").path], in: work)
        // Key first, certificate last: the reader sees a mismatched pair in between, as
        // with a real rotation, and must keep the old pair until both are new.
        try Data(contentsOf: work.appendingPathComponent("new.key")).write(to: URL(fileURLWithPath: key), options: .atomic)
        try Data(contentsOf: work.appendingPathComponent("new.crt")).write(to: URL(fileURLWithPath: certificate), options: .atomic)
    }

    static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(to: directory.appendingPathComponent("san.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=clustermon-test-ca", "-days", "2"], in: directory)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "server.crt", "-days", "2", "-extfile", "san.ext"], in: directory)
        return TestCertificates(directory: directory)
    }

    public static func openssl(_ arguments: [String], in directory: URL) throws {
        let result = try runCommand("openssl", arguments, directory: directory)
        guard result.status == 0 else {
            throw NATSServer.Failure.didNotStart("openssl \(arguments.joined(separator: " ")) failed (apt-get install openssl): \(result.stderr)")
        }
    }
}
