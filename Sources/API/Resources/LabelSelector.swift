/// A label selector as Kubernetes writes one: equality-based (`a=b`, `a==b`, `a!=b`, `a`
/// exists, `!a` absent) and set-based (`a in (x,y)`, `a notin (x)`: what a Deployment's
/// `matchExpressions` become in the HorizontalPodAutoscaler's selector), comma-separated,
/// all of which must hold.
public struct LabelSelector: Sendable, Equatable {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String), notEquals(String, String), exists(String), absent(String)
        case isIn(String, Set<String>), notIn(String, Set<String>)
    }

    public var requirements: [Requirement]

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(parsing text: String) throws {
        requirements = []
        for raw in Self.terms(text) {
            let term = raw.trimmingCharacters(in: .whitespaces)
            guard !term.isEmpty else { throw ParseError(description: "empty term in label selector \"\(text)\"") }
            if let open = term.firstIndex(of: "("), term.hasSuffix(")") {
                let head = term[..<open].split(separator: " ", omittingEmptySubsequences: true)
                guard head.count == 2, head[1] == "in" || head[1] == "notin" else {
                    throw ParseError(description: "expected \"key in (values)\" or \"key notin (values)\", got \"\(term)\"")
                }
                let key = try Self.key(head[0])
                let values = Set(term[term.index(after: open)..<term.index(before: term.endIndex)]
                    .split(separator: ",", omittingEmptySubsequences: false).map { Self.value($0) })
                requirements.append(head[1] == "in" ? .isIn(key, values) : .notIn(key, values))
            } else if let range = term.range(of: "!=") {
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

    /// The selector's terms: split at commas outside parentheses.
    static func terms(_ text: String) -> [Substring] {
        var terms: [Substring] = []
        var start = text.startIndex, depth = 0
        for index in text.indices {
            switch text[index] {
            case "(": depth += 1
            case ")": depth = max(0, depth - 1)
            case "," where depth == 0:
                terms.append(text[start..<index])
                start = text.index(after: index)
            default: break
            }
        }
        terms.append(text[start...])
        return terms
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
            case .isIn(let k, let values): labels[k].map(values.contains) ?? false
            case .notIn(let k, let values): !(labels[k].map(values.contains) ?? false)
            }
        }
    }
}
