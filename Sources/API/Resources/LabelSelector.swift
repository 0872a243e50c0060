/// An equality-based label selector: `a=b`, `a==b`, `a!=b`, `a` (exists), `!a` (absent),
/// comma-separated, all of which must hold.
public struct LabelSelector: Sendable, Equatable {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String), notEquals(String, String), exists(String), absent(String)
    }

    public var requirements: [Requirement]

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        requirements = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let term = raw.trimmingCharacters(in: .whitespaces)
            guard !term.isEmpty else { throw ParseError(description: "empty term in label selector \"\(text)\"") }
            if let range = term.range(of: "!=") {
                requirements.append(.notEquals(try Self.key(term[..<range.lowerBound]), Self.value(term[range.upperBound...])))
            } else if let range = term.range(of: "==") ?? term.range(of: "=") {
                requirements.append(.equals(try Self.key(term[..<range.lowerBound]), Self.value(term[range.upperBound...])))
            } else if term.hasPrefix("!") {
                requirements.append(.absent(try Self.key(term.dropFirst())))
            } else {
                requirements.append(.exists(try Self.key(Substring(term))))
            }
        }
    }

    private static func key(_ text: Substring) throws -> String {
        let key = text.trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
            throw ParseError(description: "invalid label key \"\(key)\"")
        }
        return key
    }

    private static func value(_ text: Substring) -> String { text.trimmingCharacters(in: .whitespaces) }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .exists(let k): labels[k] != nil
            case .absent(let k): labels[k] == nil
            }
        }
    }
}
