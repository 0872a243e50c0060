import API
import Foundation
import Logging
import Testing
import TestSupport

/// The serving certificate's files: a good pair loads, a bad pair says what is wrong, and a
/// reload keeps the last good pair until both files are new and belong together.
@Suite("Serving certificates")
struct ServingCertificatesTests {
    let directory: URL
    let certificate: String
    let key: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        certificate = directory.appendingPathComponent("tls.crt").path
        key = directory.appendingPathComponent("tls.key").path
        try TestCertificates.get().issue(commonName: "one", certificate: certificate, key: key)
    }

    @Test func badPairsAtStartSayWhatIsWrong() throws {
        let logger = Logger(label: "test")
        let other = directory.appendingPathComponent("other.key").path
        try FileManager.default.copyItem(atPath: key, toPath: other)
        try TestCertificates.get().issue(commonName: "two", certificate: directory.appendingPathComponent("two.crt").path, key: other)
        let mismatch = #expect(throws: ServingTLSError.self) { try ServingCertificates(certificatePath: certificate, keyPath: other, logger: logger) }
        #expect(mismatch?.description.contains("is the key the certificate's?") == true, "\(String(describing: mismatch))")
        let missing = #expect(throws: ServingTLSError.self) { try ServingCertificates(certificatePath: certificate + ".missing", keyPath: key, logger: logger) }
        #expect(missing?.description == "cannot read the TLS certificate \(certificate).missing")
        let notPEM = #expect(throws: ServingTLSError.self) { try ServingCertificates(certificatePath: key, keyPath: key, logger: logger) }
        #expect(notPEM?.description.contains("holds no certificate") == true || notPEM?.description.contains("is not a PEM certificate chain") == true)
        #expect(throws: ServingTLSError.self) { try ServingCertificates(certificatePath: certificate, keyPath: certificate, logger: logger) }
    }

    @Test func reloadKeepsTheLastGoodPair() throws {
        let served = try ServingCertificates(certificatePath: certificate, keyPath: key, logger: Logger(label: "test"))
        let first = served.context
        #expect(served.reload() == .unchanged)
        #expect(served.context === first)
        // Half a rotation: the key is new, the certificate not yet.
        let fresh = directory.appendingPathComponent("fresh")
        try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
        try TestCertificates.get().issue(commonName: "two", certificate: fresh.appendingPathComponent("tls.crt").path, key: fresh.appendingPathComponent("tls.key").path)
        try Data(contentsOf: fresh.appendingPathComponent("tls.key")).write(to: URL(fileURLWithPath: key))
        guard case .failed(let reason) = served.reload() else { Issue.record("a mismatched pair was taken"); return }
        #expect(reason.contains("is the key the certificate's?"))
        #expect(served.context === first)
        // The certificate follows: the new pair is taken.
        try Data(contentsOf: fresh.appendingPathComponent("tls.crt")).write(to: URL(fileURLWithPath: certificate))
        #expect(served.reload() == .reloaded)
        #expect(served.context !== first)
        #expect(served.reload() == .unchanged)
        // A file gone (a Secret's symlink swapped out under us) keeps the pair too.
        try FileManager.default.removeItem(atPath: certificate)
        #expect(served.reload() == .failed("cannot read the TLS certificate \(certificate)"))
    }
}
