/// NATS subject matching: tokens separated by `.`, `*` matches one token, `>` one or more
/// trailing tokens.
public struct SubjectPattern: Sendable, Hashable {
    public let pattern: String
    private let tokens: [Substring]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = pattern.split(separator: ".", omittingEmptySubsequences: false)
    }

    public func matches(_ subject: String) -> Bool {
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        for (index, token) in tokens.enumerated() {
            if token == ">" { return parts.count > index }
            guard index < parts.count else { return false }
            if token != "*" && token != parts[index] { return false }
        }
        return parts.count == tokens.count
    }

    /// A subject a client may publish to: non-empty tokens, no wildcards, no whitespace.
    public static func isValidPublishSubject(_ subject: String) -> Bool {
        guard !subject.isEmpty else { return false }
        return subject.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { token in
            !token.isEmpty && token != "*" && token != ">" && !token.contains(where: \.isWhitespace)
        }
    }
}
