#if canImport(Glibc)
import Glibc
#endif

/// A command whose options may also come from environment variables.
public protocol EnvironmentConfigurable {
    static var environment: [EnvironmentBinding] { get }
}

/// The process's environment variables (without Foundation's `ProcessInfo`).
public enum ProcessEnvironment {
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        return result
    }
}

/// The version every binary reports.
public enum ClustermonVersion {
    public static let current = "0.1.0"
}

/// Options that a Kubernetes manifest sets through environment variables.
///
/// ArgumentParser reads only the command line, so each command lists which variable feeds
/// which flag; a variable counts only when the flag is not on the command line (the
/// command line wins), and the help text names the variable.
public struct EnvironmentBinding: Sendable, Equatable {
    public var variable: String
    public var flag: String
    public var isSwitch: Bool

    public init(_ variable: String, _ flag: String, isSwitch: Bool = false) {
        self.variable = variable
        self.flag = flag
        self.isSwitch = isSwitch
    }
}

public enum EnvironmentArguments {
    /// `arguments` with the values of set variables added for flags the command line lacks.
    public static func apply(_ bindings: [EnvironmentBinding], to arguments: [String], environment: [String: String]) -> [String] {
        let terminator = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let given = arguments[..<terminator]
        var added: [String] = []
        for binding in bindings {
            guard let value = environment[binding.variable], !value.isEmpty else { continue }
            let present = given.contains { arg in
                arg == "--\(binding.flag)" || arg == "-\(binding.flag)" || arg.hasPrefix("--\(binding.flag)=") || arg.hasPrefix("-\(binding.flag)=")
            }
            guard !present else { continue }
            if binding.isSwitch {
                if ["1", "true", "yes", "on"].contains(value.lowercased()) { added.append("--\(binding.flag)") }
            } else {
                added += ["--\(binding.flag)", value]
            }
        }
        var result = arguments
        result.insert(contentsOf: added, at: terminator)
        return result
    }
}
