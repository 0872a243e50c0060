import Foundation
import Yams

/// The test fixtures inside the repository (`Tests/Fixtures`, real samples whose sources
/// its README names), or `CLUSTERMON_FIXTURES` when set.
public enum Fixtures {
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public static var root: URL {
        if let override = ProcessInfo.processInfo.environment["CLUSTERMON_FIXTURES"] {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.appendingPathComponent("Tests/Fixtures")
    }

    public static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    public static func data(_ relativePath: String) throws -> Data { try Data(contentsOf: url(relativePath)) }

    public static func bytes(_ relativePath: String) throws -> [UInt8] { [UInt8](try data(relativePath)) }

    public static func files(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url(directory).path).sorted().map { "\(directory)/\($0)" }
    }

    /// The items of a `kind: List` YAML fixture (`kubectl get -o yaml`) as JSON strings,
    /// timestamps kept as strings.
    public static func listItems(_ relativePath: String) throws -> [String] {
        let text = try String(contentsOf: url(relativePath), encoding: .utf8)
        let resolver = Resolver.default.removing(.timestamp)
        guard let list = try Yams.load(yaml: text, resolver) as? [String: Any] else { return [] }
        return try (list["items"] as? [[String: Any]] ?? []).map { item in
            String(decoding: try JSONSerialization.data(withJSONObject: item), as: UTF8.self)
        }
    }
}
